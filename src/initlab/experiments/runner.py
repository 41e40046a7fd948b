"""Run an experiment into its run directory (format in docs/CONTRACTS.md), atomically.

``run(name, …)`` resolves the typed config and builds the directory in a uniquely named temporary
sibling (``.NAME.<random>.tmp``, so runs into one folder never share one). There it

1. **measures**: the experiment's ``measure(cfg, ctx)`` fills a :class:`RunContext`;
2. **writes** ``config.json``, ``summary.json`` (sorted keys, numbers rounded to 10 significant digits,
   no timestamps: the same seed gives the same bytes), ``metrics.csv``, ``history.npz`` and
   ``findings.json`` when probes ran, ``arrays.npz`` when the figures need arrays no other file holds,
   and the experiment's text files — every one through :mod:`initlab.formats`' atomic writers;
3. **draws** ``figures/*.png`` from those files alone (:func:`initlab.experiments.figures.redraw`, the
   same code as ``initlab report RUN --redraw``);
4. writes ``report.html`` with the HTML renderer that ``import initlab`` registers in
   :mod:`initlab.formats` (the report sits above the experiments, which never import it);

then renames it into place. An existing directory is refused unless ``overwrite=True``; a failing
experiment leaves nothing behind.
"""
from __future__ import annotations

import contextlib
import csv
import dataclasses
import datetime
import errno
import hashlib
import io
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
import torch

from .. import formats
from ..formats import FORMAT_VERSION, HTMLReportMixin, fmt
from ..validate import non_negative_int
from . import figures
from .context import RunContext
from ..train import show_progress
from .registry import Experiment, get, names

__all__ = ["run", "run_all", "Result", "write_index_md", "FORMAT_VERSION", "config_hash", "git_state"]


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
    report: Path | None = None  # report.html, when it was written

    def table(self) -> str:
        """The headline numbers, published beside ours."""
        rows = [("key", "ours", "published", "")]
        for key, e in self.summary.items():
            ref = e.get("reference")
            pub = ""
            if ref:
                tol = f" ×/÷{ref['factor']:g}" if ref.get("factor") else (
                    f" ± {ref['tolerance']:.3g}" if ref.get("tolerance") else "")
                pub = f"{fmt(ref['value'])}{tol}"
            mark = {True: "agree", False: "DISAGREE", None: ""}[e.get("agree")] if ref else ""
            rows.append((key, fmt(e["ours"]), pub, mark))
        w = [max(len(r[i]) for r in rows) for i in range(4)]
        head = f"{self.name} ({'quick, ' if self.quick else ''}seed {self.seed}, {self.seconds:.1f} s) → {self.out}"
        return "\n".join([head] + ["  " + "  ".join(c.ljust(w[i]) for i, c in enumerate(r)).rstrip() for r in rows])


# --- provenance -------------------------------------------------------------------------------------------
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


# --- writing the run directory ------------------------------------------------------------------------
def _write(ctx: RunContext, exp: Experiment, config: Any, seconds: float) -> None:
    """Every file of the run directory except the figures and the report (formats' atomic writers)."""
    d = ctx.dir
    cfg = {"format_version": FORMAT_VERSION, "experiment": exp.name, "description": exp.description,
           "reference": exp.reference, "seed": ctx.seed, "quick": ctx.quick, "config": asdict(config),
           "config_hash": config_hash(config), "versions": formats.versions(), "git": git_state(),
           "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
           "seconds": round(seconds, 1)}
    formats.write_json(d / formats.CONFIG, cfg)
    formats.write_json(d / formats.SUMMARY, ctx.entries)
    formats.write_text(d / formats.METRICS, _metrics_csv(ctx.rows))
    if ctx.watched:
        formats.write_npz(d / formats.HISTORY, ctx.watched)
    if ctx.variant_findings:
        formats.write_json(d / formats.FINDINGS, {"variants": ctx.variant_findings}, default=_json_default)
    if ctx.extra:
        formats.write_npz(d / formats.ARRAYS, ctx.extra)
    for name, text in ctx.texts.items():
        formats.write_text(d / name, text)


def _metrics_csv(rows: Iterable[tuple[int, str, str, str, float]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["step", "variant", "split", "metric", "value"])
    for step, variant, split, metric, value in rows:
        w.writerow([step, variant, split, metric, repr(value)])
    return buf.getvalue()


def _json_default(o: Any) -> Any:
    if isinstance(o, (np.integer, np.floating, np.bool_)):
        return o.item()
    if isinstance(o, (np.ndarray, tuple)):
        return list(o)
    return str(o)


def _write_report(run_dir: Path) -> Path | None:
    """``RUN_DIR/report.html`` by the registered renderer; a warning (not an error) when it fails:
    the run directory itself is complete."""
    try:
        return Path(formats.to_html(run_dir, run_dir / formats.REPORT))
    except Exception as exc:  # noqa: BLE001 — the measured files must survive a broken renderer
        print(f"initlab: warning: {formats.REPORT} not written: {exc}", file=sys.stderr)
        return None


def _move_into_place(tmp: Path, out: Path, overwrite: bool) -> None:
    """Rename the finished directory ``tmp`` to ``out``; an ``out`` that appeared meanwhile (another
    run) is moved aside and removed when ``overwrite``, else a ``ValueError``."""
    while True:
        try:
            os.replace(tmp, out)  # atomic when out is absent (or an empty directory)
            return
        except OSError as exc:
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST, errno.EISDIR) or not out.exists():
                raise
        if not overwrite:
            raise ValueError(f"run directory {str(out)!r} exists; pass overwrite=True (--overwrite) to replace it")
        old = out.parent / f".{out.name}.{secrets.token_hex(6)}.old"
        try:
            os.replace(out, old)
        except FileNotFoundError:  # another run moved it first: try again
            continue
        shutil.rmtree(old, ignore_errors=True)


