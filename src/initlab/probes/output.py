r"""The model's output as logits: how saturated the softmax over the classes is at initialization.

For logits z over C classes (the last dim, or dim 1 for channels-first outputs): their std, the
mean largest softmax probability :math:`\bar p_{\max}` (1/C when uniform, → 1 when saturated) and the
mean normalized entropy :math:`H(\mathrm{softmax}(z))/\ln C`. At initialization a classifier should
be unsure (entropy near 1): logits with std ≫ 1 saturate the softmax, the first cross-entropy losses
are huge and the gradient reaches few classes.

>>> import torch
>>> s = logit_stats(torch.zeros(4, 10))
>>> round(s.entropy, 6), round(s.max_prob, 6)
(1.0, 0.1)
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor

__all__ = ["LogitStats", "logit_stats", "model_output"]


@dataclass
class LogitStats:
    """Statistics of the output logits (``source``: where they came from)."""

    classes: int
    std: float
    abs_max: float
    max_prob: float
    entropy: float
    source: str = "output"
    nonfinite: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def logit_stats(z: Tensor, dim: int = -1, source: str = "output") -> LogitStats:
    """:class:`LogitStats` of logits ``z`` with the classes on ``dim`` (float64, detached)."""
    with torch.no_grad():
        x = z.detach().double().movedim(dim, -1)
        x = x.reshape(-1, x.shape[-1])
        C = x.shape[-1]
        ok = bool(torch.isfinite(x).all())
        if not ok or C < 2:
            return LogitStats(C, math.nan, math.nan, math.nan, math.nan, source, nonfinite=not ok)
        logp = torch.log_softmax(x, -1)
        p = logp.exp()
        ent = float((-(p * logp).sum(-1)).mean()) / math.log(C)
        return LogitStats(C, float(x.std(correction=0)), float(x.abs().max()), float(p.amax(-1).mean()), ent, source)


def model_output(out: Any) -> tuple[Tensor | None, str]:
    """The output tensor of a model call and where it came from: Hugging Face outputs give their
    ``logits`` (``"logits"``), otherwise the tensor, or the first tensor of a tuple/list/dict (``"output"``)."""
    lg = getattr(out, "logits", None)
    if isinstance(lg, Tensor):
        return lg, "logits"
    if isinstance(out, Tensor):
        return out, "output"
    items = out.values() if isinstance(out, dict) else out if isinstance(out, (tuple, list)) else ()
    for v in items:
        if isinstance(v, Tensor):
            return v, "output"
    return None, "output"
