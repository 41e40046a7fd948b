"""Reading numbers off a series (torch-free: shared by the measurements and the figures).

>>> import numpy as np
>>> first_step(np.array([10, 20, 30]), np.array([0.5, 0.2, 0.1]), 0.25, below=True)
20
>>> running_mean(np.array([1.0, 3.0, 5.0]), window=2).tolist()
[1.0, 2.0, 4.0]
>>> ratio(1.0, 0.0) is None, ratio(3.0, 2.0)
(True, 1.5)
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["first_step", "running_mean", "ratio"]


def first_step(steps: np.ndarray, values: np.ndarray, target: float, *, below: bool = False) -> int | None:
    """The first step whose value reaches ``target`` (≥, or ≤ with ``below``); None if never."""
    values = np.asarray(values, dtype=np.float64)
    hit = np.flatnonzero(values <= target if below else values >= target)
    return int(np.asarray(steps)[hit[0]]) if len(hit) else None


def running_mean(values: np.ndarray, window: int = 10) -> np.ndarray:
    """m_i = mean(v_{max(0, i−window+1)} … v_i): the running mean of the last ``window`` values."""
    v = np.asarray(values, dtype=np.float64)
    if len(v) == 0:
        return v
    c = np.cumsum(np.insert(v, 0, 0.0))
    lo = np.maximum(np.arange(1, len(v) + 1) - window, 0)
    return (c[1:] - c[lo]) / (np.arange(1, len(v) + 1) - lo)


def ratio(a: float | None, b: float | None) -> float | None:
    """a / b, None when either is missing, non-finite or b is 0."""
    if a is None or b is None or not (math.isfinite(a) and math.isfinite(b)) or b == 0:
        return None
    return a / b
