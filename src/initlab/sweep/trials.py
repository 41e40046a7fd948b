"""What a sweep runs: trials, and the one function every executor calls on a worker.

A trial is a function ``run(config: dict, seed: int) -> dict`` returning ``{"status": "ok"|"diverged",
"metrics": {name: number|str|None}, "info": {name: str}, "files": {relative path: bytes}}``. Three kinds:

* ``"trainability"``: the built-in trial (:mod:`initlab.sweep.trainability`);
* a registered experiment name (``initlab list``): the config keys are its ``--set`` settings, the
  metrics its ``summary.json`` numbers ("ours"), the files its whole run directory (under ``run/``);
* ``"package.module:function"``: your own trial function, importable on every worker.

:func:`execute` runs one task on a worker: it fixes torch's thread count (``torch.set_num_threads`` and
``OMP_NUM_THREADS``/``MKL_NUM_THREADS``; Ray sets these from the task's CPUs, so they are overridden)
and turns an exception into a ``"failed"`` result carrying the exception and its traceback — a failed
trial is recorded, never a crashed sweep. Workers return bytes; only the driver writes the store.
"""
from __future__ import annotations

import importlib
import math
import os
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any, Callable

__all__ = ["BUILTIN", "resolve", "validate", "execute", "set_threads"]

BUILTIN = ("trainability",)


def _experiment(name: str) -> Any:
    from .. import experiments

    return experiments.get(name) if name in experiments.names() else None


def resolve(trial: str) -> Callable[[dict[str, Any], int], dict[str, Any]] | None:
    """The custom trial function for ``"module:function"``; None for built-in and experiment trials."""
    if ":" not in trial:
        return None
    mod, _, fn = trial.partition(":")
    try:
        f = getattr(importlib.import_module(mod), fn)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"trial {trial!r}: cannot import function {fn!r} from module {mod!r} ({exc})") from None
    if not callable(f):
        raise ValueError(f"trial {trial!r} is not a function")
    return f


def validate(trial: str, configs: list[dict[str, Any]], quick: bool = False) -> None:
    """Check every resolved config before anything runs; ``ValueError`` naming the trial, key and value."""
    if trial == "trainability":
        from .trainability import validate as check

        for c in configs:
            check(c)
        return
    if ":" in trial:
        resolve(trial)
        return
    exp = _experiment(trial)
    if exp is None:
        from .. import experiments

        raise ValueError(f"unknown trial {trial!r}; valid trials: 'trainability', 'module:function', or an "
                         f"experiment: {', '.join(experiments.names())}")
    for c in configs:
        exp.make_config(quick, c)


def set_threads(threads: int) -> None:
    """One fixed torch thread count (reductions and GEMMs change bits with it)."""
    import torch

    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


def _run_experiment(name: str, config: dict[str, Any], seed: int, quick: bool) -> dict[str, Any]:
    from .. import experiments

    with tempfile.TemporaryDirectory(prefix="initlab-trial-") as tmp:
        out = Path(tmp) / "run"
        res = experiments.run(name, quick=quick, seed=seed, out=out, overwrite=True, quiet=True, **config)
        files = {f"run/{p.relative_to(out).as_posix()}": p.read_bytes() for p in sorted(out.rglob("*"))
                 if p.is_file()}
    metrics = {k: e.get("ours") for k, e in res.summary.items()
               if e.get("ours") is None or isinstance(e.get("ours"), (int, float))}
    return {"status": "ok", "metrics": metrics, "info": {}, "files": files}


def _check_output(out: Any, trial: str) -> dict[str, Any]:
    if not (isinstance(out, dict) and out.get("status") in ("ok", "diverged") and isinstance(out.get("metrics"), dict)):
        raise TypeError(f"trial {trial!r} must return a dict with status 'ok'|'diverged' and a metrics dict, "
                        f"got {out!r:.200}")
    for k, v in out["metrics"].items():
        if not (v is None or isinstance(v, (int, float, str))):
            raise TypeError(f"metric {k!r} of trial {trial!r} must be a number, string or None, got {v!r:.80}")
    for rel, data in (out.get("files") or {}).items():
        parts = Path(rel).parts
        if not isinstance(data, bytes) or not parts or Path(rel).is_absolute() or ".." in parts or rel in (
                "result.json", "timing.json", "error.txt"):
            raise TypeError(f"trial {trial!r} returned file {rel!r}: files must map relative paths inside the trial "
                            f"folder (not result.json, timing.json, error.txt) to bytes")
    return {"status": out["status"], "metrics": dict(out["metrics"]), "info": dict(out.get("info") or {}),
            "files": dict(out.get("files") or {})}


def execute(task: dict[str, Any]) -> dict[str, Any]:
    """Run one task ``{"id", "trial", "config", "seed", "threads", "quick"}`` on this worker.

    Returns the trial's output plus ``id``, ``seconds`` and, for a failure, ``error`` (``"Type: message"``)
    and ``traceback``.
    """
    t0, started, cpu = time.perf_counter(), time.time(), time.process_time()
    set_threads(int(task["threads"]))
    trial, config, seed = task["trial"], dict(task["config"]), int(task["seed"])
    try:
        if trial == "trainability":
            from .trainability import run

            out = run(config, seed)
        elif ":" in trial:
            out = resolve(trial)(config, seed)  # type: ignore[misc]
        else:
            out = _run_experiment(trial, config, seed, bool(task.get("quick")))
        out = _check_output(out, trial)
    except Exception as exc:  # noqa: BLE001 — a failing trial is a result of the sweep
        out = {"status": "failed", "metrics": {}, "info": {}, "files": {},
               "error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
    for k, v in list(out["metrics"].items()):  # NumPy scalars → Python numbers (JSON, parquet)
        if hasattr(v, "item"):
            out["metrics"][k] = v.item()
    out["id"] = task["id"]
    out["seconds"], out["started"] = time.perf_counter() - t0, started
    out["cpu_seconds"] = time.process_time() - cpu
    return out


def is_finite_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
