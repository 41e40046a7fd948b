"""The data a report page's script draws from: one JSON object, downsampled and rounded.

Histories are downsampled to at most ``MAX_STEPS`` steps per series and ``MAX_HISTS`` histogram
snapshots (fewer when layers × bins × variants would exceed ``STAT_BUDGET``/``HIST_BUDGET`` numbers),
the first and last step always kept; numbers keep 4–6 significant digits, NaN/Inf become ``null``.
The statistic names, labels and fractions come from :mod:`initlab.formats` (``LABELS``,
``FRACTIONS``), so the page, the figures and the CLI name a statistic the same way.

>>> pick(10, 4).tolist()
[0, 3, 6, 9]
>>> json_blob({"a": "</script>"})
'{"a":"\\\\u003c/script>"}'
"""
from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

from initlab import formats
from initlab.report.data import ReportData, VariantData, layer_union, natural_key, recorded

__all__ = ["payload", "pick", "json_blob", "variant_colors", "metrics_over_steps", "OKABE_ITO",
           "MAX_STEPS", "MAX_HISTS", "STAT_BUDGET", "HIST_BUDGET", "BY_LAYER", "OVER_STEPS"]

MAX_STEPS = 200     # points per series (steps of a curve, of a per-layer statistic)
MAX_HISTS = 50      # histogram snapshots per variant
# budgets over the whole page (numbers in the JSON), so wide or many-variant runs stay a few MB:
# fewer steps / snapshots are kept when layers x bins x variants would exceed them
STAT_BUDGET = 400_000
HIST_BUDGET = 400_000
# Okabe & Ito (2008), "Color Universal Design": safe for the common colour-vision deficiencies
OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
# the statistics drawn by layer (one chart each, one line per variant) and over steps (one line per layer)
BY_LAYER = ("std", "abs_mean", "grad_norm", "weight_grad_norm", "update_ratio", "dead_fraction",
            "saturated_fraction")
OVER_STEPS = ("std", "abs_mean", "grad_norm", "update_ratio", "dead_fraction", "saturated_fraction")


def pick(n: int, k: int) -> np.ndarray:
    """At most k indices of range(n), evenly spread, first and last always kept."""
    if n <= k:
        return np.arange(n)
    return np.unique(np.round(np.linspace(0, n - 1, k)).astype(int))


def _num(v: float, digits: int = 4) -> float | None:
    if v is None or not math.isfinite(v):
        return None
    return float(f"{v:.{digits}g}")


def _nums(a: Any, digits: int = 4) -> Any:
    """Nested lists of rounded numbers, NaN/inf → null (JSON has neither)."""
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 0:
        return _num(float(a), digits)
    flat = [_num(v, digits) for v in a.ravel().tolist()]
    if a.ndim == 1:
        return flat
    arr = np.empty(len(flat), dtype=object)
    arr[:] = flat
    return arr.reshape(a.shape).tolist()


def _counts(a: np.ndarray) -> Any:
    a = np.asarray(a, dtype=np.float64)
    if np.isfinite(a).all() and np.all(a == np.round(a)):
        return a.astype(np.int64).tolist()
    return _nums(a, 4)


def variant_colors(data: ReportData) -> dict[str, str]:
    """One Okabe–Ito colour per variant, in the run's order (history first, then metrics.csv)."""
    names = [v.name for v in data.variants] + [row[1] for row in data.metrics]
    return {n: OKABE_ITO[i % len(OKABE_ITO)] for i, n in enumerate(dict.fromkeys(names))}


def metrics_over_steps(data: ReportData) -> set[str]:
    """Metrics that some (variant, split) recorded at two or more steps (drawn as curves; the others
    are one value per series, shown as a table)."""
    steps: dict[tuple[str, str, str], set[int]] = {}
    for step, variant, split, metric, _ in data.metrics:
        steps.setdefault((metric, variant, split), set()).add(step)
    return {k[0] for k, v in steps.items() if len(v) > 1}


