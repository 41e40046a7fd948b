r"""Write a Watcher's history to TensorBoard: per-layer scalars and histograms.

Tags, bucket convention and the histogram sums are those of :mod:`initlab.probes.tensorboard`, which
also serves ``il.watch(model, tensorboard=writer)`` (written at each flush, while training). Nothing is
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

from ..probes.tensorboard import DEFAULT_STATS, check_stats, write

__all__ = ["log", "DEFAULT_STATS"]


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
    stats = check_stats(stats)
    if step is not None and since is not None:
        raise ValueError(f"give step or since, not both (got step={step!r}, since={since!r})")
    a = watcher.arrays()
    rows = _select(a["steps"], step, since)
    write(writer, a, stats=stats, histograms=histograms, prefix=prefix, select=rows,
          hist_select=_select(a["hist_steps"], step, since))
    last = [int(a["steps"][i]) for i in rows]
    return max(last) if last else since


def _select(steps: np.ndarray, step: int | None, since: int | None) -> np.ndarray:
    if step is not None:
        return np.flatnonzero(steps == step)
    if since is not None:
        return np.flatnonzero(steps > since)
    return np.arange(len(steps))
