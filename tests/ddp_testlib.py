"""Shared by the DDP tests (probes and the framework callbacks): how a merged record is compared with
one process's."""
from __future__ import annotations

import numpy as np

FORWARD = ("std", "abs_mean", "min", "max", "zero_fraction", "positive_fraction", "saturated_fraction",
           "dead_fraction", "distinct_units", "input_positive_fraction")
BACKWARD = ("grad_norm", "grad_std", "weight_grad_norm", "bias_grad_norm", "update_ratio", "sign_coherence")


def rel(a: np.ndarray, b: np.ndarray, scale: np.ndarray | float = 0.0) -> float:
    """The largest |a − b| / max(|b|, scale) where b is recorded (a and b must be NaN at the same places)."""
    assert np.array_equal(np.isnan(a), np.isnan(b))
    ok = ~np.isnan(b)
    return float((np.abs(a - b)[ok] / np.maximum(np.abs(b), scale)[ok].clip(1e-300)).max()) if ok.any() else 0.0
