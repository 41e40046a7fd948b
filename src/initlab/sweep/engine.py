"""``run(spec, out=DIR)``: expand, validate, skip what is finished, run the rest, write the store.

>>> import tempfile
>>> s = run({"trial": "trainability", "seeds": [0], "grid": {"depth": [1, 2]},
...          "fixed": {"dataset": "circles", "width": 8, "steps": 3, "batch_size": 50}},
...         out=tempfile.mkdtemp(), workers=0, quiet=True)
>>> s.status()["ok"], s.table().column("depth").to_pylist()
(2, [1, 2])
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from .. import formats
from ..progress import Progress
from . import executors, trials
from .spec import Spec, expand, load
from .store import RESULTS, SWEEP_JSON, Store, trial_id

__all__ = ["run", "Sweep", "open_sweep", "tasks_of"]


def tasks_of(spec: Spec) -> list[dict[str, Any]]:
    """The spec's trials as executor tasks ``{"id", "trial", "config", "seed", "threads", "quick"}``,
    each id once (in expansion order)."""
    versions = formats.versions()
    seen, tasks = set(), []
    for p in expand(spec):
        tid = trial_id(spec.trial, p, spec.threads, spec.quick, versions)
        if tid not in seen:
            seen.add(tid)
            tasks.append({"id": tid, "trial": spec.trial, "config": p.config, "seed": p.seed,
                          "threads": spec.threads, "quick": spec.quick})
    return tasks


def run(spec: "str | os.PathLike | Mapping[str, Any] | Spec", out: str | os.PathLike, *, workers: int | None = None,
        ray: bool | str | None = None, extend: bool = False, retry_failed: bool = False, quiet: bool = False,
        table_every: float = 10.0) -> "Sweep":
    """Run the sweep ``spec`` (TOML path, dict or :class:`Spec`) into folder ``out`` and return it.

    Only trials without a ``result.json`` run (``retry_failed=True``: failed ones again too), so rerunning
    after an interruption finishes the sweep. ``workers``: ``None`` = one per core (divided by the spec's
    ``threads``), ``0`` = in this process; ``ray``: ``True`` starts/joins a local Ray, ``"ADDRESS"`` joins a
    cluster. A folder holding another spec is refused unless ``extend=True``. ``results.parquet`` is
    rewritten every ``table_every`` seconds and at the end.
    """
    spec = load(spec)
    tasks = tasks_of(spec)
    unique: dict[str, dict[str, Any]] = {}
    for t in tasks:
        unique.setdefault(json.dumps(t["config"], sort_keys=True), t["config"])
    trials.validate(spec.trial, list(unique.values()), spec.quick)
    executor = executors.make(workers, ray, spec.threads)
    store = Store(out)
    store.prepare(spec, tasks, extend=extend)
    todo, done, failed = [], 0, 0
    for t in tasks:
        r = store.result(t["id"])
        if r is None or (retry_failed and r["status"] == "failed"):
            todo.append(t)
        else:
            done += 1
            failed += r["status"] == "failed"
    progress = Progress(len(tasks), done=done, failed=failed, quiet=quiet)
    last = time.monotonic()
    try:
        for task, result in executor.run(todo):
            store.write(task, result, executor.name)
            progress.update(result["status"])
            if time.monotonic() - last > table_every:
                store.write_table()
                last = time.monotonic()
    finally:
        progress.close()
        store.write_table()
    return Sweep(out)


@dataclass
class Sweep:
    """A sweep folder: its spec, trial results, table and plots."""

    path: Path

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        if not (self.path / SWEEP_JSON).is_file():
            raise ValueError(f"{str(self.path)!r} is not a sweep folder (no {SWEEP_JSON}); run `initlab sweep run` first")
        self.store = Store(self.path)

    @property
    def meta(self) -> dict[str, Any]:
        return self.store.meta() or {}

    @property
    def spec(self) -> Spec:
        return load(self.meta["spec"])

    def results(self) -> list[dict[str, Any]]:
        """The finished trials' ``result.json`` contents, in spec order."""
        return self.store.results()

    def status(self) -> dict[str, Any]:
        """Counts: ``total``, ``ok``, ``diverged``, ``failed``, ``missing``; and ``errors`` (id → error)."""
        trials_ = self.meta.get("trials", [])
        res = self.results()
        counts = {s: sum(r["status"] == s for r in res) for s in ("ok", "diverged", "failed")}
        secs = [s for s in (self.store.seconds(r["id"]) for r in res) if s is not None]
        return {"path": str(self.path), "trial": self.meta["spec"]["trial"], "total": len(trials_), **counts,
                "missing": len(trials_) - len(res), "trial_seconds": sum(secs),
                "errors": {r["id"]: r["error"] for r in res if r["status"] == "failed"}}

    def table(self) -> Any:
        """``results.parquet`` as a pyarrow Table (rebuilt from the trial folders if missing)."""
        import pyarrow.parquet as pq

        p = self.path / RESULTS
        if not p.is_file():
            self.store.write_table()
        return pq.read_table(p)

    def to_pandas(self) -> Any:
        return self.table().to_pandas()

    def grid(self, x: str, y: str, metric: str, *, where: Mapping[str, Any] | None = None) -> Any:
        """The metric's mean and spread over seeds on the (x, y) cells: :class:`initlab.sweep.plot.Grid`."""
        from .plot import grid

        return grid(self.results(), x, y, metric, where=where)

    def plot(self, x: str, y: str, metric: str, *, overlay: str | None = None, path: str | os.PathLike | None = None,
             where: Mapping[str, Any] | None = None, threshold: float | None = None) -> Path:
        """A heatmap PNG of ``metric`` over config keys ``x`` × ``y`` (mean over seeds); ``overlay="theory"``
        adds the critical line χ₁ = 1 and the 6 ξ_c depth curve. Written to ``path`` (default
        ``OUT/plots/METRIC-X-Y.png``). The interactive page: ``initlab sweep plot`` (the report package)."""
        from .plot import draw

        path = Path(path) if path is not None else self.path / "plots" / f"{metric}-{x}-{y}.png"
        g = self.grid(x, y, metric, where=where)
        draw(g, path, overlay=overlay, threshold=threshold)
        return path


def open_sweep(path: str | os.PathLike) -> Sweep:
    return Sweep(path)
