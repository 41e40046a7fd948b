r"""The variance map of mean-field signal propagation and its fixed point (overview: :mod:`initlab.theory.maps`).

:math:`q^l = \sigma_w^2\,\mathbb E[\phi(\sqrt{q^{l-1}}z)^2] + \sigma_b^2`, its fixed point :math:`q^*` and
:math:`\chi_1 = \sigma_w^2\,\mathbb E[\phi'(\sqrt{q^*}z)^2]`, plus the input checks the theory shares.

>>> round(q_map(1.0, "relu", 2.0, 0.0), 12)
1.0
>>> round(chi1("relu", 2.0, 0.0), 12)
1.0
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Callable, Union

import numpy as np
from scipy.optimize import brentq

from .. import activations, validate
from ..activations import Activation, Moments

__all__ = ["ActivationLike", "as_activation", "check_q", "check_sigmas", "check_depth", "GaussianMoments",
           "gaussian_moments", "q_map", "q_map_slope", "q_sequence", "FixedPoint", "fixed_point", "chi1",
           "linear_coefficient", "solve_q_star", "CRITICAL_TOL", "Q_LIMIT"]

ActivationLike = Union[str, Activation, Callable]
CRITICAL_TOL = 1e-3  # |χ₁ − 1| below this is called critical
_Q_MAX = 1e12        # q above this: no finite fixed point (q grows without bound)
_Q_MIN = 1e-14       # q below this counts as the fixed point q* = 0
Q_LIMIT = 1e-24     # two-point expectations at q → 0⁺ are evaluated here (exact for homogeneous φ)


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


def linear_coefficient(act: Activation) -> float | None:
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
    a = linear_coefficient(act)
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
        if linear_coefficient(act) is not None:
            q_star = 1.0
        else:
            q_star = solve_q_star(act, sw, sb, q0)
    return sw * act.moments(check_q(q_star, "q_star")).deriv_second


def solve_q_star(act: Activation, sw: float, sb: float, q0: float) -> float:
    """q* from ``q0`` (:func:`fixed_point`), or a ValueError with its message when none is finite."""
    fp = fixed_point(act, sw, sb, q0)
    if not fp.converged:
        raise ValueError(fp.message)
    return fp.q_star
