"""What an experiment measures into: :class:`RunContext` (the runner writes it to the run directory).

An experiment's ``measure(cfg, ctx)`` records numbers only — metrics, headline summary entries,
Watcher arrays, findings, the extra arrays its figures need and small text files — and draws
nothing: the figures are drawn afterwards from the written files (:mod:`initlab.experiments.figures`).
Every random draw comes from the run's seed: ``ctx.generator(*key)`` / ``ctx.rng(*key)`` give an
independent stream per purpose (same seed and key → same numbers), ``torch_seed`` seeds the global
torch RNG for code that draws from it.
"""
from __future__ import annotations

import contextlib
import sys
import zlib
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np
import torch

from ..formats import agrees, round_number
from .registry import Experiment

__all__ = ["RunContext", "torch_seed"]


class RunContext:
    """What an experiment writes into: metrics, summary entries, Watcher arrays, findings, arrays, text.

    ``seed``/``quick``/``config`` are the run's settings; ``generator(*key)`` gives an independent
    seeded ``torch.Generator`` per purpose (same seed and key → same numbers).
    """

    def __init__(self, exp: Experiment, config: Any, seed: int, quick: bool, directory: Path, quiet: bool):
        self.experiment, self.config, self.seed, self.quick = exp, config, seed, quick
        self.dir, self.quiet = directory, quiet
        self.rows: list[tuple[int, str, str, str, float]] = []    # metrics.csv
        self.entries: dict[str, dict[str, Any]] = {}              # summary.json
        self.watched: dict[str, np.ndarray] = {}                  # history.npz
        self.variant_findings: dict[str, list[dict]] = {}         # findings.json
        self.extra: dict[str, np.ndarray] = {}                    # arrays.npz
        self.texts: dict[str, str] = {}                           # other text files

    # --- randomness -------------------------------------------------------------------------------
    def seed_for(self, *key: Any) -> int:
        """A 63-bit seed derived from the run's seed and ``key`` (stable across processes)."""
        return (self.seed * 1_000_003 + zlib.crc32(repr(key).encode())) % (2 ** 63)

    def generator(self, *key: Any) -> torch.Generator:
        return torch.Generator().manual_seed(self.seed_for(*key))

    def rng(self, *key: Any) -> np.random.RandomState:
        return np.random.RandomState(self.seed_for(*key) % (2 ** 32))

    # --- outputs ----------------------------------------------------------------------------------
    def log(self, message: str) -> None:
        if not self.quiet:
            print(f"  [{self.experiment.name}] {message}", file=sys.stderr, flush=True)

    def metric(self, step: int, variant: str, split: str, metric: str, value: Any) -> None:
        """One row of metrics.csv (nothing when ``value`` is None)."""
        if value is not None:
            self.rows.append((int(step), str(variant), str(split), str(metric), float(value)))

    def metrics_from(self, history: Any, variant: str) -> None:
        """Copy a :class:`initlab.train.History`'s records (metrics.csv) and, when it watched, its Watcher
        arrays (history.npz) and findings (findings.json) under ``variant``."""
        for step, split, metric, value in history.records:
            self.metric(step, variant, split, metric, value)
        arrays = history.arrays()
        if arrays:
            self.history(variant, arrays)
        if getattr(history, "watcher", None) is not None:
            self.findings(variant, history.watcher.findings())

    def history(self, variant: str, arrays: dict[str, Any]) -> None:
        """Watcher arrays of one variant, stored in history.npz under ``"{variant}/"``."""
        for k, v in arrays.items():
            self.watched[f"{variant}/{k}"] = np.asarray(v)

    def findings(self, variant: str, findings: Iterable[Any]) -> None:
        self.variant_findings[variant] = [f.to_dict() if hasattr(f, "to_dict") else dict(f) for f in findings]

    def array(self, key: str, value: Any) -> None:
        """An array a figure needs and no other file holds, stored in arrays.npz under ``key``
        (``"{variant}/{name}"`` by convention)."""
        self.extra[key] = np.asarray(value)

    def arrays(self, prefix: str, arrays: dict[str, Any]) -> None:
        """Several arrays under ``"{prefix}/{name}"`` (see :meth:`array`)."""
        for k, v in arrays.items():
            self.array(f"{prefix}/{k}", v)

    def text(self, name: str, text: str) -> None:
        """A text file ``name`` of the run directory (e.g. Caffe-style ``debug_info.txt``)."""
        if "/" in name or "\\" in name or name.startswith("."):
            raise ValueError(f"text file name must be a plain file name, got {name!r}")
        self.texts[name] = text

    def summary(self, key: str, ours: Any, *, reference: Any = None, tolerance: float | None = None,
                factor: float | None = None, source: str | None = None, description: str | None = None) -> None:
        """One headline number; ``reference`` is the published value (``tolerance`` absolute, or
        ``factor``: agreement within ×/÷ factor)."""
        desc = description or self.experiment.summary_keys.get(key)
        if desc is None:
            raise KeyError(f"summary key {key!r} of experiment {self.experiment.name!r} is not documented "
                           f"in its summary_keys")
        entry: dict[str, Any] = {"ours": round_number(ours), "description": desc}
        if reference is not None:
            ref = {"value": round_number(reference), "tolerance": round_number(tolerance), "source": source or ""}
            if factor is not None:
                ref["factor"] = round_number(factor)
            entry["reference"] = ref
            entry["agree"] = agrees(entry["ours"], ref)
        self.entries[key] = entry


@contextlib.contextmanager
def torch_seed(seed: int) -> Iterator[None]:
    """Seed the global torch RNG (PyTorch's default init draws from it) and restore it afterwards."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield
