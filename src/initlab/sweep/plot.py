r"""Phase diagrams of a sweep: a metric over two config axes (mean over seeds), with the theory drawn over it.

:func:`grid` averages the metric over seeds on each (x, y) cell (its spread — std, min, max — kept);
:func:`theory_overlay` gives, from :func:`initlab.theory.mean_field`, the critical line χ₁ = 1 and the
depth curve 6 ξ_c (Schoenholz et al. 2017: deeper than ≈ 6 ξ_c does not train) in the plot's coordinates:

* x/y = ``sigma_w2`` and ``depth``: the critical σ_w² (a line across all depths) and depth = 6 ξ_c(σ_w²);
* x/y = ``sigma_w2`` and ``sigma_b2``: the critical line σ_w²(σ_b²) and, at a fixed depth, the contour
  6 ξ_c = depth.

Where ξ_c is infinite (on the critical line; for a positively homogeneous activation at σ_b² = 0, whose
correlation map has slope 1 at c = 1) the 6 ξ_c curve leaves the plot and its label says that 6 ξ_c does not
bound the depth there. :func:`draw` writes the PNG: the numbers come from here (the theory is below the
sweep), the drawing from :func:`initlab.experiments.figures.phase.heatmap` (numpy and matplotlib only), which
also redraws the ``edge-of-chaos`` run from its files. The interactive page is the report's
(:mod:`initlab.report.sweep_page`, on the floor above), and reads the same :class:`Grid`.

>>> rows = [{"config": {"a": a, "b": b}, "seed": s, "status": "ok", "metrics": {"m": a * b + s}}
...         for a in (1, 2) for b in (1.0, 3.0) for s in (0, 1)]
>>> g = grid(rows, "a", "b", "m")
>>> g.mean.tolist(), g.n.tolist()
([[1.5, 2.5], [3.5, 6.5]], [[2, 2], [2, 2]])
"""
from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

__all__ = ["Grid", "grid", "theory_overlay", "figure", "draw"]


