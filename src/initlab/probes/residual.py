r"""The residual stream: the hidden state between repeated blocks, one record per block call.

A block (:func:`initlab.structure.residual_blocks`: children of a ``ModuleList``/``Sequential`` of
one class) maps the stream :math:`x_l` to :math:`x_{l+1}`. Per block: the std of its input and
output (the stream), and the std of the *branch update* :math:`u_l = x_{l+1} - x_l` relative to the
stream it is added to, :math:`r_l = \mathrm{std}(u_l)/\mathrm{std}(x_l)`. In a pre-LN block
(:math:`x_{l+1} = x_l + f(\mathrm{LN}(x_l))`) :math:`u_l` is exactly the sum of the branch outputs;
independent branches give :math:`\mathrm{Var}(x_{l+1}) = \mathrm{Var}(x_l)(1 + r_l^2)`, so the stream
grows like :math:`\prod_l (1 + r_l^2)^{1/2}`: linearly in variance (√L in std) for r_l² ∝ 1/l, and
geometrically when r_l stays ≳ 1 — what the ``residual_growth`` finding reads. In a post-LN block the
output is normalized, so the stream std stays ≈ 1 and r_l measures how much one block rewrites it.
Also per block: ‖δ‖ and std(δ) of ∂L/∂x_{l+1}, the gradient carried by the stream.

An inspection-only measurement (float64 on the host, once per :func:`initlab.inspect`); ``watch``
does not run it.

>>> import torch
>>> blocks = torch.nn.Sequential(*[torch.nn.Sequential(torch.nn.Linear(8, 8)) for _ in range(3)])
>>> probe = ResidualProbe(blocks)
>>> probe.install(); _ = blocks(torch.randn(16, 8)); probe.remove()
>>> [b.name for b in probe.records()]
['0', '1', '2']
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor, nn

from ..structure import residual_blocks
from .hooks import first_tensor

__all__ = ["BlockStats", "ResidualProbe", "block_input"]


@dataclass
class BlockStats:
    """One call of a repeated block: the stream before (``input_std``) and after (``std``) it, the
    branch update's std and its ratio to the stream, and the stream's gradient after it."""

    name: str
    index: int
    call_index: int = 0
    input_std: float | None = None
    std: float | None = None
    branch_std: float | None = None
    branch_ratio: float | None = None
    grad_norm: float | None = None
    grad_std: float | None = None
    nonfinite: bool = False
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def block_input(args: tuple, kwargs: dict) -> Tensor | None:
    """The stream entering a block: its first positional tensor, else ``hidden_states``/``x``/``src``."""
    for a in args:
        if isinstance(a, Tensor):
            return a
    for k in ("hidden_states", "x", "src", "tgt", "input"):
        if isinstance(kwargs.get(k), Tensor):
            return kwargs[k]
    return None


def _std(x: Tensor) -> float:
    return float(x.std(correction=0)) if x.numel() > 1 else 0.0


class ResidualProbe:
    """Forward hooks on the repeated blocks of ``model``; :meth:`records` after a forward/backward pass.

    ``current`` names the block whose forward is running (the attention probe uses it to label the
    attention calls it sees)."""

    def __init__(self, model: nn.Module):
        self.blocks = residual_blocks(model)
        self.handles: list[Any] = []
        self.stack: list[str] = []
        self._records: list[BlockStats] = []
        self._grads: dict[int, Tensor] = {}

    @property
    def current(self) -> str | None:
        return self.stack[-1] if self.stack else None

    def install(self) -> None:
        for i, (name, block) in enumerate(self.blocks):
            self.handles.append(block.register_forward_pre_hook(
                lambda m, a, kw, name=name: self.stack.append(name), with_kwargs=True))
            self.handles.append(block.register_forward_hook(self._hook(i, name), with_kwargs=True))

    def remove(self) -> None:
        for h in self.handles:
            h.remove()
        self.handles.clear()

    def _hook(self, index: int, name: str):
        def hook(module: nn.Module, args: tuple, kwargs: dict, out: Any) -> None:
            if self.stack and self.stack[-1] == name:
                self.stack.pop()
            x, y = block_input(args, kwargs), first_tensor(out)
            if y is None or not y.is_floating_point():
                return
            k = sum(1 for r in self._records if r.index == index)
            rec = BlockStats(name, index, k)
            with torch.no_grad():
                yd = y.detach().double()
                rec.std = _std(yd)
                rec.nonfinite = not bool(torch.isfinite(yd).all())
                if x is not None and x.is_floating_point() and x.shape == y.shape:
                    xd = x.detach().double()
                    rec.input_std = _std(xd)
                    rec.branch_std = _std(yd - xd)
                    rec.branch_ratio = rec.branch_std / rec.input_std if rec.input_std > 0 else math.inf
                else:
                    rec.note = "input and output shapes differ: no branch ratio"
            self._records.append(rec)
            if y.requires_grad:
                slot = len(self._records) - 1
                y.register_hook(lambda g, slot=slot: self._grads.__setitem__(slot, g.detach().double()))
        return hook

    def records(self) -> list[BlockStats]:
        """The block records in call order, with the stream gradients of the backward pass (if any)."""
        for slot, g in self._grads.items():
            r = self._records[slot]
            r.grad_norm, r.grad_std = float(g.norm()), _std(g)
        return list(self._records)