def _curves(data: ReportData, colors: dict[str, str]) -> list[dict[str, Any]]:
    """One chart per metric (natural order), one series per (variant in run order, split)."""
    series: dict[tuple[str, str, str], list[tuple[int, float]]] = {}
    for step, variant, split, metric, value in data.metrics:
        series.setdefault((metric, variant, split), []).append((step, value))
    over_steps = metrics_over_steps(data)
    rank = {v: i for i, v in enumerate(colors)}
    order = sorted(series, key=lambda k: (natural_key(k[0]), rank[k[1]], natural_key(k[2])))
    curves: dict[str, list[dict]] = {}
    for metric, variant, split in order:
        if metric not in over_steps:
            continue
        pts = sorted(series[(metric, variant, split)])
        idx = pick(len(pts), MAX_STEPS)
        curves.setdefault(metric, []).append({
            "label": f"{variant} · {split}", "variant": variant, "split": split,
            "x": [pts[i][0] for i in idx], "y": [_num(pts[i][1], 5) for i in idx]})
    return [{"metric": m, "series": s} for m, s in curves.items()]


def payload(data: ReportData) -> dict[str, Any]:
    """The JSON the page's script draws from (downsampled, rounded).

    ``labels``/``fractions``: how each statistic present is labelled and which are fractions in
    [0, 1] (from :mod:`initlab.formats`); ``views``: which statistics each per-layer view draws;
    ``layers``: every variant's layer names once, in network order (:func:`layer_union`).
    """
    colors = variant_colors(data)
    nv = max(1, len(data.variants))
    variants = [_variant_payload(v, nv) for v in data.variants]
    present = {s for v in data.variants for s in v.stats}
    return {"kind": data.kind, "title": data.title, "colors": colors, "curves": _curves(data, colors),
            "variants": variants, "layers": layer_union(data.variants),
            "labels": {s: formats.LABELS.get(s, s) for s in formats.REPORT_STATS if s in present},
            "fractions": [s for s in formats.REPORT_STATS if s in present and s in formats.FRACTIONS],
            "views": {"bylayer": [s for s in BY_LAYER if s in present],
                      "oversteps": [s for s in OVER_STEPS if s in present]}}


def _stats_payload(v: VariantData, n_variants: int = 1) -> dict[str, Any]:
    """Each statistic over its own recorded steps (sparse extended stats keep their rows)."""
    out = {}
    per_stat = STAT_BUDGET // (n_variants * max(1, len(v.stats)) * max(1, len(v.layers)))
    k_steps = int(np.clip(per_stat, 20, MAX_STEPS))
    for k in v.stats:
        steps, rows = recorded(v, k)
        if len(steps):
            i = pick(len(steps), k_steps)
            out[k] = {"steps": steps[i].tolist(), "values": _nums(rows[i], 4)}
    return out


def _hists_payload(v: VariantData, n_variants: int) -> dict[str, Any] | None:
    """Histogram snapshots: counts per layer; one (lo, hi) range per snapshot when bins are uniform."""
    values_per_snapshot = sum(h.counts.shape[1] for h in v.hists if h is not None) or 1
    budget = int(np.clip(HIST_BUDGET // (n_variants * values_per_snapshot), 2, MAX_HISTS))
    hi = pick(len(v.hist_steps), budget)
    hists: list[dict[str, Any] | None] = []
    for h in v.hists:
        if h is None:
            hists.append(None)
            continue
        counts, edges = h.counts[hi], h.edges[hi]
        widths = np.diff(edges, axis=1)
        uniform = bool(np.all(np.isfinite(edges))) and np.allclose(
            widths, widths[:, :1], rtol=1e-6, atol=1e-12 * max(1.0, float(np.abs(edges).max())))
        entry: dict[str, Any] = {"counts": _counts(counts)}
        if uniform:
            entry["range"] = _nums(edges[:, [0, -1]], 6)
        else:
            entry["edges"] = _nums(edges, 5)
        hists.append(entry)
    return {"steps": v.hist_steps[hi].tolist(), "layers": hists} if any(hists) else None


def _variant_payload(v: VariantData, n_variants: int = 1) -> dict[str, Any]:
    si = pick(len(v.steps), MAX_STEPS)
    return {
        "name": v.name, "layers": v.layers, "steps": v.steps[si].tolist(),
        "stats": _stats_payload(v, n_variants),
        "predicted_std": _nums(v.predicted_std, 4) if v.predicted_std is not None else None,
        "hist": _hists_payload(v, n_variants),
    }


def json_blob(obj: Any) -> str:
    """``obj`` as JSON safe inside ``<script type="application/json">``: every ``<`` (and the two
    JavaScript line separators) escaped, so no ``</script>`` can close the block."""
    text = json.dumps(obj, separators=(",", ":"), allow_nan=False, ensure_ascii=False)
    return text.replace("<", "\\u003c").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
