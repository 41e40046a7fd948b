"""Caffe's ``debug_info`` lines from an inspection (``Net::ForwardDebugInfo``, ``BackwardDebugInfo``,
``Backward`` in Caffe's net.cpp), so that a PyTorch model can be read the way Caffe logs were read.

Every number is asum/count, the mean |·| of a blob, printed with 6 significant digits as Caffe's
``LOG(INFO) <<`` does:

* forward, layers in forward order: ``[Forward] Layer L, top blob L data:`` the layer's output, then
  ``param blob 0 data:`` (weight) and ``param blob 1 data:`` (bias);
* backward, layers in backward order: ``[Backward] Layer L, bottom blob B diff:`` ∂L/∂input through
  this layer alone (Caffe's split layers give each consumer of a blob its own diff), where B is the
  probed layer whose output that input is, else ``L.input``; a net input gets no line, as in Caffe,
  where data blobs need no backward; then ``param blob k diff:`` ∂L/∂W (k = 0) and ∂L/∂b (k = 1);
* last, ``[Backward] All net params (data, diff): L1 norm = (Σ|θ|, Σ|∂L/∂θ|); L2 norm = (‖θ‖, ‖∂L/∂θ‖)``
  over all trainable parameters.

>>> import torch, initlab as il
>>> model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
>>> lines = il.inspect(model, torch.randn(16, 4)).caffe().splitlines()
>>> [ln.split(":")[0] for ln in lines if ln.startswith("[Backward] Layer 2")]
['[Backward] Layer 2, bottom blob 1 diff', '[Backward] Layer 2, param blob 0 diff', '[Backward] Layer 2, param blob 1 diff']
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from .records import LayerStats

__all__ = ["debug_info", "net_param_norms"]


def _fmt(v: float | None) -> str:
    return "nan" if v is None else f"{v:.6g}"  # C++ ostream's default: 6 significant digits


def debug_info(layers: Sequence[LayerStats], net_params: Sequence[float] | None = None) -> str:
    """The lines for ``layers`` (an inspection's records, in forward order) and the net's norms."""
    lines = []
    for r in layers:
        lines.append(f"[Forward] Layer {r.label}, top blob {r.label} data: {_fmt(r.abs_mean)}")
        if r.weight_abs_mean is not None:
            lines.append(f"[Forward] Layer {r.label}, param blob 0 data: {_fmt(r.weight_abs_mean)}")
        if r.extra.get("bias_abs_mean") is not None:
            lines.append(f"[Forward] Layer {r.label}, param blob 1 data: {_fmt(r.extra['bias_abs_mean'])}")
    for r in reversed(layers):
        if r.extra.get("bottom_diff_abs_mean") is not None:
            lines.append(f"[Backward] Layer {r.label}, bottom blob {r.extra['bottom_blob']} diff: "
                         f"{_fmt(r.extra['bottom_diff_abs_mean'])}")
        for k, key in enumerate(("weight_grad_abs_mean", "bias_grad_abs_mean")):
            if r.extra.get(key) is not None:
                lines.append(f"[Backward] Layer {r.label}, param blob {k} diff: {_fmt(r.extra[key])}")
    if net_params is not None:
        l1d, l1g, l2d, l2g = (_fmt(v) for v in net_params)
        lines.append(f"[Backward] All net params (data, diff): L1 norm = ({l1d}, {l1g}); L2 norm = ({l2d}, {l2g})")
    return "\n".join(lines)


def net_param_norms(model: nn.Module) -> tuple[float, float, float, float] | None:
    """(Σ|θ|, Σ|∂L/∂θ|, ‖θ‖, ‖∂L/∂θ‖) over the trainable parameters, in float64 (a missing grad is 0)."""
    ps = [p for p in dict.fromkeys(model.parameters()) if p.requires_grad]
    if not ps:
        return None
    with torch.no_grad():
        data = torch.cat([p.detach().double().reshape(-1) for p in ps])
        diff = torch.cat([(p.grad.detach().double() if p.grad is not None
                           else torch.zeros_like(p, dtype=torch.float64)).reshape(-1) for p in ps])
        return float(data.abs().sum()), float(diff.abs().sum()), float(data.norm()), float(diff.norm())
