"""The sweep folder: ``sweep.json``, one folder per trial keyed by a stable id, and ``results.parquet``.

Layout (docs/CONTRACTS.md, "Sweep folder")::

    OUT/sweep.json                 format_version, the resolved spec and its hash, versions, the trial list
    OUT/trials/ID/result.json      id, trial, config, seed, threads, status, metrics, info, error (written last:
                                   its presence means "finished"; same trial → same bytes, on any executor)
    OUT/trials/ID/timing.json      seconds, executor, host (what differs between runs of the same trial)
    OUT/trials/ID/error.txt        the traceback of a failed trial
    OUT/trials/ID/…                the trial's own files (trainability: probes.npz, curve.csv; experiments: run/)
    OUT/results.parquet            one row per finished trial of the current spec (pyarrow)

Trial id: the first 16 hex digits of SHA-256 over the canonical JSON of the trial name, its resolved config,
seed, thread count, quick flag, the sweep format version and the initlab and torch versions — so a resume
after an upgrade runs the trials again instead of mixing results. Every file goes through
:mod:`initlab.formats`' atomic writer; only the driver writes, so ``kill -9`` leaves whole files or none.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import socket
from pathlib import Path
from typing import Any, Iterable

from .. import formats
from .spec import Point, Spec, canonical_json, spec_hash

__all__ = ["SWEEP_FORMAT", "SWEEP_JSON", "RESULTS", "RESULT", "trial_id", "Store", "SpecChanged", "table"]

SWEEP_FORMAT = 1
SWEEP_JSON = "sweep.json"
RESULTS = "results.parquet"
RESULT = "result.json"
TIMING = "timing.json"
ERROR = "error.txt"
TRIALS = "trials"
RESERVED = ("trial_id", "seed", "status", "error", "seconds")


class SpecChanged(ValueError):
    """The folder holds a sweep of another spec (rerun with ``extend=True`` / ``--extend``)."""


def trial_id(trial: str, point: Point, threads: int, quick: bool, versions: dict[str, str]) -> str:
    key = {"trial": trial, "config": point.config, "seed": point.seed, "threads": threads, "quick": quick,
           "format": SWEEP_FORMAT, "initlab": versions.get("initlab"), "torch": versions.get("torch")}
    return hashlib.sha256(canonical_json(key).encode()).hexdigest()[:16]


def _dumps(obj: Any) -> str:
    # full float precision (repr round-trips), Infinity/NaN kept (ξ_c = ∞ is a result, not a missing value)
    return json.dumps(obj, indent=2, sort_keys=True, allow_nan=True) + "\n"


class Store:
    """One sweep folder (see the module docstring)."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    # --- sweep.json -------------------------------------------------------------------------------
    def meta(self) -> dict[str, Any] | None:
        p = self.root / SWEEP_JSON
        return json.loads(p.read_text(encoding="utf-8")) if p.is_file() else None

    def prepare(self, spec: Spec, tasks: list[dict[str, Any]], *, extend: bool = False) -> dict[str, Any]:
        """Write (or check) ``sweep.json`` for ``spec``; ``SpecChanged`` when the folder holds another spec
        and ``extend`` is false. Returns the metadata written."""
        old = self.meta()
        h = spec_hash(spec)
        if old is not None:
            if old.get("format_version") != SWEEP_FORMAT:
                raise ValueError(f"{self.root / SWEEP_JSON} has sweep format {old.get('format_version')!r}; this "
                                 f"initlab reads format {SWEEP_FORMAT}")
            if old.get("spec_hash") != h and not extend:
                raise SpecChanged(
                    f"{str(self.root)!r} holds a sweep of another spec (hash {old.get('spec_hash')}, this one {h}); "
                    f"rerun with --extend (extend=True) to add the new points to it, or use another --out")
        history = list(old.get("spec_history", [])) if old else []
        if old and old.get("spec_hash") != h:
            history.append({"spec_hash": old.get("spec_hash"), "spec": old.get("spec")})
        meta = {"format_version": SWEEP_FORMAT, "spec": spec.to_dict(), "spec_hash": h,
                "versions": formats.versions(), "spec_history": history,
                "trials": [{"id": t["id"], "seed": t["seed"], "config": t["config"]} for t in tasks]}
        if meta != old:
            formats.write_text(self.root / SWEEP_JSON, _dumps(meta))
        return meta

    # --- trials -----------------------------------------------------------------------------------
    def trial_dir(self, tid: str) -> Path:
        return self.root / TRIALS / tid

    def result(self, tid: str) -> dict[str, Any] | None:
        p = self.trial_dir(tid) / RESULT
        return json.loads(p.read_text(encoding="utf-8")) if p.is_file() else None

    def finished(self, tid: str) -> bool:
        return (self.trial_dir(tid) / RESULT).is_file()

    def write(self, task: dict[str, Any], out: dict[str, Any], executor: str) -> dict[str, Any]:
        """Write a trial's files, then ``result.json`` last (atomically, each)."""
        d = self.trial_dir(task["id"])
        for rel, data in sorted(out.get("files", {}).items()):
            target = (d / rel).resolve()
            if d.resolve() not in target.parents:
                raise ValueError(f"trial file {rel!r} would be written outside its folder")
            formats.write_bytes(target, data)
        if out["status"] == "failed":
            formats.write_text(d / ERROR, out.get("traceback", ""))
        formats.write_text(d / TIMING, _dumps({"seconds": out.get("seconds"), "started": out.get("started"),
                                               "cpu_seconds": out.get("cpu_seconds"), "executor": executor,
                                               "host": socket.gethostname(), "versions": formats.versions()}))
        result = {"id": task["id"], "trial": task["trial"], "config": task["config"], "seed": task["seed"],
                  "threads": task["threads"], "quick": task["quick"], "status": out["status"],
                  "metrics": out["metrics"], "info": out.get("info", {}), "error": out.get("error")}
        formats.write_text(d / RESULT, _dumps(result))
        return result

    def seconds(self, tid: str) -> float | None:
        p = self.trial_dir(tid) / TIMING
        return json.loads(p.read_text(encoding="utf-8")).get("seconds") if p.is_file() else None

    def results(self, ids: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """Finished trials' ``result.json`` contents (of ``ids``, default: the current trial list), in order."""
        if ids is None:
            meta = self.meta() or {}
            ids = [t["id"] for t in meta.get("trials", [])]
        out = []
        for tid in ids:
            r = self.result(tid)
            if r is not None:
                out.append(r)
        return out

    def write_table(self) -> Path:
        """``results.parquet`` from the finished trials of the current spec (each id once)."""
        import pyarrow.parquet as pq

        meta = self.meta() or {}
        rows = self.results()
        sp = meta.get("spec", {})
        keys = list(sp.get("columns") or [*sp.get("grid", {}), *[k for k in sp.get("random", {}) if k not in
                                                                  ("n", "seed")], *sp.get("fixed", {})])
        tbl = table(rows, keys, {r["id"]: self.seconds(r["id"]) for r in rows})
        with formats.atomic_path(self.root / RESULTS) as tmp:
            pq.write_table(tbl, tmp)
        return self.root / RESULTS


def _column(values: list[Any]) -> tuple[str, list[Any]]:
    """An Arrow type name and the values for it: bool, int64, float64, or string (JSON for lists)."""
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, bool) for v in present):
        return "bool", values
    if present and all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return "int64", values
    if present and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
        return "float64", [None if v is None else float(v) for v in values]
    return "string", [None if v is None else (v if isinstance(v, str) else json.dumps(v)) for v in values]


