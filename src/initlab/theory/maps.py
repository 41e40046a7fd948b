r"""Mean-field signal propagation: the variance and correlation maps, their fixed points, χ₁, depth scales.

A fully connected layer :math:`h^l = W^l\phi(h^{l-1}) + b^l` with :math:`W_{ij}\sim\mathcal N(0,\sigma_w^2/N_{l-1})`,
:math:`b_i\sim\mathcal N(0,\sigma_b^2)`, in the wide limit (Poole et al. 2016, *Exponential expressivity in deep
neural networks through transient chaos*; Schoenholz et al. 2017, *Deep information propagation*):

* variance map :math:`q^l = \sigma_w^2\,\mathbb E[\phi(\sqrt{q^{l-1}}z)^2] + \sigma_b^2`, the first layer
  :math:`q^1 = \sigma_w^2 q^0 + \sigma_b^2` from the input's second moment :math:`q^0 = \|x\|^2/N_0`;
* its fixed point :math:`q^*` and :math:`\chi_1 = \sigma_w^2\,\mathbb E[\phi'(\sqrt{q^*}z)^2]`, the mean squared
  singular value of the layer Jacobian: ordered (:math:`\chi_1<1`, signals and gradients vanish), critical
  (:math:`\chi_1=1`), chaotic (:math:`\chi_1>1`, nearby inputs decorrelate, gradients explode);
* correlation map :math:`c^{l} = (\sigma_w^2\,\mathbb E[\phi(u_1)\phi(u_2)] + \sigma_b^2)/q^*` with
  :math:`u_1=\sqrt{q^*}z_1`, :math:`u_2=\sqrt{q^*}(c^{l-1}z_1+\sqrt{1-(c^{l-1})^2}z_2)`, its stable fixed point
  :math:`c^*`, and :math:`\chi_{c^*} = \sigma_w^2\,\mathbb E[\phi'(u_1)\phi'(u_2)]` at :math:`c^*` (= χ₁ when c* = 1);
* depth scales :math:`\xi_c = -1/\ln\chi_{c^*}` and :math:`\xi_q = -1/\ln(\sigma_w^2\,\mathbb E[z\phi\phi'(\sqrt{q^*}z)]/\sqrt{q^*})`
  (the slope of the q-map at q*); networks deeper than about :math:`6\xi_c` do not train (Schoenholz et al.);
* :math:`\xi_\nabla = -1/\ln\chi_1`: the depth over which gradient norms (and, at q* = 0, the signal) shrink by e.

At q* = 0 (σ_b² = 0, ordered) every moment is its limit q → 0⁺: χ₁ = σ_w² φ'(0)² for a smooth φ, and
σ_w² E[φ'(z)²] (σ_w²/2 for ReLU) for a positively homogeneous φ (ReLU family, identity), whose moments are
scale-free. With σ_b² = 0 such a φ has no correlation fixed point at a finite q* > 0: its normalized c-map (the
arc-cosine kernel map for ReLU) does not depend on q or σ_w² and has slope exactly 1 at c = 1, so c → 1 only
polynomially and ξ_c = ∞. There 6ξ_c does not bound the trainable depth; the geometric shrinking or growth of q
and of the gradients by χ₁ per layer does (ξ_∇, :class:`MeanField`'s ``bounds_depth`` and ``note``).

Everything is float64 NumPy/SciPy on the activations' analytic facts (:mod:`initlab.gaussian` quadrature);
nothing here builds torch models. An activation may be a registered name, an
:class:`~initlab.activations.Activation`, an activation module or any elementwise callable.

Note: torch's tanh gain 5/3 (σ_w² = 25/9 at σ_b = 0) is *not* critical: χ₁ ≈ 1.21, slightly chaotic; the
critical point at σ_b = 0 is σ_w² = 1.

>>> round(chi1("relu", 2.0, 0.0), 12)
1.0
>>> mf = mean_field("tanh", 1.5, 0.05)
>>> round(mf.q_star, 6), round(mf.chi1, 6), mf.phase
(0.418037, 0.938636, 'ordered')
>>> round(critical_sigma_w2("tanh", 0.05), 6)
1.760955
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Callable, NamedTuple, Sequence, Union

import numpy as np
from scipy.optimize import brentq

from .. import activations, gaussian, validate
from ..activations import Activation, Moments

__all__ = [
    "ActivationLike", "as_activation", "check_q", "check_sigmas", "check_depth", "GaussianMoments", "gaussian_moments", "q_map", "q_map_slope",
    "q_sequence", "FixedPoint", "fixed_point", "chi1", "correlation_expectation", "c_map",
    "c_fixed_point", "chi_c", "depth_scales", "MeanField", "mean_field", "phase", "CRITICAL_TOL",
    "CriticalPoint", "critical_point", "critical_sigma_w2", "critical_line", "phase_grid",
]

ActivationLike = Union[str, Activation, Callable]
CRITICAL_TOL = 1e-3  # |χ₁ − 1| below this is called critical
_Q_MAX = 1e12        # q above this: no finite fixed point (q grows without bound)
_Q_MIN = 1e-14       # q below this counts as the fixed point q* = 0
_Q_LIMIT = 1e-24     # two-point expectations at q → 0⁺ are evaluated here (exact for homogeneous φ)
_ORDER2 = 12         # Gauss–Legendre nodes per piece in the 2-D integrals


# --------------------------------------------------------------------------------------------------
# input checks
def as_activation(activation: ActivationLike) -> Activation:
    """An :class:`Activation` from a registered name, an Activation, an activation module or a callable."""
    if isinstance(activation, (str, Activation)):
        return activations.get(activation)
    if hasattr(activation, "parameters") and hasattr(activation, "forward"):  # an nn.Module
        act = activations.from_module(activation)  # type: ignore[arg-type]
        if act is None:
            raise ValueError(f"activation module {type(activation).__name__} is not an activation initlab knows; "
                             f"pass a name (one of {activations.names()}) or a callable")
        return act
    if callable(activation):
        return activations.from_callable(activation)
    raise ValueError(f"activation must be a name (one of {activations.names()}), an Activation or a callable, "
                     f"got {activation!r}")


def check_sigmas(sigma_w2: float, sigma_b2: float) -> tuple[float, float]:
    """(σ_w², σ_b²) as floats; a ``ValueError`` naming the parameter unless σ_w² > 0 and σ_b² ≥ 0 are finite."""
    sw = validate.check("sigma_w2", sigma_w2, validate.is_number(sigma_w2) and sigma_w2 > 0,
                        "a finite weight variance > 0")
    sb = validate.check("sigma_b2", sigma_b2, validate.is_number(sigma_b2) and sigma_b2 >= 0,
                        "a finite bias variance >= 0")
    return float(sw), float(sb)


def check_q(q: float, name: str = "q") -> float:
    """``q`` as a float; a ``ValueError`` naming ``name`` unless it is a finite second moment ≥ 0."""
    return float(validate.check(name, q, validate.is_number(q) and q >= 0, "a finite second moment >= 0"))


def check_depth(depth: int) -> int:
    """``depth`` as an int; a ``ValueError`` unless it is an integer ≥ 1 (2.0 counts as 2)."""
    ok = validate.is_number(depth) and int(depth) == depth and depth >= 1
    return int(validate.check("depth", depth, ok, "an integer >= 1"))


# --------------------------------------------------------------------------------------------------
# one-dimensional Gaussian moments: Activation.moments is their one home
GaussianMoments = Moments  # E[φ], E[φ²], E[φ'²], E[zφφ'] (the name this module has always exported)


def gaussian_moments(activation: ActivationLike, q: float, mean: float = 0.0) -> Moments:
    r"""E[φ(x)], E[φ(x)²], E[φ'(x)²] and :math:`\mathbb E[z\phi(x)\phi'(x)]` for :math:`x=\mu+\sqrt q z`, z ~ N(0,1)
    (:meth:`initlab.activations.Activation.moments`; q = 0: the limit q → 0⁺).

    Piecewise Gauss–Legendre quadrature (:func:`initlab.gaussian.nodes`), ~1e-12 relative; a ``ValueError``
    when a moment diverges.

    >>> m = gaussian_moments("relu", 2.0)
    >>> round(m.second, 12), round(m.deriv_second, 12), round(m.z_phi_dphi, 12)   # q/2, 1/2, √q/2
    (1.0, 0.5, 0.707106781187)
    """
    return as_activation(activation).moments(check_q(q), mean)


def q_map(q: float, activation: ActivationLike, sigma_w2: float, sigma_b2: float) -> float:
    r"""One step of the variance map :math:`q \mapsto \sigma_w^2\,\mathbb E[\phi(\sqrt q z)^2] + \sigma_b^2`.

    >>> round(q_map(1.0, "relu", 2.0, 0.0), 12)
    1.0
    """
    sw, sb = check_sigmas(sigma_w2, sigma_b2)
    return sw * as_activation(activation).moments(check_q(q)).second + sb


def q_map_slope(q: float, activation: ActivationLike, sigma_w2: float) -> float:
    r""":math:`dq^{l}/dq^{l-1} = \sigma_w^2\,\mathbb E[z\,\phi(\sqrt q z)\phi'(\sqrt q z)]/\sqrt q` (at q → 0: σ_w² (φ'(0)² + φφ''(0))).

    >>> round(q_map_slope(3.0, "relu", 2.0), 12)      # the ReLU q-map is linear, slope σ_w²/2
    1.0
    """
    sw, _ = check_sigmas(sigma_w2, 0.0)
    q = max(check_q(q), 1e-12)
    return sw * as_activation(activation).moments(q).z_phi_dphi / math.sqrt(q)


def q_sequence(activation: ActivationLike, sigma_w2: float, sigma_b2: float, depth: int,
               q0: float = 1.0) -> np.ndarray:
    r"""Pre-activation variances :math:`q^1..q^L` of a deep network, :math:`q^1 = \sigma_w^2 q^0 + \sigma_b^2`.

    >>> q_sequence("relu", 1.0, 0.0, 4).round(6).tolist()   # Xavier ReLU: the variance halves per layer
    [1.0, 0.5, 0.25, 0.125]
    """
    act = as_activation(activation)
    sw, sb = check_sigmas(sigma_w2, sigma_b2)
    depth, q = check_depth(depth), sw * check_q(q0, "q0") + sb
    out = [q]
    for _ in range(depth - 1):
        q = sw * act.moments(q).second + sb
        out.append(q)
    return np.array(out)


# --------------------------------------------------------------------------------------------------
# the fixed point q*
@dataclass(frozen=True)
class FixedPoint:
    """The fixed point q* of the variance map reached from ``q0`` (``converged=False``: none is finite)."""

    q_star: float
    converged: bool
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _linear_coefficient(act: Activation) -> float | None:
    """a when E[φ(√q z)²] = a·q for all q (positively homogeneous φ: ReLU family, identity), else None."""
    r = [act.moments(q).second / q for q in (1e-3, 1.0, 1e3)]
    return r[1] if max(abs(v - r[1]) for v in r) <= 1e-10 * abs(r[1]) else None


def fixed_point(activation: ActivationLike, sigma_w2: float, sigma_b2: float, q0: float = 1.0) -> FixedPoint:
    r"""The fixed point :math:`q^* = \sigma_w^2\,\mathbb E[\phi(\sqrt{q^*}z)^2] + \sigma_b^2` that iterating the map
    from ``q0`` approaches (the nearest root of :math:`Q(q)-q` in the direction the map moves, by brentq).

    Returns ``converged=False`` with ``q_star=inf`` and a message when q grows without bound (ReLU with
    σ_w² > 2, or σ_w² = 2 and σ_b² > 0). For a positively homogeneous φ (ReLU family) the map is linear,
    :math:`Q(q)=aq+\sigma_b^2`, and is solved exactly; at a = 1, σ_b = 0 every q is fixed and q* = q0.

    >>> round(fixed_point("relu", 1.0, 0.5).q_star, 12)         # σ_b²/(1 − σ_w²/2)
    1.0
    >>> fp = fixed_point("relu", 2.5, 0.0)
    >>> fp.converged, fp.q_star
    (False, inf)
    """
    act = as_activation(activation)
    sw, sb = check_sigmas(sigma_w2, sigma_b2)
    q0 = check_q(q0, "q0")
    a = _linear_coefficient(act)
    if a is not None:
        a *= sw
        if abs(a - 1) <= 1e-10 and sb == 0:
            return FixedPoint(q0, True, "every q is a fixed point (marginal); q* = q0")
        if a < 1 - 1e-10:
            return FixedPoint(sb / (1 - a), True)
        return FixedPoint(math.inf, False, f"no finite fixed point: q grows without bound for {act.name} at "
                                           f"sigma_w2={sw!r}, sigma_b2={sb!r} (sigma_w2·E[phi(z)^2]/q = {a:.6g} >= 1)")

    def g(q: float) -> float:
        return sw * act.moments(q).second + sb - q

    q = max(q0, _Q_MIN)
    gq = g(q)
    if gq == 0:
        return FixedPoint(q, True)
    if gq > 0:  # the map increases q: the first root above
        lo, hi = q, 2 * q
        while g(hi) > 0:
            lo, hi = hi, 2 * hi
            if hi > _Q_MAX:
                return FixedPoint(math.inf, False, f"no finite fixed point below q={_Q_MAX:g}: q grows without "
                                                   f"bound for {act.name} at sigma_w2={sw!r}, sigma_b2={sb!r}")
    else:  # the map decreases q: the first root below (or 0)
        hi, lo = q, q / 2
        while g(lo) < 0:
            hi, lo = lo, lo / 2
            if lo < _Q_MIN:
                q_zero = sw * act.moments(0.0).second + sb  # Q(0)
                if q_zero <= _Q_MIN:
                    return FixedPoint(0.0, True, "q* = 0: the signal dies out")
                return FixedPoint(float(brentq(lambda x: sw * act.moments(x).second + sb - x, 0.0, hi,
                                               xtol=1e-300, rtol=1e-15, maxiter=500)), True)
    root, info = brentq(g, lo, hi, xtol=1e-300, rtol=4 * np.finfo(float).eps, maxiter=500, full_output=True)
    if not info.converged:  # pragma: no cover - brentq on a sign change always converges
        return FixedPoint(math.nan, False, f"brentq did not converge: {info.flag}")
    return FixedPoint(float(root), True)


def _q_star(act: Activation, sw: float, sb: float, q0: float) -> float:
    fp = fixed_point(act, sw, sb, q0)
    if not fp.converged:
        raise ValueError(fp.message)
    return fp.q_star


def chi1(activation: ActivationLike, sigma_w2: float, sigma_b2: float, q_star: float | None = None,
         q0: float = 1.0) -> float:
    r""":math:`\chi_1 = \sigma_w^2\,\mathbb E[\phi'(\sqrt{q^*}z)^2]` (Poole et al. 2016, eq. 7), at the given or computed q*.

    A ``ValueError`` when q* is not finite (for the ReLU family χ₁ = σ_w² E[φ'(z)²] does not depend on q and
    is returned anyway).

    >>> round(chi1("tanh", 25 / 9, 0.0), 4)          # torch's gain 5/3: slightly chaotic
    1.2098
    """
    act = as_activation(activation)
    sw, sb = check_sigmas(sigma_w2, sigma_b2)
    if q_star is None:
        if _linear_coefficient(act) is not None:
            q_star = 1.0
        else:
            q_star = _q_star(act, sw, sb, q0)
    return sw * act.moments(check_q(q_star, "q_star")).deriv_second


# --------------------------------------------------------------------------------------------------
# two-dimensional Gaussian integrals and the correlation map
_FEATURES = np.concatenate([[0.0], 2.0 ** np.arange(-3, 5), -(2.0 ** np.arange(-3, 5))])


def _expect2(f1: np.ndarray | Callable, f2: Callable, act: Activation, q: float, c: float,
             order: int = _ORDER2) -> float:
    r""":math:`\mathbb E[f_1(u_1) f_2(u_2)]`, u₁ = √q z₁, u₂ = √q (c z₁ + √(1−c²) z₂), by nested piecewise quadrature.

    Outer: :func:`gaussian.nodes` in u₁. Inner: u₂ | u₁ ~ N(c u₁, q(1−c²)), Gauss–Legendre pieces split at
    k·s (s the conditional std, k = −12..12) and at the activation's kinks and scale points shifted by c·u₁,
    so that every piece is smooth.
    """
    if abs(c) >= 1.0:
        x1, w1 = gaussian.nodes(q, act.kinks, order=order)
        return float(w1 @ (f1(x1) * f2(math.copysign(1.0, c) * x1)))
    s = math.sqrt(q * (1.0 - c * c))
    outer = act.kinks
    if act.kinks and s < math.sqrt(q) and c != 0:
        # E[f2(u2) | u1] bends within a few s of c·u1 = kink: split the outer integral there too
        steps = s * np.array([-16.0, -8, -4, -2, -1, -0.5, 0, 0.5, 1, 2, 4, 8, 16])
        outer = tuple(np.concatenate([(k + steps) / c for k in act.kinks]).tolist()) + tuple(act.kinks)
    x1, w1 = gaussian.nodes(q, outer, order=order)  # (n,)
    half = gaussian.TAIL_SIGMAS * s
    feats = np.concatenate([_FEATURES, np.asarray(act.kinks, dtype=float)])
    base = np.broadcast_to(np.arange(-gaussian.TAIL_SIGMAS, gaussian.TAIL_SIGMAS + 1) * s, (len(x1), 25))
    shifted = np.clip(feats[None, :] - c * x1[:, None], -half, half)  # (n, m) features in y = u2 - c u1
    edges = np.sort(np.concatenate([base, shifted], axis=1), axis=1)  # (n, E)
    a, b = edges[:, :-1, None], edges[:, 1:, None]  # (n, P, 1)
    t, wt = np.polynomial.legendre.leggauss(order)
    y = 0.5 * (b - a) * t + 0.5 * (a + b)  # (n, P, order)
    w = 0.5 * (b - a) * wt * np.exp(-0.5 * (y / s) ** 2) / (s * math.sqrt(2 * math.pi))
    u2 = (c * x1[:, None, None] + y).reshape(len(x1), -1)  # (n, P·order)
    inner = np.sum(f2(u2) * w.reshape(len(x1), -1), axis=1)  # E[f2(u2) | u1], (n,)
    return float(w1 @ (f1(x1) * inner))


def _check_c(c: float) -> float:
    cc = float(c)
    if not (-1.0 <= cc <= 1.0):
        raise ValueError(f"c must be a correlation in [-1, 1], got {c!r}")
    return cc


def correlation_expectation(activation: ActivationLike, q: float, c: float, derivative: bool = False) -> float:
    r""":math:`\mathbb E[\phi(u_1)\phi(u_2)]` (or of φ' when ``derivative``), u₁ = √q z₁, u₂ = √q (c z₁ + √(1−c²) z₂).

    For ReLU it is the arc-cosine kernel (Cho & Saul 2009) :math:`\frac{q}{2\pi}(\sin\theta + (\pi-\theta)\cos\theta)`,
    θ = arccos c:

    >>> th = math.acos(0.3)
    >>> abs(correlation_expectation("relu", 2.0, 0.3) - 2 / (2 * math.pi) * (math.sin(th) + (math.pi - th) * 0.3)) < 1e-12
    True
    """
    act = as_activation(activation)
    q, c = max(check_q(q), _Q_LIMIT), _check_c(c)  # q = 0: the limit q → 0⁺
    if act.units:  # a layer of different units: the average over them
        return float(sum(w * correlation_expectation(u, q, c, derivative) for w, u in act.units))
    fn = (lambda x: act.numpy(x, derivative=derivative))
    return _expect2(fn, fn, act, q, c)


def c_map(c: float, activation: ActivationLike, sigma_w2: float, sigma_b2: float, q: float | None = None,
          q0: float = 1.0) -> float:
    r"""One step of the correlation map :math:`c \mapsto (\sigma_w^2\,\mathbb E[\phi(u_1)\phi(u_2)] + \sigma_b^2)/q^*`.

    ``q`` defaults to q*; for another q the denominator is :math:`\sigma_w^2\mathbb E[\phi(u_1)^2]+\sigma_b^2`
    (the next layer's variance), so c = 1 is always a fixed point. At q = 0 (q* = 0: σ_b² = 0 and a dying
    signal) the map is its limit q → 0⁺ (evaluated at q = 1e-24): for a positively homogeneous φ (ReLU family)
    the same map as at every q — at σ_b² = 0 the arc-cosine kernel map for ReLU, whatever σ_w².

    >>> c_map(1.0, "tanh", 1.5, 0.05)
    1.0
    """
    act = as_activation(activation)
    sw, sb = check_sigmas(sigma_w2, sigma_b2)
    q = max(_q_star(act, sw, sb, q0) if q is None else check_q(q), _Q_LIMIT)  # q* = 0: the limit q → 0⁺
    c = _check_c(c)
    num = sw * correlation_expectation(act, q, c) + sb
    den = sw * act.moments(q).second + sb
    if den <= 0:
        return 1.0  # both inputs map to the same constant
    return 1.0 if c == 1.0 else float(num / den)


def c_fixed_point(activation: ActivationLike, sigma_w2: float, sigma_b2: float, q_star: float | None = None,
                  q0: float = 1.0) -> float:
    r"""The stable fixed point c* of the correlation map reached from c = 0.

    c* = 1 when χ₁ ≤ 1 (ordered/critical; the map's slope at c = 1 is χ₁); otherwise the root of
    C(c) − c in [0, 1) (c* = 0 for an odd φ at σ_b = 0).

    >>> c_fixed_point("tanh", 1.5, 0.05)
    1.0
    >>> round(c_fixed_point("tanh", 25 / 9, 0.0), 12)
    0.0
    """
    act = as_activation(activation)
    sw, sb = check_sigmas(sigma_w2, sigma_b2)
    q = _q_star(act, sw, sb, q0) if q_star is None else check_q(q_star, "q_star")
    if sw * act.moments(q).deriv_second <= 1.0:
        return 1.0

    def g(c: float) -> float:
        return c_map(c, act, sw, sb, q=q) - c

    g0 = g(0.0)
    if abs(g0) <= 1e-13:
        return 0.0
    for delta in 0.5 ** np.arange(1, 40):  # a point just below 1 where the map pulls c down
        if g(1.0 - delta) < 0:
            return float(brentq(g, 0.0, 1.0 - delta, xtol=1e-14, rtol=1e-14, maxiter=200))
    return 1.0  # pragma: no cover - χ₁ > 1 by less than the quadrature error


def chi_c(activation: ActivationLike, sigma_w2: float, sigma_b2: float, c_star: float | None = None,
          q_star: float | None = None, q0: float = 1.0) -> float:
    r""":math:`\chi_{c^*} = \sigma_w^2\,\mathbb E[\phi'(u_1)\phi'(u_2)]` at c* (Schoenholz et al. 2017, eq. 5): the slope
    of the c-map at its fixed point; = χ₁ in the ordered phase (c* = 1).

    >>> round(chi_c("tanh", 1.5, 0.05), 6)
    0.938636
    """
    act = as_activation(activation)
    sw, sb = check_sigmas(sigma_w2, sigma_b2)
    q = _q_star(act, sw, sb, q0) if q_star is None else check_q(q_star, "q_star")
    c = c_fixed_point(act, sw, sb, q_star=q) if c_star is None else _check_c(c_star)
    if c == 1.0:
        return sw * act.moments(q).deriv_second
    return sw * correlation_expectation(act, q, c, derivative=True)


def _xi(slope: float) -> float:
    """−1/ln(slope), ∞ at slope ≥ 1 (no exponential approach)."""
    return math.inf if slope >= 1.0 else (0.0 if slope <= 0.0 else -1.0 / math.log(slope))


def depth_scales(activation: ActivationLike, sigma_w2: float, sigma_b2: float, q0: float = 1.0
                 ) -> tuple[float, float]:
    r"""(ξ_q, ξ_c): :math:`\xi_q = -1/\ln(dQ/dq|_{q^*})`, :math:`\xi_c = -1/\ln\chi_{c^*}` (Schoenholz et al. 2017).

    >>> xq, xc = depth_scales("tanh", 1.5, 0.05)
    >>> round(xq, 3), round(xc, 2)
    (1.683, 15.79)
    """
    mf = mean_field(activation, sigma_w2, sigma_b2, q0)
    if not mf.converged:
        raise ValueError(mf.message)
    return mf.xi_q, mf.xi_c


# --------------------------------------------------------------------------------------------------
# everything at one point
def phase(chi: float, tol: float = CRITICAL_TOL) -> str:
    """``"ordered"`` (χ₁ < 1), ``"critical"`` (|χ₁ − 1| < tol) or ``"chaotic"`` (χ₁ > 1)."""
    if abs(chi - 1.0) < tol:
        return "critical"
    return "ordered" if chi < 1.0 else "chaotic"


@dataclass(frozen=True)
class MeanField:
    r"""Mean-field facts at one (σ_w², σ_b²); ``converged=False`` (with ``message``) when q* is not finite.

    ``xi_grad`` :math:`\xi_\nabla = 1/|\ln\chi_1|`: the depth over which signals (at q* = 0) and gradient
    norms shrink (χ₁ < 1) or grow (χ₁ > 1) by e. ``bounds_depth`` says whether 6ξ_c bounds the trainable depth
    (Schoenholz et al. 2017): not where the correlation map has no fixed point at a finite q* > 0 — q* = 0, or a
    positively homogeneous φ (ReLU family, identity) at σ_b² = 0, whose normalized correlation map does not
    depend on q and has slope exactly 1 at c = 1 (c → 1 only polynomially, ξ_c = ∞). There ``xi_c`` is ∞,
    ``trainable_depth`` NaN, ``note`` says why, and ξ_∇ is the depth scale that limits training.
    """

    activation: str
    sigma_w2: float
    sigma_b2: float
    q_star: float
    chi1: float
    c_star: float
    chi_c: float
    xi_q: float
    xi_c: float
    phase: str
    converged: bool = True
    message: str = ""
    xi_grad: float = math.nan
    bounds_depth: bool = True
    note: str = ""

    @property
    def trainable_depth(self) -> float:
        """6 ξ_c: deeper networks do not train (Schoenholz et al. 2017); NaN where that does not apply
        (``bounds_depth`` False, see ``note``)."""
        return 6.0 * self.xi_c if self.bounds_depth else math.nan

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "trainable_depth": self.trainable_depth}


def _xi_grad(chi: float) -> float:
    """1/|ln χ₁| (∞ at χ₁ = 1, 0 at χ₁ = 0)."""
    if not math.isfinite(chi) or chi <= 0.0:
        return 0.0 if chi == 0.0 else math.nan
    return math.inf if chi == 1.0 else 1.0 / abs(math.log(chi))


def _no_c_fixed_point(act: Activation, sw: float, sb: float, q: float, ch1: float, homogeneous: bool,
                      xi_q: float, message: str) -> MeanField:
    """q* = 0, or homogeneous φ at σ_b² = 0: the normalized c-map has slope 1 at c = 1; 6ξ_c does not apply."""
    pulls = c_map(0.0, act, sw, sb, q=q) > 1e-9  # does the map move c up from 0 (ReLU-like) or keep it?
    why = (f"{act.name} is positively homogeneous and sigma_b2 = 0: the normalized correlation map does not "
           f"depend on q and has slope 1 at c = 1" if homogeneous else
           "q* = 0 (the signal dies out): the correlation map tends to one with slope 1 at c = 1")
    reach = "c -> 1 only polynomially" if pulls else "c keeps (nearly) its input value"
    xg = _xi_grad(ch1)
    note = (f"{why}, so {reach} (xi_c = inf) and 6 xi_c does not bound the trainable depth; signals and "
            f"gradient norms scale by chi1 = {ch1:.6g} per layer: xi_grad = -1/ln chi1 = {xg:.6g}")
    return MeanField(act.name, sw, sb, q, ch1, 1.0 if pulls else math.nan, 1.0, xi_q, math.inf, phase(ch1),
                     True, message, xg, False, note)


def mean_field(activation: ActivationLike, sigma_w2: float, sigma_b2: float, q0: float = 1.0) -> MeanField:
    r"""q*, χ₁, c*, χ_c*, ξ_q, ξ_c, ξ_∇ and the phase at (σ_w², σ_b²), see the module docstring.

    When q* is not finite (ReLU, σ_w² > 2) the result has ``converged=False``, q* = ∞ and the phase from
    χ₁ (which for the ReLU family does not depend on q). At q* = 0 χ₁ is its limit q → 0⁺ (σ_w² φ'(0)² for a
    smooth φ, σ_w²·E[φ'(z)²] for the ReLU family); there, and for the ReLU family at σ_b² = 0, the correlation
    map has no fixed point at a finite q* > 0 and 6ξ_c does not bound the depth (``bounds_depth``, ``note``).

    >>> mf = mean_field("tanh", 25 / 9, 0.0)
    >>> round(mf.q_star, 5), round(mf.chi1, 4), mf.phase
    (1.17848, 1.2098, 'chaotic')
    >>> mf = mean_field("relu", 1.44, 0.0)
    >>> mf.q_star, round(mf.chi1, 12), round(mf.xi_grad, 3), mf.xi_c, mf.bounds_depth
    (0.0, 0.72, 3.044, inf, False)
    """
    act = as_activation(activation)
    sw, sb = check_sigmas(sigma_w2, sigma_b2)
    fp = fixed_point(act, sw, sb, q0)
    homogeneous = _linear_coefficient(act) is not None
    if not fp.converged:
        ch = sw * act.moments(1.0).deriv_second if homogeneous else math.nan
        return MeanField(act.name, sw, sb, math.inf, ch, math.nan, math.nan, math.nan, math.nan,
                         phase(ch) if math.isfinite(ch) else "chaotic", False, fp.message, _xi_grad(ch), False,
                         "no finite q*: mean-field depth scales do not apply")
    q = fp.q_star
    ch1 = sw * act.moments(q).deriv_second
    xi_q = _xi(q_map_slope(q, act, sw))
    if q == 0.0 or (homogeneous and sb == 0.0):
        return _no_c_fixed_point(act, sw, sb, q, ch1, homogeneous, xi_q, fp.message)
    cs = c_fixed_point(act, sw, sb, q_star=q)
    chc = ch1 if cs == 1.0 else sw * correlation_expectation(act, q, cs, derivative=True)
    return MeanField(act.name, sw, sb, q, ch1, cs, chc, xi_q, _xi(chc), phase(ch1), True, fp.message,
                     _xi_grad(ch1))


# --------------------------------------------------------------------------------------------------
# the critical line χ₁ = 1
class CriticalPoint(NamedTuple):
    """A point of the critical line: σ_w² with χ₁ = 1 at σ_b², and the q* there (∞ when none is finite)."""

    sigma_w2: float
    sigma_b2: float
    q_star: float


def critical_point(activation: ActivationLike, sigma_b2: float) -> CriticalPoint:
    r"""σ_w² where χ₁ = 1 at the given σ_b², with q*: the coupled system
    :math:`q = \sigma_w^2\mathbb E[\phi(\sqrt q z)^2] + \sigma_b^2`, :math:`\sigma_w^2\mathbb E[\phi'(\sqrt q z)^2] = 1`,
    reduced to one equation in q, :math:`\mathbb E[\phi^2]/\mathbb E[\phi'^2] + \sigma_b^2 - q = 0`, solved by brentq.

    For the ReLU family χ₁ does not depend on q: σ_w² = 1/E[φ'(z)²] (2 for ReLU), with q* = ∞ when σ_b > 0 and
    q* = nan (every q is fixed) at σ_b = 0. A ``ValueError`` when no root is found.

    >>> cp = critical_point("tanh", 0.1)
    >>> round(cp.sigma_w2, 6), round(cp.q_star, 6)
    (1.986073, 0.805799)
    >>> critical_point("relu", 0.0).sigma_w2
    2.0
    """
    act = as_activation(activation)
    _, sb = check_sigmas(1.0, sigma_b2)
    if _linear_coefficient(act) is not None:
        sw = 1.0 / act.moments(1.0).deriv_second
        return CriticalPoint(sw, sb, math.nan if sb == 0 else math.inf)

    def h(q: float) -> float:
        m = act.moments(q)
        return m.second / m.deriv_second + sb - q

    if sb == 0 and act.moments(0.0).mean == 0.0:
        # φ(0) = 0: q* = 0 lies on the line, σ_w² = 1/φ'(0)² (tanh: 1)
        d0 = act.moments(0.0).deriv_second
        if d0 > 0:
            return CriticalPoint(1.0 / d0, 0.0, 0.0)
    grid = np.geomspace(1e-8, 1e8, 161)
    vals = [h(q) for q in grid]
    for i in range(len(grid) - 1):
        if vals[i] == 0.0:
            q = float(grid[i])
            break
        if vals[i] * vals[i + 1] < 0:
            q = float(brentq(h, grid[i], grid[i + 1], xtol=1e-300, rtol=4 * np.finfo(float).eps, maxiter=500))
            break
    else:
        raise ValueError(f"no critical point (chi1 = 1) found for activation {act.name!r} at sigma_b2={sb!r}")
    return CriticalPoint(1.0 / act.moments(q).deriv_second, sb, q)


def critical_sigma_w2(activation: ActivationLike, sigma_b2: float) -> float:
    """σ_w² on the critical line χ₁ = 1 at σ_b² (see :func:`critical_point`).

    >>> [round(critical_sigma_w2("tanh", b), 6) for b in (0.01, 0.3)]
    [1.424205, 2.505127]
    """
    return critical_point(activation, sigma_b2).sigma_w2


def critical_line(activation: ActivationLike, sigma_b2: Sequence[float] | np.ndarray) -> np.ndarray:
    """σ_w² on the critical line for each σ_b² (an array of the same shape).

    >>> critical_line("tanh", [0.0, 0.05]).round(6).tolist()
    [1.0, 1.760955]
    """
    sb = np.asarray(sigma_b2, dtype=float)
    act = as_activation(activation)
    return np.array([critical_sigma_w2(act, b) for b in sb.ravel()]).reshape(sb.shape)


def phase_grid(activation: ActivationLike, sigma_w2: Sequence[float] | np.ndarray,
               sigma_b2: Sequence[float] | np.ndarray, q0: float = 1.0) -> dict[str, np.ndarray]:
    """χ₁, ξ_c, ξ_∇ (``xi_grad``), q* and ``bounds_depth`` (whether 6ξ_c bounds the trainable depth, see
    :class:`MeanField`) on the grid σ_b² (rows) × σ_w² (columns): arrays of shape (len(sigma_b2), len(sigma_w2)).

    NaN where q* is not finite. The data behind :func:`initlab.theory.plot.phase_diagram`.

    >>> g = phase_grid("tanh", [0.5, 2.0], [0.0])
    >>> (g["chi1"] < 1).tolist()
    [[True, False]]
    """
    act = as_activation(activation)
    sw = np.asarray(sigma_w2, dtype=float)
    sb = np.asarray(sigma_b2, dtype=float)
    out = {k: np.full((len(sb), len(sw)), np.nan) for k in ("chi1", "xi_c", "q_star", "xi_grad")}
    out["bounds_depth"] = np.zeros((len(sb), len(sw)), dtype=bool)
    for i, b in enumerate(sb):
        for j, w in enumerate(sw):
            mf = mean_field(act, w, b, q0)
            out["chi1"][i, j], out["xi_grad"][i, j], out["bounds_depth"][i, j] = mf.chi1, mf.xi_grad, mf.bounds_depth
            if mf.converged:
                out["xi_c"][i, j], out["q_star"][i, j] = mf.xi_c, mf.q_star
    out["sigma_w2"], out["sigma_b2"] = sw, sb
    return out
