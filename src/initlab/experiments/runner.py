"""Run an experiment into its run directory (format in docs/CONTRACTS.md), atomically.

``run(name, …)`` resolves the typed config, builds the directory in a temporary sibling
(``.NAME.tmp-PID``), lets the experiment fill a :class:`RunContext`, writes ``config.json``,
``summary.json`` (sorted keys, numbers rounded to 10 significant digits, no timestamps: the same seed
gives the same bytes), ``metrics.csv``, ``history.npz``/``findings.json`` when probes ran and
``figures/*.png``, then renames it into place. An existing directory is refused unless
``overwrite=True``; a failing experiment leaves nothing behind.
"""
from __future__ import annotations

import csv
import dataclasses
import datetime
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import traceback
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
import torch

from .. import formats
from ..validate import non_negative_int
from ..formats import HTMLReportMixin, agrees
from ..formats import round_number as _round
from .registry import Experiment, get, names

__all__ = ["run", "run_all", "Result", "RunContext", "write_index_md", "FORMAT_VERSION", "config_hash", "git_state"]

FORMAT_VERSION = 1


class RunContext:
    """What an experiment writes into: metrics, summary entries, figures, Watcher arrays, findings.

    ``seed``/``quick``/``config`` are the run's settings; ``generator(*key)`` gives an independent
    seeded ``torch.Generator`` per purpose (same seed and key → same numbers).
    """

    def __init__(self, exp: Experiment, config: Any, seed: int, quick: bool, directory: Path, quiet: bool):
        self.experiment, self.config, self.seed, self.quick = exp, config, seed, quick
        self.dir, self.quiet = directory, quiet
        self.figures_dir = directory / "figures"
        self.rows: list[tuple[int, str, str, str, float]] = []
        self.entries: dict[str, dict[str, Any]] = {}
        self.arrays: dict[str, np.ndarray] = {}
        self.variant_findings: dict[str, list[dict]] = {}
        self.figures: list[Path] = []

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
            self.arrays[f"{variant}/{k}"] = np.asarray(v)

    def findings(self, variant: str, findings: Iterable[Any]) -> None:
        self.variant_findings[variant] = [f.to_dict() if hasattr(f, "to_dict") else dict(f) for f in findings]

    def summary(self, key: str, ours: Any, *, reference: Any = None, tolerance: float | None = None,
                factor: float | None = None, source: str | None = None, description: str | None = None) -> None:
        """One headline number; ``reference`` is the published value (``tolerance`` absolute, or
        ``factor``: agreement within ×/÷ factor)."""
        desc = description or self.experiment.summary_keys.get(key)
        if desc is None:
            raise KeyError(f"summary key {key!r} of experiment {self.experiment.name!r} is not documented "
                           f"in its summary_keys")
        entry: dict[str, Any] = {"ours": _round(ours), "description": desc}
        if reference is not None:
            ref = {"value": _round(reference), "tolerance": _round(tolerance), "source": source or ""}
            if factor is not None:
                ref["factor"] = _round(factor)
            entry["reference"] = ref
            entry["agree"] = agrees(entry["ours"], ref)
        self.entries[key] = entry

    def figure(self, name: str, fig: Any) -> Path:
        """Save a matplotlib Figure as ``figures/NAME.png``."""
        self.figures_dir.mkdir(exist_ok=True)
        path = self.figures_dir / f"{name}.png"
        fig.savefig(path, dpi=100, metadata={"Software": None})
        self.figures.append(path)
        return path


