"""Phase diagrams: a heatmap of a metric over two numeric (or categorical) axes with theory lines over it.

Drawn from plain arrays (numpy and matplotlib only), so a sweep's ``Sweep.plot`` and the ``edge-of-chaos``
run's figure, redrawn from its files, are the same picture. An overlay is ``{"lines": [{"label", "style":
"critical"|"depth", "x": [...], "y": [...]} or {…, "contour": 2-D array, "level": number}], "phases":
[{"label", "x", "y", "align"}], "notes": [str]}`` (:func:`initlab.sweep.plot.theory_overlay` computes it);
:func:`overlay_arrays`/:func:`overlay_from_arrays` store its lines in a run's ``arrays.npz`` and read them back.

>>> fig = heatmap([1.0, 2.0], [5, 10], [[0.9, 0.8], [0.1, 0.7]], x="sigma_w2", y="depth", metric="acc")
>>> fig.axes[0].get_xlabel(), len(fig.axes)
('sigma_w2', 2)
"""
from __future__ import annotations

import textwrap
from typing import Any, Mapping, Sequence

import numpy as np

__all__ = ["heatmap", "edges", "overlay_arrays", "overlay_from_arrays"]


def _numeric(values: Sequence[Any]) -> bool:
    return all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) for v in values)


def edges(values: Sequence[Any]) -> np.ndarray:
    """Cell edges around the axis values: midpoints between them, the ends mirrored; categorical axes
    (strings) get unit cells around 0, 1, …"""
    if not _numeric(values):
        return np.arange(len(values) + 1) - 0.5
    v = np.asarray(values, dtype=float)
    if len(v) == 1:
        return np.array([v[0] - 0.5, v[0] + 0.5])
    mid = (v[1:] + v[:-1]) / 2
    return np.concatenate([[2 * v[0] - mid[0]], mid, [2 * v[-1] - mid[-1]]])


def _overlay(ax: Any, overlay: Mapping[str, Any]) -> None:
    for ln in overlay.get("lines", []):
        color, ls = ("red", "-") if ln["style"] == "critical" else ("orange", "--")
        if "contour" in ln:
            z = np.asarray(ln["contour"], dtype=float)
            finite = z[np.isfinite(z)]
            if finite.size and finite.min() < ln["level"] < finite.max():
                ax.contour(ln["x"], ln["y"], z, levels=[ln["level"]], colors=color, linestyles=ls)
            ax.plot([], [], color=color, ls=ls, label=ln["label"])
        else:
            ys = np.asarray(ln["y"], float)
            ax.plot(ln["x"], np.where(np.isfinite(ys), ys, 1e9), color=color, ls=ls, lw=2, label=ln["label"])
    for p in overlay.get("phases", []):
        ax.text(p["x"], p["y"], f" {p['label']} ", ha=p.get("align", "left"), va="top", color="white",
                fontsize=9, fontweight="bold")
    if overlay.get("notes"):
        ax.set_title("\n".join(overlay["notes"]), fontsize=8)


def heatmap(xs: Sequence[Any], ys: Sequence[Any], values: Any, *, x: str, y: str, metric: str,
            context: Mapping[str, Any] | None = None, overlay: Mapping[str, Any] | None = None,
            threshold: float | None = None) -> Any:
    """``values`` (len(ys), len(xs)) as coloured cells (NaN: grey), the contour ``metric = threshold`` and the
    overlay's lines; a matplotlib Figure (no pyplot state)."""
    from matplotlib.figure import Figure

    z = np.asarray(values, dtype=float)
    numeric = _numeric(xs) and _numeric(ys)
    if overlay and not numeric:
        raise ValueError("the theory overlay needs numeric axes")
    fig = Figure(figsize=(7.0, 5.0), layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    xe, ye = edges(xs), edges(ys)
    ax.set_facecolor("0.85")
    mesh = ax.pcolormesh(xe, ye, np.ma.masked_invalid(z), cmap="viridis", shading="flat")
    fig.colorbar(mesh, ax=ax, label=f"{metric} (mean over seeds)")
    if not numeric:
        ax.set_xticks(range(len(xs)), [str(v) for v in xs])
        ax.set_yticks(range(len(ys)), [str(v) for v in ys])
    if threshold is not None and numeric and min(len(xs), len(ys)) > 1:
        ax.contour(np.asarray(xs, float), np.asarray(ys, float), np.nan_to_num(z, nan=-np.inf),
                   levels=[threshold], colors="white", linewidths=1.0, linestyles=":")
        ax.plot([], [], color="white", ls=":", label=f"{metric} = {threshold:g}")
    if overlay:
        _overlay(ax, overlay)
        ax.set_xlim(xe[0], xe[-1])
        ax.set_ylim(ye[0], ye[-1])
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="lower right", fontsize=8)
    ctx = ", ".join(f"{k}={v}" for k, v in (context or {}).items() if not isinstance(v, (list, tuple, dict)))
    fig.suptitle("\n".join([f"{metric} over {x} × {y}", *textwrap.wrap(ctx, 100)]), fontsize=9)
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    return fig


def overlay_arrays(overlay: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """The overlay's curves (contours left out), phases and notes as arrays (strings as unicode arrays)."""
    lines = [ln for ln in overlay.get("lines", []) if "contour" not in ln]
    out: dict[str, np.ndarray] = {"labels": np.array([ln["label"] for ln in lines], dtype=str),
                                  "styles": np.array([ln["style"] for ln in lines], dtype=str),
                                  "notes": np.array(list(overlay.get("notes", [])), dtype=str)}
    for i, ln in enumerate(lines):
        out[f"line{i}_x"], out[f"line{i}_y"] = np.asarray(ln["x"], float), np.asarray(ln["y"], float)
    ph = list(overlay.get("phases", []))
    out["phase_labels"] = np.array([p["label"] for p in ph], dtype=str)
    out["phase_align"] = np.array([p.get("align", "left") for p in ph], dtype=str)
    out["phase_xy"] = np.array([[p["x"], p["y"]] for p in ph], dtype=float).reshape(-1, 2)
    return out


def overlay_from_arrays(a: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """The inverse of :func:`overlay_arrays`."""
    lines = [{"label": str(lab), "style": str(sty), "x": a[f"line{i}_x"].tolist(), "y": a[f"line{i}_y"].tolist()}
             for i, (lab, sty) in enumerate(zip(a["labels"], a["styles"]))]
    phases = [{"label": str(lab), "align": str(al), "x": float(xy[0]), "y": float(xy[1])}
              for lab, al, xy in zip(a["phase_labels"], a["phase_align"], a["phase_xy"])]
    return {"lines": lines, "phases": phases, "notes": [str(n) for n in a["notes"]]}