def table(rows: list[dict[str, Any]], keys: list[str], seconds: dict[str, float | None] | None = None) -> Any:
    """The pyarrow Table of results: ``trial_id``, ``seed``, a column per config key, ``status``, the metrics
    (a metric named like a config key or a reserved column gets the prefix ``metric_``), ``error`` and
    ``seconds``."""
    import pyarrow as pa

    metric_names: list[str] = []
    for r in rows:
        for k in r["metrics"]:
            if k not in metric_names:
                metric_names.append(k)
    cols: dict[str, tuple[str, list[Any]]] = {
        "trial_id": ("string", [r["id"] for r in rows]), "seed": ("int64", [r["seed"] for r in rows])}
    for k in keys:
        cols[k] = _column([r["config"].get(k) for r in rows])
    cols["status"] = ("string", [r["status"] for r in rows])
    for m in metric_names:
        name = f"metric_{m}" if m in cols or m in RESERVED else m
        cols[name] = _column([r["metrics"].get(m) for r in rows])
    cols["error"] = ("string", [r.get("error") for r in rows])
    secs = seconds or {}
    cols["seconds"] = ("float64", [secs.get(r["id"]) for r in rows])
    types = {"bool": pa.bool_(), "int64": pa.int64(), "float64": pa.float64(), "string": pa.string()}
    schema = pa.schema([(k, types[t]) for k, (t, _) in cols.items()])
    return pa.Table.from_pydict({k: v for k, (_, v) in cols.items()}, schema=schema)


def is_nan(v: Any) -> bool:
    return isinstance(v, float) and math.isnan(v)
