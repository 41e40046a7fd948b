"""``activations``' figures: every activation φ and its derivative φ', and the property table."""
from __future__ import annotations

import math


from ..rundir import RunFiles
from .canvas import hide_unused, new_figure

COLUMNS = ["activation", "range", "zero-centred", "saturates L/R", "monotonic", "max |φ'|", "sparse",
           "gain fwd 1/√E[φ²]", "gain bwd 1/√E[φ'²]"]


def draw(run: RunFiles) -> dict:
    return {"activations": _curves(run), "property-table": _table(run)}


def _curves(run: RunFiles):
    names = [str(n) for n in run.array("names")]
    x, ys, ds, random = run.array("x"), run.array("values"), run.array("derivatives"), run.array("random")
    cols = 4
    rows = math.ceil(len(names) / cols)
    fig, axes = new_figure(cols, rows, size=(3.3, 2.6))
    for i, name in enumerate(names):
        y, d = ys[i], ds[i]
        ax = axes[i // cols, i % cols]
        ax.plot(x, y, label="φ(x)")
        ax.plot(x, d, "--", label="φ'(x)")
        ax.axhline(0, color="0.7", lw=0.5)
        ax.axvline(0, color="0.7", lw=0.5)
        ax.set_title(name + (" (eval form)" if random[i] else ""), fontsize=9)
        ax.set_xlabel("pre-activation x")
        ax.set_ylabel("φ(x), φ'(x)")
        lo, hi = float(min(y.min(), d.min())), float(max(y.max(), d.max()))
        ax.set_ylim(max(lo, -3) - 0.2, min(hi, 5) + 0.2)
        if i == 0:
            ax.legend(fontsize=8)
    hide_unused(axes, len(names))
    fig.suptitle("Activation functions φ (solid) and their derivatives φ' (dashed)")
    return fig


def _table(run: RunFiles):
    rows = []
    for name in (str(n) for n in run.array("names")):
        p = {m: run.value(name, "properties", m) for m in (
            "range_low", "range_high", "zero_centered", "saturating_left", "saturating_right", "monotonic",
            "max_slope", "sparse", "gain_forward", "gain_backward")}
        rows.append([name, _range(p["range_low"], p["range_high"]), _yn(p["zero_centered"]),
                     f"{_yn(p['saturating_left'])}/{_yn(p['saturating_right'])}", _yn(p["monotonic"]),
                     f"{p['max_slope']:.4g}", _yn(p["sparse"]), f"{p['gain_forward']:.4f}",
                     f"{p['gain_backward']:.4f}"])
    fig, axes = new_figure(1, 1, size=(11, 0.32 * len(rows) + 1.0))
    ax = axes[0, 0]
    ax.axis("off")
    t = ax.table(cellText=rows, loc="center", colLabels=COLUMNS)
    t.auto_set_font_size(False)
    t.set_fontsize(8)
    t.scale(1, 1.2)
    ax.set_title("Activation properties (moments and gains for z ~ N(0, 1))")
    return fig


def _yn(b: float | None) -> str:
    return "yes" if b else "no"


def _range(lo: float, hi: float) -> str:
    f = lambda v: "∞" if v == math.inf else "-∞" if v == -math.inf else f"{v:.3g}"  # noqa: E731
    return f"({f(lo)}, {f(hi)})"


