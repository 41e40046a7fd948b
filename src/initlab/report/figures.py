"""The report's views as matplotlib figures, for papers and notebooks.

Every function takes what ``initlab.report.to_html`` takes (a run directory or ``Result``, an
``Inspection``, a ``Watcher``, its ``.arrays()`` dict, a saved ``.npz``) and returns a
``matplotlib.figure.Figure`` (made without pyplot, so no global state; notebooks show it inline).
One style throughout: readable fonts, labelled axes, a log axis when positive values span more than
two decades, the Okabe–Ito palette for variants and viridis for layers (both colour-blind safe).

>>> import numpy as np
>>> a = {"steps": np.arange(4), "layers": np.array(["fc1", "fc2"]), "std": np.ones((4, 2))}
>>> fig = layer_stats(a, stats=("std",))
>>> fig.axes[0].get_ylabel()
'std of output'
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

from initlab.formats import FRACTIONS, LABELS
from initlab.report import data as _source
from initlab.report.data import ReportData, VariantData
from initlab.report.payload import OKABE_ITO, variant_colors

__all__ = ["layer_stats", "over_steps", "histograms", "colorful_dimension", "curves", "STYLE",
           "OKABE_ITO"]

STYLE = {"font.size": 10, "axes.titlesize": 11, "axes.labelsize": 10, "legend.fontsize": 8,
         "xtick.labelsize": 9, "ytick.labelsize": 9, "axes.spines.top": False,
         "axes.spines.right": False, "axes.grid": True, "grid.alpha": 0.3, "figure.dpi": 100,
         "axes.prop_cycle": None}


def _figure(n: int, *, ncols: int = 2, w: float = 4.2, h: float = 3.0) -> tuple[Figure, list]:
    import matplotlib as mpl

    ncols = max(1, min(ncols, n))
    nrows = max(1, -(-n // ncols))
    rc = {k: v for k, v in STYLE.items() if v is not None}
    with mpl.rc_context(rc):
        fig = Figure(figsize=(w * ncols, h * nrows), layout="constrained")
        axes = fig.subplots(nrows, ncols, squeeze=False).ravel().tolist()
    for ax in axes:
        ax.grid(True, alpha=0.3)
        ax.spines[["top", "right"]].set_visible(False)
        ax.tick_params(labelsize=9)
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes[:n]


def _decades(values: Iterable[np.ndarray]) -> bool:
    """True when the finite values are all ≥ 0, some > 0, and the positive ones span > 2 decades."""
    v = np.concatenate([np.asarray(x, float).ravel() for x in values] or [np.zeros(0)])
    v = v[np.isfinite(v)]
    if v.size == 0 or (v < 0).any():
        return False
    pos = v[v > 0]
    return pos.size > 0 and pos.max() / pos.min() > 100


def _variants(data: ReportData, variants: Sequence[str] | str | None) -> list[VariantData]:
    if variants is None:
        return data.variants
    names = [variants] if isinstance(variants, str) else list(variants)
    known = [v.name for v in data.variants]
    bad = [n for n in names if n not in known]
    if bad:
        raise ValueError(f"variants={bad!r}: no such variant; valid: {known}")
    return [v for v in data.variants if v.name in names]


def _finish(ax: Any, *, log: bool, fraction: bool) -> None:
    if log:
        ax.set_yscale("log")
    elif fraction:
        ax.set_ylim(-0.02, 1.02)


# ---------------------------------------------------------------------------------- views
def _on_axis(v: VariantData, layers: list[str], y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) of ``v``'s per-layer values ``y`` at the positions of the same-named ``layers`` (the axis
    variant's); layers the axis does not list are left out."""
    at = {name: i for i, name in enumerate(layers)}
    keep = [j for j, name in enumerate(v.layers) if name in at and j < len(y)]
    return np.array([at[v.layers[j]] for j in keep], dtype=float), np.asarray(y, float)[keep]