def new_figure(ncols: int = 1, nrows: int = 1, *, size: tuple[float, float] = (5.0, 3.8), **kw: Any):
    """A matplotlib Figure (Agg, no pyplot state) and its axes array ``(nrows, ncols)``."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(size[0] * ncols, size[1] * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, **kw)
    return fig, axes


@dataclass
class Result(HTMLReportMixin):
    """A finished run: where it is and what it found."""

    name: str
    out: Path
    seed: int
    quick: bool
    config: dict[str, Any]
    summary: dict[str, dict[str, Any]]
    figures: list[Path] = field(default_factory=list)
    seconds: float = 0.0

    def table(self) -> str:
        """The headline numbers, published beside ours."""
        rows = [("key", "ours", "published", "")]
        for key, e in self.summary.items():
            ref = e.get("reference")
            pub = ""
            if ref:
                tol = f" ×/÷{ref['factor']:g}" if ref.get("factor") else (
                    f" ± {ref['tolerance']:.3g}" if ref.get("tolerance") else "")
                pub = f"{formats.fmt(ref['value'])}{tol}"
            mark = {True: "agree", False: "DISAGREE", None: ""}[e.get("agree")] if ref else ""
            rows.append((key, formats.fmt(e["ours"]), pub, mark))
        w = [max(len(r[i]) for r in rows) for i in range(4)]
        head = f"{self.name} ({'quick, ' if self.quick else ''}seed {self.seed}, {self.seconds:.1f} s) → {self.out}"
        return "\n".join([head] + ["  " + "  ".join(c.ljust(w[i]) for i, c in enumerate(r)).rstrip() for r in rows])


def config_hash(config: Any) -> str:
    """sha256 (hex) of the canonical JSON of a resolved config: ``json.dumps(asdict(config) or the dict,
    sort_keys=True, separators=(",", ":"))`` (tuples and lists hash alike, as they read back from
    config.json). Same settings → same hash; any changed default → another.

    >>> from dataclasses import dataclass
    >>> @dataclass
    ... class Cfg:
    ...     steps: int = 100
    ...     lrs: tuple = (0.1, 0.3)
    >>> config_hash(Cfg()) == config_hash({"lrs": [0.1, 0.3], "steps": 100})
    True
    >>> config_hash(Cfg()) == config_hash(Cfg(steps=101))
    False
    >>> len(config_hash(Cfg()))
    64
    """
    values = asdict(config) if dataclasses.is_dataclass(config) else dict(config)
    text = json.dumps(values, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def git_state(path: str | Path | None = None) -> dict[str, Any]:
    """``{"commit": HEAD's sha or None, "dirty": tracked files changed (bool) or None}`` of the git
    checkout holding ``path`` (default: this package's source); None when not in a git checkout."""
    where = str(Path(path) if path is not None else Path(__file__).resolve().parent)

    def git(*args: str) -> str | None:
        try:
            p = subprocess.run(["git", "-C", where, *args], capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.SubprocessError):
            return None
        return p.stdout if p.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return {"commit": None, "dirty": None}
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit.strip(), "dirty": None if status is None else bool(status.strip())}


def _write(ctx: RunContext, exp: Experiment, config: Any, seconds: float) -> None:
    d = ctx.dir
    cfg = {"format_version": FORMAT_VERSION, "experiment": exp.name, "description": exp.description,
           "reference": exp.reference, "seed": ctx.seed, "quick": ctx.quick, "config": asdict(config),
           "config_hash": config_hash(config), "versions": formats.versions(), "git": git_state(),
           "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
           "seconds": round(seconds, 1)}
    (d / "config.json").write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    (d / "summary.json").write_text(json.dumps(ctx.entries, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    with open(d / "metrics.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["step", "variant", "split", "metric", "value"])
        for step, variant, split, metric, value in ctx.rows:
            w.writerow([step, variant, split, metric, repr(value)])
    if ctx.arrays:
        np.savez_compressed(d / "history.npz", **ctx.arrays)
    if ctx.variant_findings:
        (d / "findings.json").write_text(json.dumps({"variants": ctx.variant_findings}, indent=2, sort_keys=True,
                                                    default=_json_default) + "\n", encoding="utf-8")


def _json_default(o: Any) -> Any:
    if isinstance(o, (np.integer, np.floating, np.bool_)):
        return o.item()
    if isinstance(o, (np.ndarray, tuple)):
        return list(o)
    return str(o)


def run(name: str, *, quick: bool = False, seed: int = 0, out: str | Path | None = None,
        overwrite: bool = False, quiet: bool = False, **overrides: Any) -> Result:
    """Run experiment ``name`` into ``out`` (default ``runs/NAME``) and return its :class:`Result`.

    ``overrides`` set config fields (typed; strings are parsed as by ``--set``). Raises
    ``ValueError`` for an unknown experiment or setting, a badly typed value or an existing ``out``
    without ``overwrite`` — before anything is written.
    """
    exp = get(name)
    seed = non_negative_int("seed", seed)
    config = exp.make_config(quick, overrides)
    out = Path(out) if out is not None else Path("runs") / exp.name
    if out.exists() and not overwrite:
        raise ValueError(f"run directory {str(out)!r} exists; pass overwrite=True (--overwrite) to replace it")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    t0 = time.perf_counter()
    threads = torch.get_num_threads()
    try:
        # one intra-op thread: these networks are small (threads cost more than they give) and the
        # numbers, hence summary.json's bytes, must not depend on the machine's core count
        torch.set_num_threads(1)
        ctx = RunContext(exp, config, seed, quick, tmp, quiet)
        exp.run(config, ctx)
        _write(ctx, exp, config, time.perf_counter() - t0)
        if out.exists():
            old = out.parent / f".{out.name}.old-{os.getpid()}"
            os.replace(out, old)
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        torch.set_num_threads(threads)
    result = Result(exp.name, out, seed, quick, asdict(config), ctx.entries,
                    [out / "figures" / p.name for p in ctx.figures], time.perf_counter() - t0)
    if not quiet:
        print(result.table(), flush=True)
    return result


def write_index_md(out_dir: Path, results: list[Result], *, quick: bool, seed: int) -> Path:
    """``OUT/index.md``: every run with its description, reference, headline table and figures."""
    lines = [f"# initlab experiments ({'quick' if quick else 'default'} sizes, seed {seed})", ""]
    lines += ["| experiment | reproduces | summary |", "|---|---|---|"]
    for r in results:
        exp = get(r.name)
        lines.append(f"| [{r.name}](#{r.name}) | {exp.reference} | [summary.json]({r.name}/summary.json) |")
    for r in results:
        exp = get(r.name)
        rel = Path(r.name)
        lines += ["", f"## {r.name}", "", exp.description, "", f"Reproduces: {exp.reference}", "",
                  f"[config.json]({(rel / 'config.json').as_posix()}) · "
                  f"[summary.json]({(rel / 'summary.json').as_posix()}) · "
                  f"[metrics.csv]({(rel / 'metrics.csv').as_posix()})", ""]
        lines += ["| key | ours | published | agree |", "|---|---|---|---|"]
        for key, e in r.summary.items():
            ref = e.get("reference") or {}
            pub = formats.fmt(ref.get("value")) if ref else ""
            agree = {True: "yes", False: "**no**", None: ""}[e.get("agree")] if ref else ""
            lines.append(f"| {key} | {formats.fmt(e['ours'])} | {pub} | {agree} |")
        lines.append("")
        for fig in r.figures:
            lines.append(f"![{fig.stem}]({(rel / 'figures' / fig.name).as_posix()})")
    path = out_dir / "index.md"
    tmp = out_dir / f".index.md.tmp-{os.getpid()}"
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def run_all(*, quick: bool = False, seed: int = 0, out: str | Path = "runs", overwrite: bool = False,
            quiet: bool = False, index_writers: Iterable[Callable[[Path], Any]] = ()) -> list[Result]:
    """Every registered experiment into ``out/NAME``, then ``out/index.md``.

    ``index_writers``: further index builders called with ``out`` after index.md (the HTML report's
    ``write_index``; the CLI passes it). An experiment that fails is reported and skipped; the others
    still run; a ``RuntimeError`` naming the failures is raised at the end.
    """
    seed = non_negative_int("seed", seed)
    out = Path(out)
    todo = names()
    existing = [n for n in todo if (out / n).exists()]
    if existing and not overwrite:
        raise ValueError(f"run directories exist in {str(out)!r}: {', '.join(existing)}; "
                         f"pass overwrite=True (--overwrite) to replace them")
    results, failed = [], []
    for n in todo:
        try:
            results.append(run(n, quick=quick, seed=seed, out=out / n, overwrite=overwrite, quiet=quiet))
        except Exception:  # noqa: BLE001 — one broken experiment must not stop the tour
            failed.append(n)
            print(f"initlab: experiment {n!r} failed:\n{traceback.format_exc()}", file=sys.stderr)
    out.mkdir(parents=True, exist_ok=True)
    write_index_md(out, results, quick=quick, seed=seed)
    for writer in index_writers:
        writer(out)
    if failed:
        raise RuntimeError(f"{len(failed)} experiment(s) failed: {', '.join(failed)}")
    return results
