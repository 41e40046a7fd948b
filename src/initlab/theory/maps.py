r"""Mean-field signal propagation: the variance and correlation maps, their fixed points, χ₁, depth scales.

The variance map lives in :mod:`~initlab.theory.qmap`, the correlation map in :mod:`~initlab.theory.cmap`;
this module puts them together (:func:`mean_field`, the critical line, the phase grid) and re-exports both.

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
from typing import Any, NamedTuple, Sequence

import numpy as np
from scipy.optimize import brentq

from ..activations import Activation
from .cmap import c_fixed_point, c_map, chi_c, correlation_expectation
from .qmap import (CRITICAL_TOL, ActivationLike, FixedPoint, GaussianMoments, as_activation, check_depth,
                   check_q, check_sigmas, chi1, fixed_point, gaussian_moments, linear_coefficient, q_map,
                   q_map_slope, q_sequence)

__all__ = [
    "ActivationLike", "as_activation", "check_q", "check_sigmas", "check_depth", "GaussianMoments", "gaussian_moments", "q_map", "q_map_slope",
    "q_sequence", "FixedPoint", "fixed_point", "chi1", "correlation_expectation", "c_map",
    "c_fixed_point", "chi_c", "depth_scales", "MeanField", "mean_field", "phase", "CRITICAL_TOL",
    "CriticalPoint", "critical_point", "critical_sigma_w2", "critical_line", "phase_grid",
]


def _xi(slope: float) -> float:
    """−1/ln(slope), ∞ at slope ≥ 1 (no exponential approach)."""
    return math.inf if slope >= 1.0 else (0.0 if slope <= 0.0 else -1.0 / math.log(slope))


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
    homogeneous = linear_coefficient(act) is not None
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
    if linear_coefficient(act) is not None:
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
