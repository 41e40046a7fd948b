"""Which parameters :func:`initlab.initialize` leaves alone, and why: it touches: the weight (and bias) of every Linear/Conv
layer (1d/2d/3d, transposed); every other parameter is listed as untouched with the reason.
"""
from __future__ import annotations

from torch import Tensor, nn

from ..structure import is_norm

def untouched(model: nn.Module, handled: set[int]) -> list[tuple[str, str]]:
    out, seen = [], set(handled)
    for mname, m in model.named_modules():
        for pname, p in m.named_parameters(recurse=False):
            if id(p) in seen:
                continue
            seen.add(id(p))
            full = f"{mname}.{pname}" if mname else pname
            out.append((full, _why_untouched(m, pname, p)))
    return out


def _why_untouched(m: nn.Module, pname: str, p: Tensor) -> str:
    if isinstance(p, nn.parameter.UninitializedParameter):
        return "uninitialized lazy parameter (run one forward pass first)"
    if isinstance(m, (nn.Embedding, nn.EmbeddingBag)):
        return "embedding table: not a Linear/Conv weight (kept; PyTorch draws N(0, 1))"
    if isinstance(m, nn.MultiheadAttention):
        if pname.endswith("proj_weight"):
            return "attention in-projection (kept; PyTorch uses xavier_uniform)"
        return "attention bias (kept)"
    if isinstance(m, nn.RNNBase):
        return "recurrent weight (kept; PyTorch draws U(±1/√hidden_size))"
    if is_norm(m):
        return "norm γ/β (kept; PyTorch sets 1/0)"
    if isinstance(m, nn.PReLU):
        return "PReLU slope (kept)"
    return f"{type(m).__name__} parameter: not a Linear/Conv weight or bias (kept)"
