r"""Write flushed Watcher rows to a TensorBoard ``SummaryWriter`` (or anything with its two methods).

Scalars are tagged ``{prefix}{layer}/{stat}`` (``"0/std"``, ``"encoder.fc/grad_norm"``), one point per
recorded step. Histograms (``{prefix}{layer}/output``) go through ``SummaryWriter.add_histogram_raw``
from the counts the Watcher computed on the device every ``hist_every`` steps: bucket ``b`` holds the
outputs in ``(e_b, e_{b+1}]`` on the edges ``e = min + (max − min)·linspace(0, 1, B+1)``;
``num = Σ counts``, ``sum = num·mean`` and ``sum_squares = num·(std² + mean²)`` (``std`` is the
population standard deviation). Nothing here touches a device: the rows are the host arrays of a
flush (:meth:`initlab.probes.Watcher.add_listener`, ``watch(..., tensorboard=writer)``) or of
:meth:`~initlab.probes.Watcher.arrays` (:func:`initlab.integrations.tensorboard.log`). This module
imports no TensorBoard: the writer is duck-typed.

>>> import numpy as np
>>> class Writer:  # what SummaryWriter receives
...     def __init__(self): self.scalars = []
...     def add_scalar(self, tag, value, global_step): self.scalars.append((tag, value, global_step))
...     def add_histogram_raw(self, tag, **kw): pass
>>> rows = {"layers": np.array(["fc"]), "steps": np.array([0, 1]), "std": np.array([[1.0], [np.nan]]),
...         "hist_steps": np.zeros(0, np.int64)}
>>> w = Writer(); write(w, rows, stats=("std",))
1
>>> w.scalars
[('fc/std', 1.0, 0)]
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping

import numpy as np

from ..formats import STATS

__all__ = ["DEFAULT_STATS", "write", "check_stats"]

# the statistics written by default: the core per-step ones and the unit-level fractions
DEFAULT_STATS = ("mean", "std", "abs_mean", "grad_norm", "grad_std", "weight_grad_norm", "bias_grad_norm",
                 "update_ratio", "dead_fraction", "saturated_fraction", "zero_fraction", "sign_coherence",
                 "nonfinite_forward", "nonfinite_backward")


def check_stats(stats: Iterable[str]) -> tuple[str, ...]:
    """``stats`` as a tuple, or a ValueError naming the unknown ones and the valid choices."""
    stats = (stats,) if isinstance(stats, str) else tuple(stats)
    bad = [s for s in stats if s not in STATS]
    if bad:
        raise ValueError(f"stats: unknown statistic(s) {bad}; valid choices: {list(STATS)}")
    return stats


def write(writer: Any, rows: Mapping[str, np.ndarray], *, stats: Iterable[str] = DEFAULT_STATS,
          histograms: bool = True, prefix: str = "", select: np.ndarray | None = None,
          hist_select: np.ndarray | None = None) -> int:
    """Write ``rows`` (arrays with the keys of :meth:`Watcher.arrays <initlab.probes.Watcher.arrays>`)
    to ``writer``; ``select``/``hist_select`` pick row indices (None: all). Non-finite values
    (statistics not recorded at a step) are skipped. Returns the number of scalars written."""
    stats = check_stats(stats)
    layers = [str(x) for x in rows["layers"]]
    steps = np.asarray(rows["steps"])
    idx = np.arange(len(steps)) if select is None else select
    n = 0
    for i in idx:
        s = int(steps[i])
        for k in stats:
            if k not in rows:
                continue
            for j, name in enumerate(layers):
                v = rows[k][i, j]
                if np.isfinite(v):
                    writer.add_scalar(f"{prefix}{name}/{k}", float(v), global_step=s)
                    n += 1
    hsteps = np.asarray(rows.get("hist_steps", np.zeros(0, np.int64)))
    if histograms and len(hsteps):
        _histograms(rows, layers, writer, np.arange(len(hsteps)) if hist_select is None else hist_select, prefix)
    return n


def _histograms(a: Mapping[str, np.ndarray], layers: list[str], writer: Any, rows: np.ndarray, prefix: str) -> None:
    where = {int(s): i for i, s in enumerate(a["steps"])}
    for h in rows:
        s = int(a["hist_steps"][h])
        i = where.get(s)
        for j, name in enumerate(layers):
            counts, edges = a["hist_counts"][h, j], a["hist_edges"][h, j]
            if not (np.isfinite(counts).all() and np.isfinite(edges).all()) or counts.sum() <= 0:
                continue
            num = float(counts.sum())
            mean = a["mean"][i, j] if i is not None else np.nan
            std = a["std"][i, j] if i is not None else np.nan
            if not (np.isfinite(mean) and np.isfinite(std)):
                mean = float((counts * 0.5 * (edges[1:] + edges[:-1])).sum() / num)  # from the buckets
                std = 0.0
            writer.add_histogram_raw(f"{prefix}{name}/output", min=float(edges[0]), max=float(edges[-1]),
                                     num=num, sum=num * float(mean), sum_squares=num * float(std ** 2 + mean ** 2),
                                     bucket_limits=edges[1:].tolist(), bucket_counts=counts.tolist(),
                                     global_step=s)
