"""Normalize what a report shows from any source into one plain structure, :class:`ReportData`.

Sources: a run directory (docs/CONTRACTS.md, format_version 1), a run ``Result`` (anything with a
``run_dir``/``path``/``out`` attribute naming one), a Watcher history (``Watcher``, its ``.arrays()``
dict, or a ``.npz`` from ``Watcher.save``) and an ``Inspection``. Only reads; never writes.

A run directory is read through :mod:`initlab.formats`' names (``CONFIG``, ``SUMMARY``, ``METRICS``,
``HISTORY``, ``FINDINGS``, ``FIGURES``, ``SUPPORTED_FORMATS``, ``REPORT_STATS``); objects (Result,
Watcher, Inspection) are read by their attributes, so the report imports neither the experiments,
the probes nor torch.
"""
from __future__ import annotations

import csv
import json
import math
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

from initlab import formats
from initlab.formats import CONFIG, FIGURES, FINDINGS, HISTORY, METRICS, REPORT_STATS, SUMMARY

__all__ = ["ReportData", "VariantData", "LayerHist", "load", "load_run_dir", "run_dir_of", "read_metrics",
           "variants_from_arrays", "check_format", "verdict", "recorded", "common_bins", "natural_key",
           "layer_union", "headline_figure"]


@dataclass
class LayerHist:
    """One layer's activation histograms over snapshots: counts (H, B), edges (H, B+1)."""
    counts: np.ndarray
    edges: np.ndarray


@dataclass
class VariantData:
    """One variant's per-layer history: ``stats[name]`` is (S, L) with NaN where not recorded."""
    name: str
    layers: list[str]
    steps: np.ndarray                     # (S,) int
    stats: dict[str, np.ndarray]          # name -> (S, L) float64
    hist_steps: np.ndarray                # (H,) int
    hists: list[LayerHist | None]         # per layer; None where no histogram was recorded
    predicted_std: np.ndarray | None = None  # (L,) theory's prediction, when there is one


@dataclass
class ReportData:
    kind: str                              # "run" | "watcher" | "inspection"
    title: str
    meta: dict[str, Any] = field(default_factory=dict)  # experiment, description, reference, seed, quick, format_version
    summary: dict[str, Any] = field(default_factory=dict)
    metrics: list[tuple[int, str, str, str, float]] = field(default_factory=list)  # (step, variant, split, metric, value)
    variants: list[VariantData] = field(default_factory=list)
    findings: dict[str, list[dict]] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, Any] = field(default_factory=dict)
    figures: list[str] = field(default_factory=list)  # paths relative to source_dir
    source_dir: Path | None = None
    # transformer records of an Inspection (plain dicts, as Inspection.to_dict() gives them): "blocks"
    # (residual stream per block call), "attention" (per call, per head), "logits", "notes"
    transformer: dict[str, Any] = field(default_factory=dict)


# ----------------------------------------------------------------------------------- dispatch
def run_dir_of(obj: Any) -> Path | None:
    """The run directory an object names (a path, or a Result with run_dir/path/out), else None."""
    if isinstance(obj, (str, Path)):
        p = Path(obj)
        return p if p.is_dir() else None
    for attr in ("run_dir", "path", "out", "directory", "dir"):
        v = getattr(obj, attr, None)
        if isinstance(v, (str, Path)) and Path(v).is_dir():
            return Path(v)
    return None


