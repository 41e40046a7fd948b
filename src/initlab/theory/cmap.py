r"""The correlation map of mean-field signal propagation (overview: :mod:`initlab.theory.maps`).

:math:`c^{l} = (\sigma_w^2\,\mathbb E[\phi(u_1)\phi(u_2)] + \sigma_b^2)/q^*` with :math:`u_1=\sqrt{q^*}z_1`,
:math:`u_2=\sqrt{q^*}(c^{l-1}z_1+\sqrt{1-(c^{l-1})^2}z_2)`, its stable fixed point :math:`c^*` and its slope
:math:`\chi_{c^*}`, by nested piecewise Gauss quadrature.

>>> round(chi_c("tanh", 1.5, 0.05), 6)
0.938636
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np
from scipy.optimize import brentq

from .. import gaussian
from ..activations import Activation
from .qmap import Q_LIMIT, ActivationLike, as_activation, check_q, check_sigmas, solve_q_star

__all__ = ["correlation_expectation", "c_map", "c_fixed_point", "chi_c"]


# two-dimensional Gaussian integrals and the correlation map
_ORDER2 = 12  # Gauss–Legendre nodes per piece in the 2-D integrals
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
    q, c = max(check_q(q), Q_LIMIT), _check_c(c)  # q = 0: the limit q → 0⁺
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
    q = max(solve_q_star(act, sw, sb, q0) if q is None else check_q(q), Q_LIMIT)  # q* = 0: the limit q → 0⁺
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
    q = solve_q_star(act, sw, sb, q0) if q_star is None else check_q(q_star, "q_star")
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
    q = solve_q_star(act, sw, sb, q0) if q_star is None else check_q(q_star, "q_star")
    c = c_fixed_point(act, sw, sb, q_star=q) if c_star is None else _check_c(c_star)
    if c == 1.0:
        return sw * act.moments(q).deriv_second
    return sw * correlation_expectation(act, q, c, derivative=True)
