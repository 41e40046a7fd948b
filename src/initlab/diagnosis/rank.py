"""Findings ordered by cause: the one to act on first.

:func:`initlab.probes.diagnose` sorts by severity only. Several findings are often one failure seen
in several places (weights too large in a GPT-2: the stream grows, attention collapses, the logits
saturate, gradients shrink through the stream). :data:`CAUSE_ORDER` puts upstream causes before their
downstream symptoms: a non-finite value first (nothing else is readable), identical units (no random
init at all), then what happens inside a block before what happens across blocks, dead units before the
magnitude findings (a unit at 0 on every example of a batch of B is no property of a random init, where
it has probability 2⁻ᴮ: a step or a shift put it there, no rescaling revives it, and the step that
killed it typically inflated the survivors too), the forward signal before the backward one, and the
output last.

>>> from initlab.probes import Finding
>>> fs = [Finding("exploding_logits", "warning", [], {}, "", ""), Finding("attention_collapse", "warning", [], {}, "", "")]
>>> [f.kind for f in rank(fs)]
['attention_collapse', 'exploding_logits']
"""
from __future__ import annotations

from typing import Sequence

from ..probes import Finding

__all__ = ["CAUSE_ORDER", "rank"]

CAUSE_ORDER = ("nonfinite", "symmetric_units", "attention_collapse", "residual_growth", "dead_units",
               "exploding_activations", "forward_collapse", "saturation", "uncontrolled_magnitudes", "vanishing_gradients",
               "exploding_gradients", "residual_gradient", "exploding_logits", "non_zero_centered", "update_ratio")


def rank(findings: Sequence[Finding]) -> list[Finding]:
    """Warnings and errors before infos, then by :data:`CAUSE_ORDER` (unknown kinds last, stable)."""
    order = {k: i for i, k in enumerate(CAUSE_ORDER)}
    return sorted(findings, key=lambda f: (f.severity == "info", order.get(f.kind, len(order))))
