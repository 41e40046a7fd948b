r"""Findings for transformers, read from an inspection's residual stream, attention and logits records
(same form as :mod:`initlab.probes.findings`: kind, severity, layers, evidence, message, fix).

============================  ===========================================================================
kind                          fires when (threshold of :class:`~initlab.probes.findings.Thresholds`)
============================  ===========================================================================
``residual_growth``           the stream's std grows by more than ``residual_growth``·√(L+1) over L
                              blocks (independent unit-variance branches allow √(L+1)), or one block's
                              update exceeds ``branch_ratio`` × the stream it is added to
``residual_gradient``         the stream gradient ‖δ‖ changes by more than ``residual_grad_ratio``
                              (either way) from the last block to the first
``attention_collapse``        ≥ ``collapse_heads`` of the heads have a mean normalized entropy below
                              ``attention_entropy`` (near one-hot attention at initialization)
``exploding_logits``          the softmax over the output logits is saturated: mean normalized entropy
                              below ``logit_entropy`` (only for logits: a Hugging Face ``logits``
                              output or a cross-entropy loss)
============================  ===========================================================================

Sources: residual scaling 1/√(2L) (Radford et al. 2019, GPT-2), depth-scaled init (Zhang, Titov &
Sennrich 2019), pre-LN (Xiong et al. 2020), attention entropy collapse and QK normalization (Zhai et
al. 2023; Dehghani et al. 2023), small init (Nguyen & Salazar 2019).

>>> from initlab.probes.residual import BlockStats
>>> from types import SimpleNamespace as NS
>>> blocks = [BlockStats(f"h.{i}", i, input_std=10.0 ** i, std=10.0 ** (i + 1), branch_ratio=9.9) for i in range(4)]
>>> [f.kind for f in diagnose_transformer(NS(blocks=blocks, attention=[], logits=None, loss_kind="probe"))]
['residual_growth']
"""
from __future__ import annotations

import math
from typing import Any, Mapping

from .findings import Finding, Thresholds, resolve_thresholds
from .records import finite

__all__ = ["diagnose_transformer", "TRANSFORMER_KINDS"]

TRANSFORMER_KINDS = ("residual_growth", "residual_gradient", "attention_collapse", "exploding_logits")


def diagnose_transformer(ins: Any, thresholds: Thresholds | Mapping[str, float] | None = None) -> list[Finding]:
    """Findings from ``ins.blocks``, ``ins.attention`` and ``ins.logits`` (an :class:`Inspection`)."""
    t = resolve_thresholds(thresholds)
    out: list[Finding] = []
    blocks = [b for b in getattr(ins, "blocks", []) if not b.nonfinite]
    out += _growth(blocks, t)
    out += _stream_gradient(blocks, t)
    out += _attention(getattr(ins, "attention", []), t)
    out += _logits(getattr(ins, "logits", None), t)
    return out


def _growth(blocks: list, t: Thresholds) -> list[Finding]:
    if len(blocks) < 2 or not finite(blocks[0].input_std) or not blocks[0].input_std:
        return []
    first, last = blocks[0], blocks[-1]
    if not finite(last.std):
        return []
    L = len(blocks)
    growth = last.std / first.input_std
    allowed = t.residual_growth * math.sqrt(L + 1)
    big = [b for b in blocks if finite(b.branch_ratio) and b.branch_ratio > t.branch_ratio]
    if growth <= allowed and not big:
        return []
    worst = max(blocks, key=lambda b: b.branch_ratio if finite(b.branch_ratio) else -1)
    named = [b.name for b in (big or blocks)]
    return [Finding(
        "residual_growth", "warning", named,
        {"stream_std_first": first.input_std, "stream_std_last": last.std, "growth": growth,
         "allowed": allowed, "blocks": float(L), "max_branch_ratio": worst.branch_ratio or math.nan},
        f"The residual stream's std grows ×{growth:.3g} over {L} blocks ({first.input_std:.3g} → {last.std:.3g}; "
        f"unit-variance branches would allow about ×{math.sqrt(L + 1):.3g}); block {worst.name}'s update is "
        f"{worst.branch_ratio:.3g}× the stream it is added to.",
        "Scale the residual output projections by 1/√(2·n_layers) (GPT-2 init: il.initialize(model, 'gpt2')), "
        "use a smaller initializer_range (0.02), depth-scaled init (ds_init), or pre-LN blocks.")]


def _stream_gradient(blocks: list, t: Thresholds) -> list[Finding]:
    g = [b for b in blocks if finite(b.grad_norm) and b.grad_norm > 0]
    if len(g) < 2:
        return []
    ratio = g[0].grad_norm / g[-1].grad_norm  # first block's output vs last block's output
    if 1 / t.residual_grad_ratio <= ratio <= t.residual_grad_ratio:
        return []
    way = "shrinks" if ratio < 1 else "grows"
    return [Finding(
        "residual_gradient", "warning", [b.name for b in g],
        {"grad_norm_last_block": g[-1].grad_norm, "grad_norm_first_block": g[0].grad_norm, "ratio": ratio,
         "blocks": float(len(g))},
        f"The gradient carried by the residual stream {way} ×{ratio:.3g} from block {g[-1].name} back to "
        f"{g[0].name}: the blocks far from the loss train at a different speed.",
        "Use pre-LN blocks (Xiong et al. 2020) or depth-scaled initialization for post-LN stacks "
        "(il.initialize(model, 'ds_init')), and a learning-rate warm-up.")]


def _attention(attention: list, t: Thresholds) -> list[Finding]:
    heads = [(a, h, e, s) for a in attention for h, (e, s) in enumerate(zip(a.entropy, a.logit_std))
             if finite(e)]
    if not heads:
        return []
    low = [x for x in heads if x[2] < t.attention_entropy]
    frac = len(low) / len(heads)
    if frac < t.collapse_heads:
        return []
    names = list(dict.fromkeys(a.name for a, *_ in low))
    ent = sum(x[2] for x in low) / len(low)
    std = max(x[3] for x in low if finite(x[3])) if any(finite(x[3]) for x in low) else math.nan
    return [Finding(
        "attention_collapse", "warning", names,
        {"collapsed_fraction": frac, "mean_entropy_collapsed": ent, "max_logit_std": std,
         "heads": float(len(heads))},
        f"{frac:.0%} of the attention heads attend to nearly one token at initialization (normalized "
        f"entropy {ent:.2f}; logit std up to {std:.3g}): QKᵀ/√d_h is too large, the softmax is saturated "
        f"and its gradient vanishes.",
        "Initialize the query/key projections smaller (initializer_range 0.02: il.initialize(model, 'gpt2') "
        "or 'small_init'), normalize queries and keys (QK-norm), or lower the softmax temperature.")]


def _logits(logits: Any, t: Thresholds) -> list[Finding]:
    if logits is None or not finite(logits.entropy) or logits.entropy >= t.logit_entropy:
        return []
    return [Finding(
        "exploding_logits", "warning", [logits.source],
        {"logit_std": logits.std, "mean_max_prob": logits.max_prob, "entropy": logits.entropy,
         "classes": float(logits.classes)},
        f"The output softmax is saturated at initialization: logit std {logits.std:.3g}, the top class gets "
        f"p = {logits.max_prob:.2f} on average (uniform: {1 / logits.classes:.2g}); the first losses are huge "
        f"and the gradient reaches few classes.",
        "Initialize the output layer (or the tied embedding) small: gain 1 and N(0, 1/fan_in) (il.initialize "
        "'auto'), initializer_range 0.02 for embeddings ('gpt2'), or scale the logits by 1/√d.")]