# --- running ---------------------------------------------------------------------------------------------
def _measure(exp: Experiment, config: Any, seed: int, quick: bool, tmp: Path, quiet: bool) -> RunContext:
    threads = torch.get_num_threads()
    try:
        # one intra-op thread: these networks are small (threads cost more than they give) and the
        # numbers, hence summary.json's bytes, must not depend on the machine's core count
        torch.set_num_threads(1)
        ctx = RunContext(exp, config, seed, quick, tmp, quiet)
        with contextlib.nullcontext() if quiet else show_progress(exp.name):  # a bar per training run
            exp.measure(config, ctx)
        return ctx
    finally:
        torch.set_num_threads(threads)


def run(name: str, *, quick: bool = False, seed: int = 0, out: str | Path | None = None,
        overwrite: bool = False, quiet: bool = False, report: bool = True, **overrides: Any) -> Result:
    """Run experiment ``name`` into ``out`` (default ``runs/NAME``) and return its :class:`Result`.

    ``overrides`` set config fields (typed; strings are parsed as by ``--set``). ``report=False``
    skips ``report.html``. Raises ``ValueError`` for an unknown experiment or setting, a badly typed
    value or an existing ``out`` without ``overwrite`` — before anything is written.
    """
    exp = get(name)
    seed = non_negative_int("seed", seed)
    config = exp.make_config(quick, overrides)
    out = Path(out) if out is not None else Path("runs") / exp.name
    if out.exists() and not overwrite:
        raise ValueError(f"run directory {str(out)!r} exists; pass overwrite=True (--overwrite) to replace it")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp"))
    os.chmod(tmp, 0o777 & ~formats.UMASK)  # mkdtemp's 0700 would make the run private to its writer
    t0 = time.perf_counter()
    try:
        ctx = _measure(exp, config, seed, quick, tmp, quiet)
        _write(ctx, exp, config, time.perf_counter() - t0)
        drawn = figures.redraw(tmp)
        page = _write_report(tmp) if report else None
        _move_into_place(tmp, out, overwrite)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    result = Result(exp.name, out, seed, quick, asdict(config), ctx.entries,
                    [out / formats.FIGURES / p.name for p in drawn], time.perf_counter() - t0,
                    out / formats.REPORT if page is not None else None)
    if not quiet:
        print(result.table(), flush=True)
    return result


def write_index_md(out_dir: Path, results: list[Result], *, quick: bool, seed: int) -> Path:
    """``OUT/index.md``: every run with its description, reference, headline table and figures."""
    lines = [f"# initlab experiments ({'quick' if quick else 'default'} sizes, seed {seed})", ""]
    lines += ["| experiment | reproduces | summary |", "|---|---|---|"]
    for r in results:
        exp = get(r.name)
        lines.append(f"| [{r.name}](#{r.name}) | {exp.reference} | [{formats.SUMMARY}]({r.name}/{formats.SUMMARY}) |")
    for r in results:
        exp = get(r.name)
        rel = Path(r.name)
        links = " · ".join(f"[{f}]({(rel / f).as_posix()})" for f in (formats.CONFIG, formats.SUMMARY, formats.METRICS))
        lines += ["", f"## {r.name}", "", exp.description, "", f"Reproduces: {exp.reference}", "", links, ""]
        lines += ["| key | ours | published | agree |", "|---|---|---|---|"]
        for key, e in r.summary.items():
            ref = e.get("reference") or {}
            pub = fmt(ref.get("value")) if ref else ""
            agree = {True: "yes", False: "**no**", None: ""}[e.get("agree")] if ref else ""
            lines.append(f"| {key} | {fmt(e['ours'])} | {pub} | {agree} |")
        lines.append("")
        for fig in r.figures:
            lines.append(f"![{fig.stem}]({(rel / formats.FIGURES / fig.name).as_posix()})")
    return formats.write_text(out_dir / formats.INDEX_MD, "\n".join(lines) + "\n")


def run_all(*, quick: bool = False, seed: int = 0, out: str | Path = "runs", overwrite: bool = False,
            quiet: bool = False, report: bool = True,
            index_writers: Iterable[Callable[[Path], Any]] = ()) -> list[Result]:
    """Every registered experiment into ``out/NAME``, then ``out/index.md``.

    ``report``: each run writes its report.html (``False`` when an index writer rewrites them all, as
    the CLI's HTML index does). ``index_writers``: further index builders called with ``out`` after
    index.md (the HTML report's ``write_index``; the CLI passes it). An experiment that fails is
    reported and skipped; the others still run; a ``RuntimeError`` naming the failures is raised at
    the end.
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
            results.append(run(n, quick=quick, seed=seed, out=out / n, overwrite=overwrite, quiet=quiet,
                               report=report))
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