def layer_stats(obj: Any, stats: Sequence[str] = ("std", "abs_mean", "grad_norm", "dead_fraction"),
                *, step: int | None = None, variants: Sequence[str] | None = None,
                layers_of: str | None = None) -> Figure:
    """Per-layer statistics by layer at one step (default: the last), one line per variant;
    theory's predicted std (``{variant}/predicted_std``) dashed beside the measured std.

    The x axis lists the layers of one variant, ``layers_of`` (default: the one with the most
    layers); every other variant is drawn at the layers of the same name, so a point never sits
    under another layer's label (variants may have different layers, e.g. with and without
    batch norm)."""
    data = _source.load(obj)
    vs = _variants(data, variants)
    stats = [s for s in stats if any(s in v.stats for v in vs)]
    if not stats:
        raise ValueError(f"stats: none of the requested statistics was recorded; recorded: "
                         f"{sorted({k for v in vs for k in v.stats})}")
    axis = max(vs, key=lambda v: len(v.layers)) if layers_of is None else _variants(data, layers_of)[0]
    layers = axis.layers
    colors = variant_colors(data)
    fig, axes = _figure(len(stats))
    for ax, s in zip(axes, stats):
        cols = []
        for v in vs:
            if s not in v.stats:
                continue
            st, rows = _source.recorded(v, s)
            if not len(st):
                continue
            y = rows[int(np.argmin(np.abs(st - (st[-1] if step is None else step))))]
            cols.append(y)
            ax.plot(*_on_axis(v, layers, y), "o-", color=colors[v.name], lw=1.8, ms=4, label=v.name)
            if s == "std" and v.predicted_std is not None:
                cols.append(v.predicted_std)
                ax.plot(*_on_axis(v, layers, v.predicted_std), "--", color=colors[v.name],
                        lw=1.3, label=f"{v.name} (theory)")
        _finish(ax, log=s not in FRACTIONS and _decades(cols), fraction=s in FRACTIONS)
        every = max(1, -(-len(layers) // 12))
        ax.set_xticks(range(0, len(layers), every), layers[::every], rotation=30 if len(layers) > 6 else 0,
                      ha="right" if len(layers) > 6 else "center")
        ax.set_xlabel("layer" if all(v.layers == layers for v in vs) else f"layer (of {axis.name})")
        ax.set_ylabel(LABELS.get(s, s))
        ax.set_title(LABELS.get(s, s))
        ax.legend(frameon=False)
    if step is not None:
        fig.suptitle(f"at step {step}", fontsize=11)
    return fig


def over_steps(obj: Any, stat: str = "std", *, variant: str | None = None) -> Figure:
    """One statistic of every layer over training (one line per layer, viridis: dark = first)."""
    data = _source.load(obj)
    v = _variants(data, variant)[0] if variant else data.variants[0]
    if stat not in v.stats:
        raise ValueError(f"stat={stat!r} was not recorded for {v.name!r}; recorded: {sorted(v.stats)}")
    fig, (ax,) = _figure(1, w=6.0, h=3.6)
    steps, m = _source.recorded(v, stat)   # extended stats: only the rows where they were recorded
    cmap = colormaps["viridis"]
    L = m.shape[1]
    for j in range(L):
        ok = np.isfinite(m[:, j])
        ax.plot(steps[ok], m[ok, j], "o-" if len(steps) < 30 else "-", ms=3, color=cmap(0.85 * j / max(1, L - 1)), lw=1.4, label=v.layers[j])
    _finish(ax, log=stat not in FRACTIONS and _decades([m]), fraction=stat in FRACTIONS)
    ax.set_xlabel("step")
    ax.set_ylabel(LABELS.get(stat, stat))
    ax.set_title(f"{LABELS.get(stat, stat)} · {v.name}")
    if L <= 16:
        ax.legend(frameon=False, ncols=2 if L > 8 else 1, loc="best")
    return fig


def histograms(obj: Any, *, layers: Sequence[str] | None = None, step: int | None = None,
               variants: Sequence[str] | None = None, log_counts: bool = False) -> Figure:
    """Activation histograms at one step (default: the last), one panel per layer, one outline per
    variant (the layout of seed 003's per-layer distribution figures)."""
    data = _source.load(obj)
    vs = [v for v in _variants(data, variants) if any(h is not None for h in v.hists)]
    if not vs:
        raise ValueError("histograms: no activation histograms were recorded")
    all_layers = _source.layer_union(vs)
    names = list(layers) if layers is not None else all_layers
    bad = [n for n in names if n not in all_layers]
    if bad:
        raise ValueError(f"layers={bad!r}: no such layer; valid: {all_layers}")
    colors = variant_colors(data)
    fig, axes = _figure(len(names), ncols=min(4, len(names)), w=3.2, h=2.6)
    for ax, name in zip(axes, names):
        for v in vs:
            if name not in v.layers or v.hists[v.layers.index(name)] is None:
                continue
            h = v.hists[v.layers.index(name)]
            t = int(np.argmin(np.abs(v.hist_steps - step))) if step is not None else len(v.hist_steps) - 1
            c, e = h.counts[t], h.edges[t]
            if not np.isfinite(c).all():
                continue
            ax.stairs(c, e, color=colors[v.name], fill=False, lw=1.5, label=v.name)
            ax.stairs(c, e, color=colors[v.name], fill=True, alpha=0.15)
        if log_counts:
            ax.set_yscale("symlog", linthresh=1)
        ax.set_title(name)
        ax.set_xlabel("activation value")
        ax.set_ylabel("count")
    axes[0].legend(frameon=False)
    return fig


def colorful_dimension(obj: Any, layer: str | int, *, variant: str | None = None, bins: int = 64) -> Figure:
    """One layer's activation histogram over training as an image (fastai's "colorful dimension"):
    x = step, y = activation value, colour = count on a log scale. Snapshots are rebinned onto one
    grid spanning all of them (:func:`initlab.report.data.common_bins`)."""
    data = _source.load(obj)
    v = _variants(data, variant)[0] if variant else next(
        (x for x in data.variants if any(h is not None for h in x.hists)), data.variants[0])
    j = layer if isinstance(layer, int) else (v.layers.index(layer) if layer in v.layers else None)
    if j is None or not 0 <= j < len(v.layers):
        raise ValueError(f"layer={layer!r}: no such layer; valid: {v.layers}")
    h = v.hists[j]
    if h is None or len(v.hist_steps) < 1:
        raise ValueError(f"layer={v.layers[j]!r}: no histogram recorded for variant {v.name!r}")
    img, grid = _source.common_bins(h, bins)
    fig, (ax,) = _figure(1, w=6.0, h=3.4)
    ax.grid(False)
    st = v.hist_steps
    x0, x1 = (st[0] - 0.5, st[-1] + 0.5) if len(st) > 1 else (st[0] - 0.5, st[0] + 0.5)
    im = ax.imshow(img + 1, origin="lower", aspect="auto", cmap="viridis", interpolation="nearest",
                   extent=(x0, x1, grid[0], grid[-1]), norm=LogNorm(vmin=1, vmax=max(2.0, img.max() + 1)))
    cb = fig.colorbar(im, ax=ax, pad=0.01)
    cb.set_label("1 + count (log scale)")
    ax.set_xlabel("step")
    ax.set_ylabel(f"activation value of {v.layers[j]}")
    ax.set_title(f"colorful dimension · {v.layers[j]} · {v.name}")
    return fig


def curves(metrics: Any, *, metric_names: Sequence[str] | None = None) -> Figure:
    """Training curves from metrics.csv: one panel per metric, one colour per variant, test/val
    dashed. ``metrics``: a run directory/Result, a metrics.csv path, or rows (step, variant,
    split, metric, value)."""
    if isinstance(metrics, (str, Path)) and Path(metrics).is_file():
        rows = _source.read_metrics(metrics)
    elif _source.run_dir_of(metrics) is not None:
        rows = _source.load(metrics).metrics
    else:
        rows = [tuple(r) for r in metrics]
    if not rows:
        raise ValueError("curves: no metrics rows")
    names = list(metric_names) if metric_names else sorted({r[3] for r in rows})
    variants = list(dict.fromkeys(r[1] for r in rows))
    colors = {v: OKABE_ITO[i % len(OKABE_ITO)] for i, v in enumerate(variants)}
    fig, axes = _figure(len(names))
    for ax, m in zip(axes, names):
        series: dict[tuple[str, str], list[tuple[int, float]]] = {}
        for step, v, split, metric, value in rows:
            if metric == m:
                series.setdefault((v, split), []).append((int(step), float(value)))
        ys = []
        for (v, split), pts in sorted(series.items()):
            pts.sort()
            x, y = np.array(pts).T
            ys.append(y)
            ax.plot(x, y, color=colors[v], lw=1.5, ls="-" if "train" in split else "--", label=f"{v} · {split}")
        _finish(ax, log="loss" in m.lower() and _decades(ys), fraction=False)
        ax.set_xlabel("step")
        ax.set_ylabel(m)
        ax.set_title(m)
        ax.legend(frameon=False)
    return fig
