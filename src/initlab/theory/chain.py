r"""The one-neuron-per-layer chain of seed 002 (after Nielsen, *Neural Networks and Deep Learning*, ch. 5).

With :math:`z_j = w_j a_{j-1} + b_j` and :math:`a_j = \sigma(z_j)`, j = 1..L,

.. math::
    \frac{\partial C}{\partial b_l} = \sigma'(z_l)\, w_{l+1}\sigma'(z_{l+1}) \cdots w_L\sigma'(z_L)\,
    \frac{\partial C}{\partial a_L}.

Each factor :math:`|w_j\sigma'(z_j)|` is below 1/4 for sigmoid with :math:`|w| < 1`: with w ~ N(0, 1) the
gradient vanishes toward the input (:func:`vanishing_chain`). With w = 100 and :math:`b_j = -100\,a_{j-1}`,
every :math:`z_j = 0` and each factor is 100·σ'(0) = 25: it explodes ×25 per layer (:func:`exploding_chain`).
The product is taken in float64 as a sum of logs (25^L overflows float32 near L = 28 and float64 near
L = 220), returning :math:`\log|\partial C/\partial b_l|` and the sign.

>>> g = exploding_chain(60).gradients()
>>> round(float(g.log_abs_grad[0] - g.log_abs_grad[1]), 12) == round(math.log(25), 12)
True
>>> bool(np.isfinite(g.log_abs_grad).all())
True
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .maps import ActivationLike, check_depth, as_activation

__all__ = ["Chain", "ChainGradients", "chain_gradients", "vanishing_chain", "exploding_chain"]


@dataclass(frozen=True)
class ChainGradients:
    r"""Forward values and :math:`\partial C/\partial b_l` per layer l = 1..L, all (L,) float64.

    ``log_abs_grad`` is the natural log of :math:`|\partial C/\partial b_l|` (−inf where a factor is 0),
    ``sign`` ∈ {−1, 0, 1}; ``log_abs_factor[j]`` is :math:`\log|w_j\sigma'(z_j)|` (the j = 1 entry uses
    :math:`w_1`, which does not enter ∂C/∂b₁).
    """

    z: np.ndarray
    a: np.ndarray
    log_abs_grad: np.ndarray
    sign: np.ndarray
    log_abs_factor: np.ndarray
    weights: np.ndarray
    dsigma: np.ndarray  # σ'(z_l)
    dC_daL: float = 1.0

    @property
    def grad(self) -> np.ndarray:
        """∂C/∂b_l as the plain float64 product (±inf / 0 where it over/underflows: use ``log_abs_grad``)."""
        with np.errstate(over="ignore", under="ignore", invalid="ignore"):
            f = self.weights * self.dsigma  # w_j σ'(z_j)
            suffix = np.concatenate([np.cumprod(f[::-1])[::-1][1:], [1.0]])
            return self.dsigma * suffix * self.dC_daL

    @property
    def log10_abs_grad(self) -> np.ndarray:
        """log₁₀|∂C/∂b_l|."""
        return self.log_abs_grad / math.log(10.0)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {k: getattr(self, k).tolist()
                               for k in ("z", "a", "log_abs_grad", "sign", "log_abs_factor", "weights", "dsigma")}
        return {**out, "dC_daL": self.dC_daL}


def chain_gradients(weights: Any, biases: Any, a0: float = 1.0, activation: ActivationLike = "sigmoid",
                    dC_daL: float = 1.0) -> ChainGradients:
    r""":math:`\partial C/\partial b_l = \sigma'(z_l)\prod_{j>l} w_j\sigma'(z_j)\cdot\partial C/\partial a_L` for every l,
    in float64 log space (seed 002).

    Args:
        weights, biases: sequences of length L (w₁..w_L, b₁..b_L).
        a0: the input.
        activation: σ, any activation (name, Activation or callable); sigmoid by default.
        dC_daL: ∂C/∂a_L (e.g. a_L − y for the quadratic cost).

    >>> g = chain_gradients([1.0, 2.0], [0.0, 0.0], a0=0.0)
    >>> g.grad.round(6).tolist()        # [σ'(0)·2·σ'(1), σ'(1)]
    [0.098306, 0.196612]
    """
    act = as_activation(activation)
    w = np.asarray(weights, dtype=np.float64).reshape(-1)
    b = np.asarray(biases, dtype=np.float64).reshape(-1)
    if len(w) != len(b):
        raise ValueError(f"weights and biases must have the same length, got {len(w)} and {len(b)}")
    check_depth(len(w))
    if not (np.all(np.isfinite(w)) and np.all(np.isfinite(b)) and math.isfinite(a0) and math.isfinite(dC_daL)):
        raise ValueError("weights, biases, a0 and dC_daL must be finite")
    n = len(w)
    z, a = np.empty(n), np.empty(n)
    prev = float(a0)
    for j in range(n):  # sequential: a_j depends on a_{j-1}
        z[j] = w[j] * prev + b[j]
        prev = float(act.numpy(z[j:j + 1])[0])
        a[j] = prev
    d = act.numpy(z, derivative=True)  # σ'(z_j), (L,)
    with np.errstate(divide="ignore"):
        log_d, log_w = np.log(np.abs(d)), np.log(np.abs(w))
        log_dc = math.log(abs(dC_daL)) if dC_daL != 0 else -math.inf
    factor = log_w + log_d  # log|w_j σ'(z_j)|
    # suffix sums: S_l = Σ_{j>l} log|w_j σ'(z_j)|
    suffix = np.concatenate([np.cumsum(factor[::-1])[::-1][1:], [0.0]])
    log_abs = log_d + suffix + log_dc
    sgn_factor = np.sign(w) * np.sign(d)
    sfx_sign = np.concatenate([np.cumprod(sgn_factor[::-1])[::-1][1:], [1.0]])
    sign = np.sign(d) * sfx_sign * np.sign(dC_daL)
    log_abs = np.where(sign == 0, -np.inf, log_abs)
    return ChainGradients(z, a, log_abs, sign, factor, w, d, float(dC_daL))


@dataclass(frozen=True)
class Chain:
    """Weights, biases and input of a one-neuron-per-layer chain; ``gradients()`` runs :func:`chain_gradients`."""

    weights: np.ndarray
    biases: np.ndarray
    a0: float
    activation: ActivationLike = "sigmoid"

    def gradients(self, dC_daL: float = 1.0) -> ChainGradients:
        return chain_gradients(self.weights, self.biases, self.a0, self.activation, dC_daL)


def _rng(generator: np.random.Generator | int | None) -> np.random.Generator:
    if isinstance(generator, np.random.Generator):
        return generator
    return np.random.default_rng(generator)


def vanishing_chain(depth: int, *, generator: np.random.Generator | int | None = None, a0: float | None = None,
                    activation: ActivationLike = "sigmoid") -> Chain:
    """w_j, b_j ~ N(0, 1) (Nielsen's init): |w σ'(z)| < 1/4 mostly, so ∂C/∂b₁ vanishes (seed 002).

    ``a0`` defaults to a draw from N(0, 1); ``generator`` is a NumPy Generator or a seed.

    >>> g = vanishing_chain(20, generator=0).gradients()
    >>> bool(g.log_abs_grad[0] < g.log_abs_grad[-1] - 20)
    True
    """
    depth = check_depth(depth)
    rng = _rng(generator)
    w, b = rng.standard_normal(depth), rng.standard_normal(depth)
    x = float(rng.standard_normal()) if a0 is None else float(a0)
    return Chain(w, b, x, activation)


def exploding_chain(depth: int, *, w: float = 100.0, generator: np.random.Generator | int | None = None,
                    a0: float | None = None, activation: ActivationLike = "sigmoid") -> Chain:
    r"""w_j = w (100) and :math:`b_j = -w\,a_{j-1}` so every z_j = 0 and each factor is w·σ'(0) = 25 (seed 002).

    ``a0`` defaults to a draw from N(0, 1) (``generator``: NumPy Generator or seed); the later inputs are
    a_j = σ(0).

    >>> g = exploding_chain(5, a0=0.3).gradients()
    >>> np.exp(np.diff(g.log_abs_grad[::-1])).round(9).tolist()
    [25.0, 25.0, 25.0, 25.0]
    """
    depth = check_depth(depth)
    if not (math.isfinite(w) and w != 0):
        raise ValueError(f"w must be finite and non-zero, got {w!r}")
    act = as_activation(activation)
    x = float(_rng(generator).standard_normal()) if a0 is None else float(a0)
    weights = np.full(depth, float(w))
    biases = np.empty(depth)
    prev = x
    for j in range(depth):
        biases[j] = -(w * prev)  # z_j = w a_{j-1} − w a_{j-1} = 0 exactly
        prev = float(act.numpy(np.zeros(1))[0])
    return Chain(weights, biases, x, act)
