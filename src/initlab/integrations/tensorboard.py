r"""Write a Watcher's history to TensorBoard: per-layer scalars and histograms.

Scalars are tagged ``{prefix}{layer}/{stat}`` (``"0/std"``, ``"encoder.fc/grad_norm"``), one point per
recorded step. Histograms (``{prefix}{layer}/output``) are written with
``SummaryWriter.add_histogram_raw`` from the counts the Watcher computed on the device every
``hist_every`` steps: bucket ``b`` holds the outputs in ``(e_b, e_{b+1}]`` on the edges
``e = min + (max − min)·linspace(0, 1, B+1)``; ``num = Σ counts``, ``sum = num·mean`` and
``sum_squares = num·(std² + mean²)`` (``std`` is the population standard deviation). Nothing is
copied to the host beyond the Watcher's flush (:meth:`~initlab.probes.Watcher.arrays` flushes once).

>>> import torch, initlab as il, tempfile
>>> from torch.utils.tensorboard import SummaryWriter
>>> from initlab.integrations import tensorboard as tb
>>> model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh())
>>> with il.watch(model, hist_every=2) as w:
...     for _ in range(3):
...         model(torch.randn(16, 4)).sum().backward()
...         w.step()
>>> with tempfile.TemporaryDirectory() as d, SummaryWriter(d) as writer:
...     last = tb.log(w, writer)
>>> last
2
"""
from __future__ import annotations

from typing import Any, Iterable

import numpy as np

__all__ = ["log", "DEFAULT_STATS"]

# the statistics written by default: the core per-step ones and the unit-level fractions
DEFAULT_STATS = ("mean", "std", "abs_mean", "grad_norm", "grad_std", "weight_grad_norm", "bias_grad_norm",
                 "update_ratio", "dead_fraction", "saturated_fraction", "zero_fraction", "sign_coherence",
                 "nonfinite_forward", "nonfinite_backward")


def log(watcher: Any, writer: Any, step: int | None = None, *, since: int | None = None,
        stats: Iterable[str] = DEFAULT_STATS, histograms: bool = True, prefix: str = "") -> int | None:
    """Write the Watcher's recorded rows to ``writer`` (a ``torch.utils.tensorboard.SummaryWriter``).

    Args:
        watcher: an :class:`initlab.probes.Watcher` (active, closed or loaded from a file).
        writer: anything with ``add_scalar`` and ``add_histogram_raw`` (SummaryWriter's signatures).
        step: write only this recorded step (None: every row, or those after ``since``).
        since: write only steps ``> since`` (for logging incrementally: pass the last return value).
        stats: statistic names (a subset of :data:`initlab.formats.STATS`).
        histograms: also write the output histograms of the rows that have them.
        prefix: prepended to every tag (e.g. ``"initlab/"``).

    Returns the last step written, or ``since`` when there was nothing new. Non-finite values
    (statistics not recorded at a step) are skipped.
    """
    from ..formats import STATS

    stats = tuple(stats)
    bad = [s for s in stats if s not in STATS]
    if bad:
        raise ValueError(f"stats: unknown statistic(s) {bad}; valid choices: {list(STATS)}")
    if step is not None and since is not None:
        raise ValueError(f"give step or since, not both (got step={step!r}, since={since!r})")
    a = watcher.arrays()
    layers = [str(x) for x in a["layers"]]
    rows = _select(a["steps"], step, since)
    for i in rows:
        s = int(a["steps"][i])
        for k in stats:
            for j, name in enumerate(layers):
                v = a[k][i, j]
                if np.isfinite(v):
                    writer.add_scalar(f"{prefix}{name}/{k}", float(v), global_step=s)
    if histograms:
        _histograms(a, layers, writer, _select(a["hist_steps"], step, since), prefix)
    last = [int(a["steps"][i]) for i in rows]
    return max(last) if last else since


def _select(steps: np.ndarray, step: int | None, since: int | None) -> np.ndarray:
    if step is not None:
        return np.flatnonzero(steps == step)
    if since is not None:
        return np.flatnonzero(steps > since)
    return np.arange(len(steps))


def _histograms(a: dict[str, np.ndarray], layers: list[str], writer: Any, rows: np.ndarray, prefix: str) -> None:
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
