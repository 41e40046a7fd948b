"""A run directory, read back (torch-free): what an experiment's figures are drawn from.

The files are those of docs/CONTRACTS.md — ``config.json``, ``summary.json``, ``metrics.csv``
(long form: step, variant, split, metric, value), ``history.npz`` (Watcher arrays per variant under
``"{variant}/"``), ``findings.json`` — plus ``arrays.npz``, the experiment's own arrays that a figure
needs and no other file holds (e.g. a decision boundary sampled on a grid, an SGD path). Every file
is read lazily, once.

>>> import tempfile, pathlib
>>> from initlab import formats
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> _ = formats.write_json(d / formats.CONFIG, {"experiment": "demo", "config": {"lr": 0.1}})
>>> _ = formats.write_text(d / formats.METRICS, "step,variant,split,metric,value\\n0,a,train,loss,2.5\\n"
...                        "10,a,train,loss,1.25\\n")
>>> run = RunFiles(d)
>>> run.experiment, run.config["lr"], run.series("a", "train", "loss")[1].tolist()
('demo', 0.1, [2.5, 1.25])
"""
from __future__ import annotations

import csv
import json
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from .. import formats

__all__ = ["RunFiles"]


class RunFiles:
    """Read-only access to the files of the run directory ``run_dir``."""

    def __init__(self, run_dir: str | Path):
        self.dir = Path(run_dir)
        if not (self.dir / formats.CONFIG).is_file():
            raise ValueError(f"{str(self.dir)!r} is not a run directory (no {formats.CONFIG} in it)")

    # --- config.json / summary.json ---------------------------------------------------------------
    @cached_property
    def meta(self) -> dict[str, Any]:
        """config.json as a whole: experiment, seed, quick, versions, config, …"""
        return self._json(formats.CONFIG)

    @property
    def config(self) -> dict[str, Any]:
        """The resolved settings (config.json's ``"config"``; tuples read back as lists)."""
        return dict(self.meta.get("config") or {})

    @property
    def experiment(self) -> str:
        return str(self.meta.get("experiment") or "")

    @cached_property
    def summary(self) -> dict[str, dict[str, Any]]:
        return self._json(formats.SUMMARY) if (self.dir / formats.SUMMARY).is_file() else {}

    def ours(self, key: str) -> Any:
        """The measured value of summary key ``key`` (None when null or absent)."""
        return (self.summary.get(key) or {}).get("ours")

    # --- metrics.csv ----------------------------------------------------------------------------------
    @cached_property
    def metrics(self) -> list[tuple[int, str, str, str, float]]:
        """Every row of metrics.csv: (step, variant, split, metric, value)."""
        path = self.dir / formats.METRICS
        if not path.is_file():
            return []
        with open(path, newline="", encoding="utf-8") as f:
            rows = csv.reader(f)
            next(rows, None)  # header
            return [(int(s), v, sp, m, float(x)) for s, v, sp, m, x in rows]

    @cached_property
    def _series(self) -> dict[tuple[str, str, str], list[tuple[int, float]]]:
        out: dict[tuple[str, str, str], list[tuple[int, float]]] = {}
        for s, v, sp, m, x in self.metrics:
            out.setdefault((v, sp, m), []).append((s, x))
        return out

    def series(self, variant: str, split: str, metric: str) -> tuple[np.ndarray, np.ndarray]:
        """(steps, values) of one metric of one variant, in the order written (empty when absent)."""
        rows = self._series.get((variant, split, metric), [])
        steps = np.array([r[0] for r in rows], dtype=np.int64)
        return steps, np.array([r[1] for r in rows], dtype=np.float64)

    def value(self, variant: str, split: str, metric: str) -> float | None:
        """The last value of one metric of one variant; None when it was never written."""
        _, values = self.series(variant, split, metric)
        return float(values[-1]) if len(values) else None

    # --- history.npz / arrays.npz ---------------------------------------------------------------------
    def history(self, variant: str) -> dict[str, np.ndarray]:
        """The Watcher arrays of one variant (history.npz's ``"{variant}/…"``, prefix removed)."""
        return _prefixed(self._npz(formats.HISTORY), variant, formats.HISTORY)

    def arrays(self, prefix: str = "") -> dict[str, np.ndarray]:
        """arrays.npz's entries under ``"{prefix}/"`` (prefix removed), or all of them."""
        return _prefixed(self._npz(formats.ARRAYS), prefix, formats.ARRAYS) if prefix else self._npz(formats.ARRAYS)

    def array(self, key: str) -> np.ndarray:
        """One entry of arrays.npz; ``KeyError`` naming the file and its entries when absent."""
        found = self._npz(formats.ARRAYS)
        if key not in found:
            raise KeyError(f"{formats.ARRAYS} of {str(self.dir)!r} has no {key!r}; it holds {sorted(found)}")
        return found[key]

    # --- reading --------------------------------------------------------------------------------------
    def _json(self, name: str) -> dict[str, Any]:
        return json.loads((self.dir / name).read_text(encoding="utf-8"))

    def _npz(self, name: str) -> dict[str, np.ndarray]:
        cache = self.__dict__.setdefault("_npz_cache", {})
        if name not in cache:
            path = self.dir / name
            cache[name] = {}
            if path.is_file():
                with np.load(path, allow_pickle=False) as z:
                    cache[name] = {k: z[k] for k in z.files}
        return cache[name]


def _prefixed(arrays: dict[str, np.ndarray], prefix: str, file: str) -> dict[str, np.ndarray]:
    head = f"{prefix}/"
    out = {k[len(head):]: v for k, v in arrays.items() if k.startswith(head)}
    if not out:
        prefixes = sorted({k.split("/", 1)[0] for k in arrays if "/" in k})
        raise KeyError(f"{file} has nothing under {prefix!r}; its prefixes: {prefixes}")
    return out
