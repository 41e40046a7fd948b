r"""Gaussian expectations :math:`\mathbb{E}_{z\sim\mathcal N(0,1)}[f(\mu + \sqrt{q}\,z)]` by piecewise quadrature.

Pure numerics (NumPy, float64); nothing here imports torch.

Why piecewise: activations have kinks (ReLU at 0, ELU's second derivative at 0, softsign) and
features at scale ~1 while the Gaussian may be very narrow (q = 1e-4) or very wide (q = 1e3), and
centred anywhere (a pre-activation N(μ, q) with a constant bias μ).
Plain Gauss–Hermite converges slowly on non-smooth integrands (SELU's E[φ'²] is off by ~4e-3 with
256 nodes). We integrate in ``x = μ + √q z`` (the function's own coordinate) over ``μ ± L``,
``L = 12√q`` (the Gaussian weight beyond is < 1e-31), split at every declared kink, at ``μ + k√q``
for ``k = -12..12`` and at ``±2^k`` for ``k = -3..8`` (the activation's own scale); each piece uses
Gauss–Legendre with ``order`` nodes.
On each piece the integrand is smooth, so the rule converges geometrically.

>>> import numpy as np
>>> x, w = nodes(1.0)
>>> round(float(w @ np.maximum(x, 0) ** 2), 12)   # E[relu(z)^2] = 1/2
0.5
"""
from __future__ import annotations

from functools import lru_cache
from typing import Callable, Iterable

import numpy as np

__all__ = ["nodes", "expect", "integrate", "TAIL_SIGMAS"]

TAIL_SIGMAS = 12.0  # integrate over |x| <= 12 sqrt(q); the Gaussian mass beyond is 3.5e-33
_ORDER = 40


@lru_cache(maxsize=8)
def _legendre(order: int) -> tuple[np.ndarray, np.ndarray]:
    t, w = np.polynomial.legendre.leggauss(order)
    return t, w


def _breakpoints(q: float, kinks: Iterable[float], mean: float = 0.0) -> np.ndarray:
    s = np.sqrt(q)
    half = TAIL_SIGMAS * s
    scale = 2.0 ** np.arange(-3, 9)
    pts = np.concatenate([
        mean + np.arange(-TAIL_SIGMAS, TAIL_SIGMAS + 1) * s,
        scale, -scale, np.asarray(list(kinks), dtype=float).reshape(-1),
    ])
    pts = pts[(pts >= mean - half) & (pts <= mean + half)]
    return np.unique(pts)


@lru_cache(maxsize=512)
def _nodes_cached(q: float, kinks: tuple[float, ...], order: int, mean: float = 0.0
                  ) -> tuple[np.ndarray, np.ndarray]:
    edges = _breakpoints(q, kinks, mean)
    a, b = edges[:-1, None], edges[1:, None]
    t, wt = _legendre(order)
    x = (0.5 * (b - a) * t + 0.5 * (a + b)).ravel()
    w = (0.5 * (b - a) * wt).ravel()
    w = w * np.exp(-0.5 * (x - mean) ** 2 / q) / np.sqrt(2.0 * np.pi * q)
    x.setflags(write=False)
    w.setflags(write=False)
    return x, w


def nodes(q: float, kinks: Iterable[float] = (), order: int = _ORDER, mean: float = 0.0
          ) -> tuple[np.ndarray, np.ndarray]:
    r"""Nodes ``x`` and weights ``w`` with :math:`\sum_i w_i f(x_i) \approx \mathbb E[f(\mu + \sqrt q z)]`.

    Args:
        q: variance of the Gaussian, ``> 0``.
        kinks: points (in x) where ``f`` or one of its derivatives is not smooth.
        order: Gauss–Legendre nodes per piece.
        mean: μ, the Gaussian's mean (x ~ N(μ, q)).

    Returns read-only float64 arrays (cached).

    >>> x, w = nodes(0.25, mean=0.5)
    >>> round(float(w @ x), 12), round(float(w @ (x - 0.5) ** 2), 12)
    (0.5, 0.25)
    """
    q, mean = float(q), float(mean)
    if not np.isfinite(q) or q <= 0:
        raise ValueError(f"q must be a finite variance > 0, got {q!r}")
    if not np.isfinite(mean):
        raise ValueError(f"mean must be finite, got {mean!r}")
    return _nodes_cached(q, tuple(sorted(float(k) for k in kinks)), int(order), mean)


def integrate(values: np.ndarray, x: np.ndarray, w: np.ndarray, q: float, mean: float = 0.0) -> np.ndarray:
    r"""``values @ w``: the expectations of ``values`` (shape ``(..., nodes)``) sampled at ``nodes(q, mean=mean)``.

    Raises ``ValueError`` when an expectation diverges: a non-finite sum, or more than 1e-9 of it
    from beyond μ ± 10√q, where a finite expectation of any function growing slower than
    :math:`e^{(x-\mu)^2/4q}` has weight below 1e-20 (e.g. :math:`\phi(x) = e^{x^2}` has no finite E[φ²]) —
    and the weighted integrand is still growing there (its part beyond 11√q is over 1/100 of the part between
    10√q and 11√q), so that a finite moment carried by the tail alone (E[φ'²] of a unit saturated over the
    whole bulk, ~1e-23) is not called a divergence.
    """
    values = np.asarray(values, dtype=np.float64)
    vals = values @ w
    r = np.abs(x - mean) / np.sqrt(q)
    far, outer = r > 10.0, r > 11.0
    tail = np.abs(values[..., far]) @ w[far]
    # the integrand still growing out there (its last σ outweighs the one before by > 1/100; a convergent one
    # drops by the Gaussian's e^-10.5 ≈ 3e-5 there), not a moment that is tiny because φ is flat over the bulk
    out = np.abs(values[..., outer]) @ w[outer]
    grows = (tail > 1e-9 * (np.abs(values) @ w) + 1e-300) & (out > 1e-2 * (tail - out))
    if not np.all(np.isfinite(vals)) or np.any(grows):
        raise ValueError(f"the Gaussian expectation diverges at q={q!r}")
    return vals


def expect(f: Callable[[np.ndarray], np.ndarray], q: float = 1.0, kinks: Iterable[float] = (),
           mean: float = 0.0) -> float:
    r""":math:`\mathbb E_{z\sim\mathcal N(0,1)}[f(\mu + \sqrt q z)]` for a vectorized float64 function ``f``.

    >>> round(expect(lambda x: x ** 2, q=3.0), 12), round(expect(lambda x: x ** 2, q=3.0, mean=2.0), 12)
    (3.0, 7.0)
    """
    x, w = nodes(q, kinks, mean=mean)
    return float(integrate(f(x), x, w, q, mean))