def load(obj: Any, *, title: str | None = None) -> ReportData:
    """Normalize ``obj`` (run dir / Result / Watcher / arrays dict / .npz path / Inspection)."""
    if isinstance(obj, ReportData):
        return obj
    d = run_dir_of(obj)
    if d is not None:
        return load_run_dir(d)
    if isinstance(obj, (str, Path)):
        p = Path(obj)
        if p.suffix == ".npz" and p.is_file():
            with np.load(p, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
            return _from_arrays(arrays, "watcher", title or p.stem, findings=None)
        raise ValueError(f"report: {str(obj)!r} is neither a run directory nor a .npz history file")
    if isinstance(obj, Mapping):
        return _from_arrays(dict(obj), "watcher", title or "Watcher history", findings=None)
    if callable(getattr(obj, "arrays", None)):       # a Watcher
        return _from_arrays(obj.arrays(), "watcher", title or "Watcher history",
                            findings=_findings_of(obj))
    if hasattr(obj, "layers") and callable(getattr(obj, "findings", None)):  # an Inspection
        return _from_inspection(obj, title or "Inspection")
    raise ValueError(
        f"report: cannot make a report from {type(obj).__name__}; expected a run directory (path), a "
        "run Result, an Inspection, a Watcher, its .arrays() dict or a .npz history file")


def _findings_of(obj: Any) -> list[dict] | None:
    f = getattr(obj, "findings", None)
    if not callable(f):
        return None
    try:
        return [x.to_dict() if hasattr(x, "to_dict") else dict(x) for x in f()]
    except Exception as exc:  # a report must not fail because a probe's analysis did
        warnings.warn(f"report: could not compute findings: {exc}", stacklevel=3)
        return None


# ------------------------------------------------------------------------------ run directory
def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"report: {path} is not valid JSON ({exc})") from None


def check_format(version: Any, where: str) -> None:
    """Raise a clear ValueError for a format_version this initlab cannot read."""
    if version is None:
        warnings.warn(f"report: {where} has no format_version; reading it as format_version 1",
                      stacklevel=3)
        return
    try:
        v = int(np.asarray(version).reshape(-1)[0])
    except (TypeError, ValueError, IndexError):
        raise ValueError(f"report: {where} has format_version {version!r}; this initlab reads "
                         f"format_version {', '.join(map(str, formats.SUPPORTED_FORMATS))}") from None
    if v not in formats.SUPPORTED_FORMATS:
        newer = v > max(formats.SUPPORTED_FORMATS)
        raise ValueError(
            f"report: {where} has format_version {v}; this initlab reads format_version "
            f"{', '.join(map(str, formats.SUPPORTED_FORMATS))}"
            + (" (written by a newer initlab: upgrade initlab to render it)" if newer else ""))