@dataclass
class Grid:
    """``mean``/``std``/``lo``/``hi``/``n`` arrays of shape (len(ys), len(xs)); ``context``: the config
    values shared by every cell (activation, σ_b², …); ``cells[i][j]``: the trial ids of cell (ys[i], xs[j])."""

    x: str
    y: str
    metric: str
    xs: list[Any]
    ys: list[Any]
    mean: np.ndarray
    std: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    n: np.ndarray
    context: dict[str, Any] = field(default_factory=dict)
    cells: list[list[list[str]]] = field(default_factory=list)
    statuses: list[list[dict[str, int]]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        f = lambda a: [[None if not math.isfinite(v) else float(v) for v in row] for row in a.tolist()]  # noqa: E731
        return {"x": self.x, "y": self.y, "metric": self.metric, "xs": self.xs, "ys": self.ys, "mean": f(self.mean),
                "std": f(self.std), "lo": f(self.lo), "hi": f(self.hi), "n": self.n.tolist(),
                "context": self.context, "cells": self.cells, "statuses": self.statuses}


def _sorted(values: set) -> list[Any]:
    try:
        return sorted(values)
    except TypeError:
        return sorted(values, key=str)


def grid(rows: list[dict[str, Any]], x: str, y: str, metric: str, *, where: Mapping[str, Any] | None = None) -> Grid:
    """Average ``metric`` over seeds on the cells of config keys ``x`` × ``y`` (rows: ``result.json``s).

    Rows are filtered by ``where`` (``{key: value}``). Every other config key must hold one value (else
    ``ValueError`` naming it: choose one with ``where``). A diverged or failed trial, or a missing
    metric, contributes NaN (the cell's mean is then over the trials that have the metric)."""
    if not rows:
        raise ValueError("the sweep has no finished trials yet")
    keys = set().union(*(r["config"] for r in rows))
    for k in (x, y):
        if k not in keys:
            raise ValueError(f"{k!r} is not a config key of this sweep; valid keys: {sorted(keys)}")
    metrics = set().union(*(r["metrics"] for r in rows))
    if metric not in metrics:
        raise ValueError(f"metric {metric!r} is not recorded by this sweep; valid metrics: {sorted(metrics)}")
    sel = [r for r in rows if all(r["config"].get(k) == v for k, v in (where or {}).items())]
    if not sel:
        raise ValueError(f"no finished trial matches where={dict(where or {})!r}")
    context = {}
    for k in sorted(keys - {x, y}):
        vals = {repr(r["config"].get(k)) for r in sel}
        if len(vals) > 1:
            raise ValueError(f"config key {k!r} takes {len(vals)} values ({', '.join(sorted(vals))}); choose one "
                             f"with where={{{k!r}: ...}} (--where {k}=VALUE)")
        context[k] = sel[0]["config"].get(k)
    xs, ys = _sorted({r["config"][x] for r in sel}), _sorted({r["config"][y] for r in sel})
    vals: dict[tuple[int, int], list[float]] = {}
    ids: dict[tuple[int, int], list[str]] = {}
    stat: dict[tuple[int, int], dict[str, int]] = {}
    for r in sel:
        key = (ys.index(r["config"][y]), xs.index(r["config"][x]))
        v = r["metrics"].get(metric)
        ok = isinstance(v, (int, float)) and not isinstance(v, bool) and r["status"] == "ok"
        vals.setdefault(key, []).append(float(v) if ok else math.nan)
        ids.setdefault(key, []).append(r.get("id", ""))
        s = stat.setdefault(key, {})
        s[r["status"]] = s.get(r["status"], 0) + 1
    shape = (len(ys), len(xs))
    out = {k: np.full(shape, np.nan) for k in ("mean", "std", "lo", "hi")}
    n = np.zeros(shape, dtype=np.int64)
    for (i, j), v in vals.items():
        a = np.asarray(v)
        a = a[np.isfinite(a)]
        n[i, j] = len(a)
        if len(a):
            out["mean"][i, j], out["std"][i, j] = a.mean(), a.std()
            out["lo"][i, j], out["hi"][i, j] = a.min(), a.max()
    cells = [[ids.get((i, j), []) for j in range(len(xs))] for i in range(len(ys))]
    statuses = [[stat.get((i, j), {}) for j in range(len(xs))] for i in range(len(ys))]
    return Grid(x, y, metric, xs, ys, out["mean"], out["std"], out["lo"], out["hi"], n, context, cells, statuses)


@functools.lru_cache(maxsize=4096)
def _mf(act: str, sw: float, sb: float) -> Any:
    from .. import theory

    return theory.mean_field(act, float(sw), float(sb))


def theory_overlay(g: Grid, points: int = 32) -> dict[str, Any]:
    """The theory in plot coordinates: ``{"lines": [{"label", "x": [...], "y": [...], "style"}], "notes": [...],
    "phases": [{"label", "x", "y"}]}`` (see the module docstring); ``ValueError`` for other axes."""
    axes = {g.x, g.y}
    ctx = g.context
    act = ctx.get("activation", "tanh")
    if "sigma_w2" not in axes or not axes & {"depth", "sigma_b2"}:
        raise ValueError(f"the theory overlay needs axes sigma_w2 and depth, or sigma_w2 and sigma_b2; got {g.x!r} "
                         f"and {g.y!r}")
    from .. import theory

    flip = g.x != "sigma_w2"  # theory is computed with sigma_w2 as the abscissa, swapped back at the end
    other = g.y if not flip else g.x
    sw_vals = [float(v) for v in g.xs] if not flip else [float(v) for v in g.ys]
    sw = np.linspace(min(sw_vals), max(sw_vals), points)
    lines, notes = [], []
    if other == "depth":
        sb = float(ctx.get("sigma_b2", 0.0))
        crit = theory.critical_sigma_w2(act, sb)
        dmax = max(float(v) for v in (g.ys if not flip else g.xs))
        lines.append({"label": f"critical line χ₁ = 1 (σ_w² = {crit:.3g})", "x": [crit, crit], "y": [0.0, 1e9],
                      "style": "critical"})
        depth = []
        for w in sw:
            xc = _mf(act, w, sb).xi_c
            depth.append(6.0 * xc if math.isfinite(xc) else math.inf)
        lines.append({"label": "6 ξ_c (trainable depth)", "x": sw.tolist(), "y": depth, "style": "depth"})
        if sb == 0.0 and not any(math.isfinite(d) for d in depth):
            notes.append(f"{act} at σ_b² = 0: ξ_c = ∞ (no correlation fixed point), 6 ξ_c does not bound the "
                         f"depth; the gradient depth scale ξ_∇ = −1/ln χ₁ does")
        phase_y = dmax
    else:
        sb_vals = [float(v) for v in (g.ys if not flip else g.xs)]
        sb = np.linspace(min(sb_vals), max(sb_vals), points)
        crit = theory.critical_line(act, sb)
        lines.append({"label": "critical line χ₁ = 1", "x": crit.tolist(), "y": sb.tolist(), "style": "critical"})
        if "depth" in ctx:
            pg = theory.phase_grid(act, sw, sb)
            lines.append({"label": f"6 ξ_c = depth {ctx['depth']}", "contour": 6.0 * np.nan_to_num(pg["xi_c"], nan=np.inf),
                          "level": float(ctx["depth"]), "x": sw.tolist(), "y": sb.tolist(), "style": "depth"})
        phase_y = max(sb_vals)
        crit = float(crit[len(crit) // 2])
    phases = [{"label": "ordered", "x": min(sw_vals), "y": phase_y, "align": "left"},
              {"label": "chaotic", "x": max(sw_vals), "y": phase_y, "align": "right"}]
    out = {"lines": lines, "notes": notes, "phases": phases, "activation": act}
    if flip:
        for ln in out["lines"]:
            ln["x"], ln["y"] = ln["y"], ln["x"]
            if "contour" in ln:
                ln["contour"] = np.asarray(ln["contour"]).T
        for p in out["phases"]:
            p["x"], p["y"] = p["y"], p["x"]
    return out


def draw(g: Grid, path: str | os.PathLike, *, overlay: str | None = None, threshold: float | None = None) -> Path:
    """Write :func:`figure` to ``path`` (PNG, or the format its suffix names) atomically."""
    from .. import formats

    fig = figure(g, overlay=overlay, threshold=threshold)
    path = Path(path)
    with formats.atomic_path(path) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip(".") or "png", dpi=100, metadata={"Software": None})
    return path


def figure(g: Grid, *, overlay: str | None = None, threshold: float | None = None) -> Any:
    """The heatmap (mean over seeds; cells without a value are grey) with the optional overlay: a
    matplotlib Figure (:func:`initlab.experiments.figures.phase.heatmap`)."""
    from ..experiments.figures.phase import heatmap

    if overlay not in (None, "theory"):
        raise ValueError(f"overlay must be None or 'theory', got {overlay!r}")
    th = theory_overlay(g) if overlay == "theory" else None
    return heatmap(g.xs, g.ys, g.mean, x=g.x, y=g.y, metric=g.metric, context=g.context, overlay=th,
                   threshold=threshold)
