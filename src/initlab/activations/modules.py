r"""Activation modules PyTorch does not have: the stepped sigmoid, noisy ReLU, and a module wrapping
any elementwise callable.

>>> import torch
>>> round(float(SteppedSigmoid()(torch.tensor([0.0]))), 4)  # Σ_{i≥1} σ(0.5 − i)
0.6826
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["SteppedSigmoid", "NoisyReLU", "Lambda", "stepped_sigmoid"]


class SteppedSigmoid(nn.Module):
    r"""Stepped sigmoid :math:`\phi(x) = \sum_{i\ge1} \sigma(x - i + 0.5)` (seed 002; Nair & Hinton 2010).

    Evaluated exactly up to a stated bound: only the ``2·window`` terms around the transition
    ``i ≈ x + 0.5`` are summed; the terms below it are counted as 1 and those above as 0. Each
    omitted term differs from that by less than :math:`e^{-(window - 1)}`, so the total error is
    below :math:`2 e^{-(window-1)}/(1 - e^{-1}) ≈ 1.4\cdot10^{-16}` for ``window = 40``.
    """

    def __init__(self, window: int = 40):
        super().__init__()
        self.window = int(window)

    def forward(self, x: Tensor) -> Tensor:
        return stepped_sigmoid(x, self.window, derivative=False)

    def extra_repr(self) -> str:
        return f"window={self.window}"


def stepped_sigmoid(x: Tensor, window: int = 40, derivative: bool = False) -> Tensor:
    """The stepped sigmoid (or, with ``derivative=True``, its derivative Σ σ'(x − i + 0.5)) summed over
    the ``2·window`` terms around the transition; see :class:`SteppedSigmoid` for the error bound."""
    m = torch.floor(x.detach() + 0.5)
    lo = torch.clamp(m - window + 1, min=1.0)  # first summed index
    j = torch.arange(2 * window, dtype=x.dtype, device=x.device)
    i = lo.unsqueeze(-1) + j  # (..., 2·window)
    s = torch.sigmoid(x.unsqueeze(-1) - i + 0.5)
    if derivative:
        return (s * (1 - s)).sum(-1)
    return s.sum(-1) + (lo - 1)


class NoisyReLU(nn.Module):
    r"""Noisy ReLU :math:`\max(0, x + \epsilon)`, :math:`\epsilon \sim \mathcal N(0, \sigma^2)` in training
    (σ = 1 as in seed 002; Nair & Hinton 2010); plain ReLU in eval."""

    def __init__(self, sigma: float = 1.0, generator: torch.Generator | None = None):
        super().__init__()
        self.sigma = float(sigma)
        self.generator = generator

    def forward(self, x: Tensor) -> Tensor:
        if self.training and self.sigma > 0:
            noise = torch.randn(x.shape, dtype=x.dtype, device=x.device, generator=self.generator)
            return F.relu(x + self.sigma * noise)
        return F.relu(x)

    def extra_repr(self) -> str:
        return f"sigma={self.sigma}"


class Lambda(nn.Module):
    """Wraps an elementwise function as a module (for custom activations)."""

    def __init__(self, fn: Callable[[Tensor], Tensor], name: str = "lambda"):
        super().__init__()
        self.fn = fn
        self.name = name

    def forward(self, x: Tensor) -> Tensor:
        return self.fn(x)

    def extra_repr(self) -> str:
        return self.name