def load_run_dir(run_dir: str | Path) -> ReportData:
    """Read a run directory (CONTRACTS.md) into ReportData. Missing optional files are skipped."""
    d = Path(run_dir)
    if not d.is_dir():
        raise ValueError(f"report: run directory {str(d)!r} does not exist")
    if not any((d / f).exists() for f in formats.RUN_FILES):
        raise ValueError(f"report: {str(d)!r} is not a run directory "
                         f"(none of {', '.join(formats.RUN_FILES)})")
    cfg = _read_json(d / CONFIG) if (d / CONFIG).is_file() else {}
    if not isinstance(cfg, dict):
        raise ValueError(f"report: {d / CONFIG} must hold a JSON object")
    check_format(cfg.get("format_version"), str(d / CONFIG))
    config = cfg.get("config") if isinstance(cfg.get("config"), dict) else {}
    experiment = str(cfg.get("experiment") or d.name)
    meta = {
        "experiment": experiment,
        "description": _first_text((cfg, config), ("description", "question")),
        "reference": _first_text((cfg, config), ("reference", "references")),
        "seed": cfg.get("seed"), "quick": cfg.get("quick"),
        "format_version": cfg.get("format_version"),
    }
    summary = _read_json(d / SUMMARY) if (d / SUMMARY).is_file() else {}
    if not isinstance(summary, dict):
        raise ValueError(f"report: {d / SUMMARY} must hold a JSON object")
    findings_raw = _read_json(d / FINDINGS) if (d / FINDINGS).is_file() else {}
    findings = findings_raw.get("variants", {}) if isinstance(findings_raw, dict) else {}
    variants: list[VariantData] = []
    if (d / HISTORY).is_file():
        with np.load(d / HISTORY, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        variants = variants_from_arrays(arrays, str(d / HISTORY))
    figures = sorted((p.relative_to(d).as_posix() for p in (d / FIGURES).glob("*.png")), key=natural_key) \
        if (d / FIGURES).is_dir() else []
    meta["headline_figure"] = headline_figure(figures, experiment, cfg.get("headline_figure"))
    return ReportData(kind="run", title=experiment, meta=meta, summary=summary,
                      metrics=read_metrics(d / METRICS) if (d / METRICS).is_file() else [],
                      variants=variants, findings={str(k): list(v) for k, v in findings.items()},
                      config=config, versions=dict(cfg.get("versions") or {}), figures=figures,
                      source_dir=d)


def headline_figure(figures: list[str], experiment: str, declared: Any = None) -> str | None:
    """The figure a run's page opens with: the one config.json names (``"headline_figure"``: a file
    name or stem under figures/), else the one named after the experiment, else the first.

    >>> headline_figure(["figures/a.png", "figures/zero-init.png"], "zero-init")
    'figures/zero-init.png'
    >>> headline_figure(["figures/a.png", "figures/b.png"], "x", declared="b"), headline_figure([], "x")
    ('figures/b.png', None)
    """
    by_stem = {Path(f).stem: f for f in figures}
    if isinstance(declared, str) and declared:
        name = Path(declared).name
        hit = by_stem.get(Path(name).stem)
        if hit is not None:
            return hit
        warnings.warn(f"report: config.json names headline_figure {declared!r}, which is not among "
                      f"{sorted(by_stem, key=natural_key)}", stacklevel=3)
    return by_stem.get(experiment, figures[0] if figures else None)


def _first_text(dicts: tuple[dict, ...], keys: tuple[str, ...]) -> str | None:
    """The first non-empty text under one of ``keys`` in ``dicts`` (a list or dict is joined)."""
    for k in keys:
        for dct in dicts:
            v = dct.get(k)
            if isinstance(v, str) and v.strip():
                return v.strip()
            if isinstance(v, list) and v:
                return "; ".join(map(str, v))
            if isinstance(v, dict) and v:   # e.g. {"title": ..., "url": ...}
                return ", ".join(str(x) for x in v.values())
    return None


def read_metrics(path: str | Path) -> list[tuple[int, str, str, str, float]]:
    """Rows (step, variant, split, metric, value) of a long-form metrics.csv."""
    rows = []
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        need = {"step", "variant", "split", "metric", "value"}
        if reader.fieldnames is None or not need <= set(reader.fieldnames):
            raise ValueError(f"report: {path} must have the header step,variant,split,metric,value; "
                             f"got {reader.fieldnames}")
        for r in reader:
            try:
                value = float(r["value"]) if r["value"] not in ("", None) else math.nan
                rows.append((int(float(r["step"])), r["variant"], r["split"], r["metric"], value))
            except ValueError:
                continue  # a malformed row is skipped, not fatal
    return rows


# ---------------------------------------------------------------------------- Watcher arrays
def variants_from_arrays(arrays: Mapping[str, np.ndarray], where: str = "history") -> list[VariantData]:
    """Split ``{"variant/name": array}`` (or unprefixed names: one variant "model") into variants."""
    groups: dict[str, dict[str, np.ndarray]] = {}
    for key, arr in arrays.items():
        variant, _, name = key.rpartition("/")
        groups.setdefault(variant or "model", {})[name] = np.asarray(arr)
    out = []
    for variant, arrs in groups.items():
        if "layers" not in arrs:
            continue
        if "format_version" in arrs:
            check_format(arrs["format_version"], f"{where} ({variant})")
        out.append(_variant(variant, arrs))
    return out


def _variant(name: str, a: dict[str, np.ndarray]) -> VariantData:
    layers = [str(x) for x in np.asarray(a["layers"]).reshape(-1)]
    L = len(layers)
    steps = np.asarray(a.get("steps", np.zeros(0)), dtype=np.int64).reshape(-1)
    stats = {}
    for s in REPORT_STATS:
        if s in a:
            v = np.asarray(a[s], dtype=np.float64)
            if v.ndim == 2 and v.shape == (len(steps), L):
                stats[s] = v
    hist_steps = np.asarray(a.get("hist_steps", np.zeros(0)), dtype=np.int64).reshape(-1)
    hists: list[LayerHist | None] = [None] * L
    c, e = a.get("hist_counts"), a.get("hist_edges")
    if c is not None and e is not None and c.ndim == 3 and e.ndim == 3 and c.shape[:2] == (len(hist_steps), L):
        c = np.asarray(c, dtype=np.float64)
        e = np.asarray(e, dtype=np.float64)
        for j in range(L):
            if np.isfinite(c[:, j]).any():
                hists[j] = LayerHist(c[:, j], e[:, j])
    pred = a.get("predicted_std")
    pred = np.asarray(pred, dtype=np.float64).reshape(-1) if pred is not None else None
    if pred is not None and len(pred) != L:
        pred = None
    return VariantData(name, layers, steps, stats, hist_steps, hists, pred)


def _from_arrays(arrays: Mapping[str, Any], kind: str, title: str, findings: list[dict] | None) -> ReportData:
    arrays = {k: np.asarray(v) for k, v in arrays.items()}
    variants = variants_from_arrays(arrays, title)
    if not variants:
        raise ValueError(f"report: {title} has no 'layers' array; expected the Watcher history "
                         "format of docs/CONTRACTS.md")
    f = {variants[0].name: findings} if findings else {}
    return ReportData(kind=kind, title=title, variants=variants, findings=f, versions=formats.versions(),
                      transformer=stream_records(arrays))


def stream_records(arrays: Mapping[str, Any], row: int = -1) -> dict[str, Any]:
    """A Watcher's residual stream (``stream_*`` arrays, unprefixed) at one recorded step (default the
    last) as the ``blocks`` records of an Inspection's ({} when there is none)."""
    steps = arrays.get("stream_steps")
    if steps is None or len(np.asarray(steps).reshape(-1)) == 0:
        return {}
    names = [str(n) for n in np.asarray(arrays["stream_blocks"]).reshape(-1)]
    step = int(np.asarray(steps).reshape(-1)[row])
    cols = {k: np.asarray(arrays[k], dtype=np.float64)[row] for k in ("stream_input_std", "stream_std", "branch_ratio")}
    return {"blocks": [{"name": n, "input_std": float(cols["stream_input_std"][i]), "std": float(cols["stream_std"][i]),
                        "branch_ratio": float(cols["branch_ratio"][i])} for i, n in enumerate(names)],
            "notes": [f"residual stream at step {step} (watch records no branch std, stream gradient or attention)"]}


# -------------------------------------------------------------------------------- Inspection
def _from_inspection(insp: Any, title: str) -> ReportData:
    layers = list(insp.layers)
    names = [str(getattr(s, "name", f"layer{i}")) for i, s in enumerate(layers)]
    stats = {}
    for s in REPORT_STATS:
        col = [getattr(ls, s, None) for ls in layers]
        if any(v is not None for v in col):
            stats[s] = np.array([[math.nan if v is None else float(v) for v in col]])
    hists: list[LayerHist | None] = []
    for ls in layers:
        c, e = getattr(ls, "hist_counts", None), getattr(ls, "hist_edges", None)
        if c is None or e is None:
            hists.append(None)
            continue
        c = _np(c).reshape(1, -1)
        e = _np(e).reshape(1, -1)
        hists.append(LayerHist(c, e) if e.shape[1] == c.shape[1] + 1 else None)
    v = VariantData("model", names, np.array([0]), stats, np.array([0]), hists)
    f = _findings_of(insp)
    return ReportData(kind="inspection", title=title, variants=[v], findings={"model": f} if f else {},
                      versions=formats.versions(), transformer=transformer_records(insp))


def transformer_records(insp: Any) -> dict[str, Any]:
    """The residual-stream, attention and logit records of an Inspection as plain dicts ({} when it has
    none): read through its ``to_dict()``, so the report never imports the probes."""
    to_dict = getattr(insp, "to_dict", None)
    d = to_dict() if callable(to_dict) else {}
    out = {k: d.get(k) for k in ("blocks", "attention", "logits", "notes")}
    if not (out["blocks"] or out["attention"] or out["logits"]):
        return {}
    return {k: v for k, v in out.items() if v}


def _np(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


# ----------------------------------------------------------------------------------- order
def natural_key(text: Any) -> tuple:
    """Sort key that reads digit runs as numbers: ``layer2`` before ``layer10``.

    >>> sorted(["layer10", "layer2", "Layer1", "fc_out"], key=natural_key)
    ['fc_out', 'Layer1', 'layer2', 'layer10']
    """
    parts = re.split(r"(\d+)", str(text))
    return tuple((0, int(p), p) if p.isdigit() else (1, p.casefold(), p) for p in parts if p)


def layer_union(variants: Iterable[VariantData]) -> list[str]:
    """Every variant's layer names once, in network order: the longest variant's list, with the
    names only other variants have inserted after the last name they share.

    >>> a = VariantData("plain", ["fc1", "act1", "fc2"], np.zeros(0), {}, np.zeros(0), [])
    >>> b = VariantData("bn", ["fc1", "bn1", "act1", "fc2", "bn2"], np.zeros(0), {}, np.zeros(0), [])
    >>> layer_union([a, b])
    ['fc1', 'bn1', 'act1', 'fc2', 'bn2']
    """
    vs = sorted(variants, key=lambda v: -len(v.layers))   # stable: the first longest leads
    out: list[str] = list(vs[0].layers) if vs else []
    for v in vs[1:]:
        at = -1
        for name in v.layers:
            if name in out:
                at = out.index(name)
            else:
                at += 1
                out.insert(at, name)
    return out


# ------------------------------------------------------------------------------- comparisons
def verdict(entry: Mapping[str, Any]) -> str:
    """'agree' | 'disagree' | 'no reference' | 'not measured' for one summary.json entry.

    The entry's ``agree`` is the runner's verdict (docs/CONTRACTS.md) and is used as written; an
    entry without one (written by hand) is judged by the same rule,
    :func:`initlab.formats.agrees`.
    """
    ref = entry.get("reference") if isinstance(entry, Mapping) else None
    if not isinstance(ref, Mapping) or ref.get("value") is None:
        return "no reference"
    agree = entry.get("agree")
    if not isinstance(agree, bool):
        ours = entry.get("ours")
        if not isinstance(ours, (int, float)) or not math.isfinite(ours):
            return "not measured"
        try:
            agree = formats.agrees(float(ours), dict(ref))
        except (TypeError, ValueError, ZeroDivisionError):
            return "no reference"
    return "agree" if agree else "disagree"


def recorded(v: VariantData, stat: str) -> tuple[np.ndarray, np.ndarray]:
    """(steps (R,), values (R, L)) of the rows where ``stat`` was recorded for some layer.

    Extended statistics (dead/saturated fractions, min/max, ...) are recorded only every
    ``hist_every`` steps; their other rows are NaN and are dropped here.
    """
    m = v.stats[stat]
    keep = np.isfinite(m).any(axis=1)
    return v.steps[keep], m[keep]


# ---------------------------------------------------------------------------- histogram image
def common_bins(h: LayerHist, bins: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Rebin every snapshot of one layer onto one grid spanning all snapshots' edges.

    Returns (image (bins, H) of counts, edges (bins+1,)): the "colorful dimension" (fastai) matrix.
    Each source bin's count is spread over the target bins in proportion to overlap.
    """
    e = h.edges
    finite = e[np.isfinite(e)]
    H = h.counts.shape[0]
    if finite.size == 0:
        return np.zeros((bins, H)), np.linspace(0.0, 1.0, bins + 1)
    lo, hi = float(finite.min()), float(finite.max())
    if hi <= lo:
        hi = lo + 1.0
    grid = np.linspace(lo, hi, bins + 1)
    img = np.zeros((bins, H))
    for t in range(H):
        c, ed = h.counts[t], e[t]
        if not (np.isfinite(c).all() and np.isfinite(ed).all()):
            continue
        # cumulative count at each grid edge, piecewise linear inside source bins
        cum = np.concatenate([[0.0], np.cumsum(c)])
        at = np.interp(grid, ed, cum, left=0.0, right=cum[-1])
        img[:, t] = np.diff(at)
    return img, grid
