"""One :class:`initlab.Inspection` stored like a single Watcher step, for a run's ``history.npz``.

A run directory keeps each variant's per-layer statistics in the Watcher-file layout
(docs/CONTRACTS.md): ``steps`` (S,), ``layers`` (L,), one (S, L) array per statistic and, when
recorded, ``hist_steps`` (H,), ``hist_counts`` (H, L, B), ``hist_edges`` (H, L, B+1). An inspection is
the case S = H = 1 at step 0; statistics an inspection does not record are NaN.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import formats

__all__ = ["inspection_arrays"]


def inspection_arrays(insp: Any) -> dict[str, np.ndarray]:
    """An :class:`initlab.Inspection` as the Watcher-file arrays of a single step (step 0)."""
    layers = insp.layers
    out: dict[str, np.ndarray] = {
        "format_version": np.array(formats.FORMAT_VERSION), "steps": np.array([0], np.int64),
        "layers": np.array([r.label for r in layers], dtype=str),
    }
    for stat in formats.STATS:
        values = [getattr(r, stat, None) for r in layers]
        out[stat] = np.array([[np.nan if v is None else float(v) for v in values]])
    with_hist = [r for r in layers if r.hist_counts is not None]
    if with_hist:
        bins = len(with_hist[0].hist_counts)
        counts = np.full((1, len(layers), bins), np.nan)
        edges = np.full((1, len(layers), bins + 1), np.nan)
        for i, r in enumerate(layers):
            if r.hist_counts is not None and len(r.hist_counts) == bins:
                counts[0, i], edges[0, i] = r.hist_counts, r.hist_edges
        out.update(hist_steps=np.array([0], np.int64), hist_counts=counts, hist_edges=edges)
    return out
