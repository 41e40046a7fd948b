r"""LSUV: layer-sequential unit variance (Mishkin & Matas, "All you need is a good init", ICLR 2016).

After an orthogonal pre-init, each Linear/Conv layer in forward order is rescaled,
:math:`W \leftarrow W/\sqrt{\mathrm{Var}(\text{output})}`, until :math:`|\mathrm{Var}-1| \le` ``tol``
(at most ``max_iter`` times); norm layers in train mode, dropout/random activations in eval mode,
buffers and train/eval flags restored.
"""
from __future__ import annotations

import math
import weakref
from typing import Any

import torch
from torch import Tensor, nn

from .. import activations as _acts
from ..structure import call, is_dropout, is_pass_module
from .records import InitReport, LayerInit

LSUV_DONE: "weakref.WeakSet[nn.Module]" = weakref.WeakSet()


class _Stop(Exception):
    """Raised in a hook to cut a forward pass short once the layer of interest has run."""


def _is_random(m: nn.Module) -> bool:
    if is_dropout(m):
        return True
    a = _acts.from_module(m) if not is_pass_module(m) else None
    return bool(a is not None and a.random)


def _output_vars(model: nn.Module, data: Any, targets: list[nn.Module], stop_at: nn.Module | None
                 ) -> dict[int, float]:
    """Variance of each target's first output on ``data``; stops the pass after ``stop_at``."""
    out: dict[int, float] = {}

    def hook(m: nn.Module, _inp: Any, o: Any) -> None:
        if id(m) not in out and isinstance(o, Tensor):
            out[id(m)] = float(o.detach().double().var()) if o.numel() > 1 else 0.0
        if m is stop_at:
            raise _Stop

    handles = [t.register_forward_hook(hook) for t in targets]
    try:
        call(model, data)
    except _Stop:
        pass
    finally:
        for h in handles:
            h.remove()
    return out


def rescale_lsuv(model: nn.Module, layers: list[tuple[str, nn.Module]], records: list[LayerInit], data: Any,
          tol: float, max_iter: int, report: InitReport) -> None:
    training = {m: m.training for m in model.modules()}
    buffers = [(b, b.detach().clone()) for b in model.buffers()]
    try:
        model.train()
        for m in model.modules():
            if _is_random(m):
                m.eval()
        with torch.no_grad():
            mods = [m for _, m in layers]
            first = _output_vars(model, data, mods, None)
            order = sorted((i for i, m in enumerate(mods) if id(m) in first),
                           key=lambda i: list(first).index(id(mods[i])))
            for i in range(len(mods)):
                if id(mods[i]) not in first:
                    records[i].note = "not called on data: not rescaled"
            for i in order:
                layer, rec = mods[i], records[i]
                steps = 0
                for _ in range(max_iter):
                    var = _output_vars(model, data, [layer], layer)[id(layer)]
                    if abs(var - 1) <= tol:
                        break
                    if not (math.isfinite(var) and var > 0):
                        rec.note = f"output variance {var:g}: cannot rescale"
                        break
                    layer.weight.mul_(1 / math.sqrt(var))
                    steps += 1
                rec.iterations = steps
            final = _output_vars(model, data, mods, None)
            for i in order:
                rec = records[i]
                rec.output_var = final[id(mods[i])]
                rec.weight_std = float(mods[i].weight.detach().float().std())
                if abs(rec.output_var - 1) > tol and not rec.note:
                    rec.note = f"output variance {rec.output_var:.4g} not within tol={tol} after max_iter={max_iter}"
    finally:
        with torch.no_grad():
            for b, saved in buffers:
                b.copy_(saved)
        for m, flag in training.items():
            m.training = flag
    report.notes.append("LSUV forward passes: norm layers in train mode (batch statistics), dropout and "
                        "random activations in eval mode; buffers and train/eval flags restored")
