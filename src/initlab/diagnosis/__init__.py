"""Diagnosis: uses the probes and the theory together — :func:`compare` (mean-field predictions beside
measurements, layer by layer), ranking findings by cause, and :func:`fix`
(inspect, re-initialize what the findings name, inspect again, and check that the model trains).

>>> import torch, initlab as il
>>> model = il.models.mlp([16, 32, 32, 32, 32, 4], "tanh", init="normal", std=1.0)
>>> x, y = torch.randn(64, 16), torch.randint(0, 4, (64,))
>>> report = il.fix(model, x, y, steps=0)
>>> report.changed, sorted({a.scheme for a in report.actions})
(True, ['auto'])
"""
from __future__ import annotations

from .check import HeldoutCheck, heldout_check
from .compare import Comparison, ComparisonRow, compare
from .fix import FixAction, FixReport, fix
from .rank import CAUSE_ORDER, rank

__all__ = ["compare", "Comparison", "ComparisonRow", "fix", "FixReport", "FixAction", "heldout_check", "HeldoutCheck",
           "rank", "CAUSE_ORDER"]
