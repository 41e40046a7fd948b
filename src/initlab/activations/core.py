r"""The :class:`Activation`: one elementwise function with its derivative, properties, Gaussian
moments and gains (the registry of named ones is :mod:`initlab.activations.registry`).

>>> from initlab.activations import get
>>> get("tanh").moments(1.0).deriv_second < 1
True
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Any, Callable, Literal, NamedTuple

import numpy as np
import torch
from torch import Tensor, nn

from .. import gaussian, validate

__all__ = ["Activation", "Moments", "GainKind", "SELU_ALPHA", "SELU_SCALE"]

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946

GainKind = Literal["torch", "forward", "backward"]
_GAIN_KINDS = ("torch", "forward", "backward")


class Moments(NamedTuple):
    r"""Gaussian moments of φ at x ~ N(μ, q), z = (x − μ)/√q:

    :math:`\mathbb E[\phi(x)]`, :math:`\mathbb E[\phi(x)^2]`, :math:`\mathbb E[\phi'(x)^2]` and
    :math:`\mathbb E[z\,\phi(x)\phi'(x)]` (= √q/2 · d E[φ²]/dq, the slope of the mean-field variance map).
    """

    mean: float
    second: float
    deriv_second: float
    z_phi_dphi: float = 0.0


@dataclass(frozen=True, eq=False)
class Activation:
    """A scalar nonlinearity φ with its closed-form derivative and analytic facts.

    Build with :func:`get` or :func:`from_callable`. ``fn`` and ``deriv`` are elementwise torch
    functions of the eval form; they must work on float64 tensors without autograd.

    ``units`` (a *mixture*, e.g. a PReLU with one learned slope per channel): ``(weight, Activation)``
    pairs, one per distinct unit, weights summing to 1. Every Gaussian expectation (:meth:`moments`,
    :meth:`expect`) is then the weighted average over the units — what a layer's statistics over all
    its units are — and the properties aggregate over them (range: the union; monotonic: all units);
    ``fn``/``deriv`` are those of the mean unit (the slope-weighted average), for a single evaluation.
    """

    name: str
    fn: Callable[[Tensor], Tensor]
    deriv: Callable[[Tensor], Tensor]
    make_module: Callable[[], nn.Module]
    params: dict[str, Any] = field(default_factory=dict)
    kinks: tuple[float, ...] = ()
    torch_gain: tuple[str, float | None] | None = None  # (nonlinearity, param) for calculate_gain
    random: bool = False
    description: str = ""
    units: tuple[tuple[float, "Activation"], ...] = ()

    # --- evaluation ---------------------------------------------------------------------------
    def __call__(self, x: Tensor) -> Tensor:
        """φ(x), eval form."""
        return self.fn(x)

    def derivative(self, x: Tensor) -> Tensor:
        """φ'(x) in closed form (autograd's value at kinks: relu'(0) = 0, leaky'(0) = slope)."""
        return self.deriv(x)

    def module(self) -> nn.Module:
        """A fresh ``torch.nn.Module`` computing φ (PyTorch's own class where one exists)."""
        return self.make_module()

    def numpy(self, x: np.ndarray, derivative: bool = False) -> np.ndarray:
        """φ (or φ') on a float64 NumPy array, without autograd."""
        with torch.no_grad():
            t = torch.from_numpy(np.array(x, dtype=np.float64))
            return (self.deriv(t) if derivative else self.fn(t)).numpy()

    @property
    def spec(self) -> str:
        """The exact activation as a string that :func:`get` turns back into it: ``"relu"``,
        ``"leaky_relu(slope=0.5)"``, ``"gelu(approximate='tanh')"``, ``"prelu(slope=(0.1, 0.3))"``.

        Float parameters are written with ``repr`` (round-trips exactly).

        >>> from initlab.activations import get
        >>> get("elu", alpha=0.5).spec
        'elu(alpha=0.5)'
        >>> get(get("elu", alpha=0.5).spec).params
        {'alpha': 0.5}
        """
        if not self.params:
            return self.name
        return f"{self.name}({', '.join(f'{k}={v!r}' for k, v in self.params.items())})"

    # --- Gaussian moments -----------------------------------------------------------------------
    def expect(self, g: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray], q: float = 1.0,
               mean: float = 0.0) -> float:
        r""":math:`\mathbb E[g(x, \phi(x), \phi'(x))]` for x ~ N(mean, q), by piecewise quadrature."""
        if self.units:
            return float(sum(w * u.expect(g, q, mean) for w, u in self.units))
        x, w = gaussian.nodes(q, self.kinks, mean=mean)
        try:
            return float(gaussian.integrate(g(x, self.numpy(x), self.numpy(x, derivative=True)), x, w, q, mean))
        except ValueError:
            raise ValueError(f"the Gaussian expectation of activation {self.name!r} diverges at q={q!r}") from None

    def moments(self, q: float = 1.0, mean: float = 0.0) -> Moments:
        r""":class:`Moments` of φ for x ~ N(mean, q), accurate to ~1e-12 relative (the one home of these numbers).

        ``q = 0`` gives the limit q → 0⁺: φ(μ), φ(μ)², the mean of the one-sided φ'(μ∓)², and 0 — at a
        kink that is not φ'(μ)² (ReLU at μ = 0: E[φ'²] = 1/2 for every q > 0, so also in the limit). The limit
        is also used for √q < 1e-9·|μ|, where float64 cannot place nodes around μ (error ~1e-9 relative).
        A ``ValueError`` when a moment diverges.

        >>> from initlab.activations import get
        >>> m = get("relu").moments(1.0)
        >>> round(m.second, 12), round(m.deriv_second, 12), get("relu").moments(0.0).deriv_second
        (0.5, 0.5, 0.5)
        >>> round(get("identity").moments(4.0, mean=0.5).second, 12)   # μ² + q
        4.25
        """
        return _moments(self, _check_variance(q), _check_mean(mean))

    def gain(self, kind: GainKind = "forward") -> float:
        r"""Weight-scale gain g for :math:`W \sim \mathcal N(0, g^2/\text{fan\_in})`.

        ``"torch"``: ``torch.nn.init.calculate_gain``; ``"forward"``: :math:`1/\sqrt{E[\phi(z)^2]}`;
        ``"backward"``: :math:`1/\sqrt{E[\phi'(z)^2]}`, z ~ N(0, 1).
        """
        if kind == "torch":
            if self.torch_gain is None:
                raise ValueError(
                    f"torch.nn.init.calculate_gain defines no gain for activation {self.name!r}; "
                    f"it covers linear, sigmoid, tanh, relu, leaky_relu and selu. "
                    f"Use kind='forward' or 'backward' (valid kinds: {_GAIN_KINDS})")
            nonlinearity, param = self.torch_gain
            return float(nn.init.calculate_gain(nonlinearity, param))  # type: ignore[arg-type]
        if kind == "forward":
            return 1.0 / math.sqrt(self.moments(1.0).second)
        if kind == "backward":
            return 1.0 / math.sqrt(self.moments(1.0).deriv_second)
        raise ValueError(f"kind must be one of {_GAIN_KINDS}, got {kind!r}")

    # --- properties, computed once from φ and φ' ------------------------------------------------
    @cached_property
    def _grid(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        x = np.concatenate([-np.geomspace(1e4, 1e-6, 2000), [0.0], np.geomspace(1e-6, 1e4, 2000),
                            np.linspace(-10, 10, 20001)])
        x = np.unique(x)
        return x, self.numpy(x), self.numpy(x, derivative=True)

    @cached_property
    def output_range(self) -> tuple[float, float]:
        """(inf, sup) of φ over the reals, ±inf when unbounded; numerical, rounded to 1e-9."""
        if self.units:
            r = [u.output_range for _, u in self.units]
            return min(lo for lo, _ in r), max(hi for _, hi in r)
        _, y, _ = self._grid
        far = self.numpy(np.array([-1e12, 1e12]))
        lo, hi = min(float(y.min()), float(far[0])), max(float(y.max()), float(far[1]))
        lo = -math.inf if far[0] < -1e6 else round(lo, 9) + 0.0
        hi = math.inf if far[1] > 1e6 else round(hi, 9) + 0.0
        return lo, hi

    @cached_property
    def zero_centered(self) -> bool:
        """E[φ(z)] = 0 for z ~ N(0,1) (to 1e-6 of its RMS): outputs are not all of one sign (seed 000)."""
        m = self.moments(1.0)
        return abs(m.mean) <= 1e-6 * math.sqrt(m.second)

    @cached_property
    def saturating(self) -> tuple[bool, bool]:
        """(left, right): φ'(x) → 0 as x → -∞ / +∞ (|φ'(±1e4)| < 1e-6)."""
        if self.units:
            r = [u.saturating for _, u in self.units]
            return all(a for a, _ in r), all(b for _, b in r)
        _, _, d = self._grid
        return bool(abs(d[0]) < 1e-6), bool(abs(d[-1]) < 1e-6)

    @cached_property
    def monotonic(self) -> bool:
        """φ is non-decreasing (φ' ≥ 0 everywhere on a fine grid)."""
        if self.units:
            return all(u.monotonic for _, u in self.units)
        return bool(self._grid[2].min() >= -1e-12)

    @cached_property
    def max_slope(self) -> float:
        """max |φ'(x)| (sigmoid: 1/4), refined around the best grid point."""
        if self.units:
            return max(u.max_slope for _, u in self.units)
        x, _, d = self._grid
        i = int(np.argmax(np.abs(d)))
        lo, hi = x[max(i - 1, 0)], x[min(i + 1, len(x) - 1)]
        fine = np.linspace(lo, hi, 4001)
        return float(round(max(np.abs(d).max(), np.abs(self.numpy(fine, derivative=True)).max()), 10))

    @cached_property
    def sparse(self) -> bool:
        """φ is exactly 0 on a whole interval (ReLU-like): layers produce exact zeros."""
        if self.units:
            return all(u.sparse for _, u in self.units)
        return bool(np.all(self.numpy(np.array([-3.0, -2.0, -1.0, -0.5])) == 0.0))

    def properties(self) -> dict[str, Any]:
        """The properties and gains as plain data (one row of :func:`table`)."""
        m = self.moments(1.0)
        try:
            tg: float | None = self.gain("torch")
        except ValueError:
            tg = None
        return {
            "name": self.name, "params": dict(self.params), "range": self.output_range,
            "zero_centered": self.zero_centered, "saturating_left": self.saturating[0],
            "saturating_right": self.saturating[1], "monotonic": self.monotonic,
            "max_slope": self.max_slope, "sparse": self.sparse, "kinks": self.kinks,
            "random": self.random, "mean": m.mean, "second_moment": m.second,
            "deriv_second_moment": m.deriv_second, "gain_torch": tg,
            "gain_forward": 1 / math.sqrt(m.second), "gain_backward": 1 / math.sqrt(m.deriv_second),
        }

    def __repr__(self) -> str:
        p = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"Activation({self.name}{', ' + p if p else ''})"


def _check_variance(q: float) -> float:
    return float(validate.check("q", q, validate.is_number(q) and q >= 0, "a finite variance >= 0"))


def _check_mean(mean: float) -> float:
    return float(validate.check("mean", mean, validate.is_number(mean), "a finite number"))


@lru_cache(maxsize=8192)
def _moments(act: Activation, q: float, mean: float) -> Moments:
    if act.units:
        parts = [(w, _moments(u, q, mean)) for w, u in act.units]
        return Moments(*(float(sum(w * m[i] for w, m in parts)) for i in range(4)))
    if q < 1e-300 or math.sqrt(q) < 1e-9 * abs(mean):
        # the limit q → 0⁺ (one-sided derivatives at a kink); also where √q is below ~1e7 ulp of μ and
        # nodes μ + √q·t could not be placed: the limit is then exact to ~1e-9 relative
        eps = max(abs(mean) * 1e-15, 1e-300)
        y = float(act.numpy(np.array([mean]))[0])
        d = act.numpy(np.array([mean - eps, mean + eps]), derivative=True)
        return Moments(y, y * y, float(d[0] ** 2 + d[1] ** 2) / 2, 0.0)
    x, w = gaussian.nodes(q, act.kinks, mean=mean)
    y, d = act.numpy(x), act.numpy(x, derivative=True)
    terms = np.stack([y, y * y, d * d, (x - mean) * y * d / math.sqrt(q)])  # (4, nodes)
    try:
        vals = gaussian.integrate(terms, x, w, q, mean)
    except ValueError:
        raise ValueError(f"the Gaussian moments of activation {act.name!r} diverge at q={q!r}") from None
    return Moments(*(float(v) for v in vals))
