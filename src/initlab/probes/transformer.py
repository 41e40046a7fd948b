"""What :func:`initlab.inspect` adds for transformers: the residual stream per block, attention per head,
the output logits, tied parameters, and notes on what could not be seen; and their tables.

:class:`TransformerProbes` wraps one inspection pass: it hooks the repeated blocks
(:mod:`~initlab.probes.residual`), intercepts attention (:mod:`~initlab.probes.attention`) and disables
``nn.MultiheadAttention``'s fused fast path while the pass runs (restoring the setting after).
"""
from __future__ import annotations

import math
from contextlib import ExitStack
from typing import Any

import torch
from torch import nn

from ..structure import residual_blocks, tied_parameters
from .attention import AttentionProbe, AttentionStats
from .output import LogitStats
from .residual import BlockStats, ResidualProbe

__all__ = ["TransformerProbes", "transformer_table", "has_attention"]


def has_attention(model: nn.Module) -> bool:
    """Whether a module looks like attention (``nn.MultiheadAttention`` or a class named *Attention*)."""
    return any(isinstance(m, nn.MultiheadAttention) or "attention" in type(m).__name__.lower()
               for m in model.modules())


class TransformerProbes:
    """Context manager around one forward/backward pass; afterwards ``blocks``, ``attention``, ``ties``
    and ``notes`` hold what was seen (empty lists for models without blocks or attention)."""

    def __init__(self, model: nn.Module, max_rows: int = 64, max_batch: int = 8):
        self.model = model
        self.residual = ResidualProbe(model)
        self.attn = AttentionProbe(lambda: self.residual.current, max_rows=max_rows, max_batch=max_batch)
        self.ties = tied_parameters(model)
        self.notes: list[str] = []
        self._stack = ExitStack()
        self._fast: bool | None = None
        self._attention = has_attention(model)
        self.blocks: list[BlockStats] = []
        self.attention: list[AttentionStats] = []

    def __enter__(self) -> "TransformerProbes":
        mha = any(isinstance(m, nn.MultiheadAttention) for m in self.model.modules())
        if mha and hasattr(torch.backends, "mha"):
            self._fast = torch.backends.mha.get_fastpath_enabled()
            torch.backends.mha.set_fastpath_enabled(False)
            self.notes.append("nn.MultiheadAttention's fused fast path was disabled while probing "
                              "(torch.backends.mha.set_fastpath_enabled(False)), so every projection ran unfused")
        self.residual.install()
        self.attn.watch_modules(self.model)
        if self._attention:  # the mode only where attention can be: it costs every op a dispatch
            self._stack.enter_context(self.attn)
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stack.close()
        self.attn.remove()
        self.residual.remove()
        if self._fast is not None:
            torch.backends.mha.set_fastpath_enabled(self._fast)

    def collect(self) -> None:
        """Read the records (after the backward pass, which fills the stream gradients)."""
        self.blocks = self.residual.records()
        self.attention = list(self.attn.records)
        if has_attention(self.model) and not self.attention:
            self.notes.append("attention modules found but no attention call was seen (a fused kernel "
                              "outside nn.MultiheadAttention, F.scaled_dot_product_attention and softmax): "
                              "no attention entropy")
        if self.attention:
            a = self.attention[0]
            if a.rows < a.queries or a.batch:
                self.notes.append(f"attention statistics from {a.rows} of {a.queries} query rows and up to "
                                  f"{a.batch} examples per call, every head")
        blocks = residual_blocks(self.model)
        if blocks and not self.blocks:
            self.notes.append("repeated blocks found but none returned a tensor: no residual stream")
        for g in self.ties:
            self.notes.append(f"tied parameters: {' = '.join(g)} (one parameter, reported once)")


def _f(v: float | None, spec: str = ".3g") -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, spec)


def transformer_table(blocks: list[BlockStats], attention: list[AttentionStats],
                      logits: LogitStats | None, notes: list[str]) -> str:
    """The residual-stream rows (one per block call), the attention rows (one per call: min/mean over
    heads), the logits line and the notes."""
    lines: list[str] = []
    if blocks:
        lines.append("residual stream")
        head = ["block", "std(in)", "std(out)", "std(branch)", "branch/stream", "|δ stream|"]
        rows = [[b.name + (f"#{b.call_index}" if b.call_index else ""), _f(b.input_std), _f(b.std),
                 _f(b.branch_std), _f(b.branch_ratio), _f(b.grad_norm)] for b in blocks]
        lines += _grid(head, rows)
    if attention:
        lines.append("attention (per head: logit std, entropy / ln(keys))")
        head = ["call", "via", "heads", "logit std max", "entropy min", "entropy mean", "max weight"]
        rows = [[a.name, a.source, str(a.heads), _f(a.max_logit_std), _f(min(a.entropy) if a.entropy else None),
                 _f(a.mean_entropy), _f(max(a.max_weight) if a.max_weight else None)] for a in attention]
        lines += _grid(head, rows)
    if logits is not None:
        lines.append(f"logits ({logits.source}, {logits.classes} classes): std {_f(logits.std)}, "
                     f"mean max p {_f(logits.max_prob)}, entropy/ln C {_f(logits.entropy)}")
    lines += [f"note: {n}" for n in notes]
    return "\n".join(lines)


def _grid(head: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(x) for x in col) for col in zip(head, *rows)]
    fmt = lambda cells: "  ".join(c.ljust(w) if j == 0 else c.rjust(w)  # noqa: E731
                                  for j, (c, w) in enumerate(zip(cells, widths))).rstrip()
    return [fmt(head), fmt(["-" * w for w in widths])] + [fmt(r) for r in rows]
