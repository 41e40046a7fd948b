"""``activations``: every registered activation and its derivative, with the property table (seed 004, Q1).

Summary keys: the two slope bounds behind vanishing gradients (σ' ≤ 1/4, tanh' ≤ 1), the means that
make sigmoid non-zero-centered (seed 000), ReLU's forward gain² (He: 2), and the largest disagreement
between each closed-form derivative and autograd on the plotted grid (a check of the registry).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .. import activations as acts
from .registry import register
from .runner import RunContext, new_figure

SOURCE = "seed 004 (Q1: activations and their derivatives); seed 000"


@dataclass
class Config:
    names: tuple[str, ...] = ()  # empty: every registered activation
    x_max: float = 5.0  # plotted on [-x_max, x_max]
    points: int = 1001


def _autograd_derivative(a: acts.Activation, x: torch.Tensor) -> torch.Tensor:
    xx = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(a(xx).sum(), xx)
    return g


@register("activations", description="Every registered activation φ and its derivative φ', with the "
          "property table (range, zero-centred, saturation, max slope, gains)",
          reference="seed 004 Q1 (activation functions and their derivatives); seed 000 (zero-centring)",
          config=Config, quick={"points": 401},
          summary_keys={
              "sigmoid_max_slope": "max σ'(x) = 1/4: each sigmoid layer shrinks gradients by ≥ 4×",
              "tanh_max_slope": "max tanh'(x) = 1, at x = 0",
              "sigmoid_mean_output": "E[σ(z)], z ~ N(0,1): 1/2, so sigmoid outputs are not zero-centred",
              "tanh_mean_output": "E[tanh(z)], z ~ N(0,1): 0 (zero-centred)",
              "relu_forward_gain_squared": "1/E[relu(z)²] = 2, He et al.'s factor",
              "derivative_autograd_max_error": "max |φ'(x) closed form − autograd| over the grid and "
                                               "every activation (x away from kinks), float64",
              "activation_count": "number of activations plotted",
          })
def run(cfg: Config, ctx: RunContext) -> None:
    chosen = [acts.get(n) for n in (cfg.names or acts.names())]
    x = torch.linspace(-cfg.x_max, cfg.x_max, cfg.points, dtype=torch.float64)
    worst = 0.0
    cols = 4
    rows = math.ceil(len(chosen) / cols)
    fig, axes = new_figure(cols, rows, size=(3.3, 2.6))
    for i, a in enumerate(chosen):
        with torch.no_grad():
            y, d = a(x), a.derivative(x)
        away = torch.ones_like(x, dtype=torch.bool)
        for k in a.kinks:
            away &= (x - k).abs() > 1e-6
        if not a.random:
            worst = max(worst, float((d - _autograd_derivative(a, x)).abs()[away].max()))
        ax = axes[i // cols, i % cols]
        ax.plot(x.numpy(), y.numpy(), label="φ(x)")
        ax.plot(x.numpy(), d.numpy(), "--", label="φ'(x)")
        ax.axhline(0, color="0.7", lw=0.5)
        ax.axvline(0, color="0.7", lw=0.5)
        ax.set_title(a.name + (" (eval form)" if a.random else ""), fontsize=9)
        ax.set_xlabel("pre-activation x")
        ax.set_ylabel("φ(x), φ'(x)")
        lo, hi = float(min(y.min(), d.min())), float(max(y.max(), d.max()))
        ax.set_ylim(max(lo, -3) - 0.2, min(hi, 5) + 0.2)
        if i == 0:
            ax.legend(fontsize=8)
        props = a.properties()
        for key in ("zero_centered", "saturating_left", "saturating_right", "monotonic", "max_slope",
                    "sparse", "mean", "second_moment", "deriv_second_moment", "gain_forward", "gain_backward",
                    "gain_torch"):
            v = props[key]
            if v is not None:
                ctx.metric(0, a.name, "properties", key, float(v))
        lo_r, hi_r = props["range"]
        ctx.metric(0, a.name, "properties", "range_low", lo_r)
        ctx.metric(0, a.name, "properties", "range_high", hi_r)
    for j in range(len(chosen), rows * cols):
        axes[j // cols, j % cols].set_visible(False)
    fig.suptitle("Activation functions φ (solid) and their derivatives φ' (dashed)")
    ctx.figure("activations", fig)

    # the property table as a figure
    rows_txt = [[r["name"], _range(r["range"]), _yn(r["zero_centered"]),
                 f"{_yn(r['saturating_left'])}/{_yn(r['saturating_right'])}", _yn(r["monotonic"]),
                 f"{r['max_slope']:.4g}", _yn(r["sparse"]), f"{r['gain_forward']:.4f}", f"{r['gain_backward']:.4f}"]
                for r in acts.table([a.name if not a.params else a for a in chosen])]
    fig, axes = new_figure(1, 1, size=(11, 0.32 * len(rows_txt) + 1.0))
    ax = axes[0, 0]
    ax.axis("off")
    t = ax.table(cellText=rows_txt, loc="center",
                 colLabels=["activation", "range", "zero-centred", "saturates L/R", "monotonic", "max |φ'|",
                            "sparse", "gain fwd 1/√E[φ²]", "gain bwd 1/√E[φ'²]"])
    t.auto_set_font_size(False)
    t.set_fontsize(8)
    t.scale(1, 1.2)
    ax.set_title("Activation properties (moments and gains for z ~ N(0, 1))")
    ctx.figure("property-table", fig)

    sig, tanh, relu = acts.get("sigmoid"), acts.get("tanh"), acts.get("relu")
    ctx.summary("sigmoid_max_slope", sig.max_slope, reference=0.25, tolerance=1e-9, source=SOURCE)
    ctx.summary("tanh_max_slope", tanh.max_slope, reference=1.0, tolerance=1e-9, source=SOURCE)
    ctx.summary("sigmoid_mean_output", sig.moments(1.0).mean, reference=0.5, tolerance=1e-9, source=SOURCE)
    ctx.summary("tanh_mean_output", tanh.moments(1.0).mean, reference=0.0, tolerance=1e-9, source=SOURCE)
    ctx.summary("relu_forward_gain_squared", relu.gain("forward") ** 2, reference=2.0, tolerance=1e-9,
                source="He et al. 2015, eq. 10; seed 003")
    ctx.summary("derivative_autograd_max_error", worst)
    ctx.summary("activation_count", len(chosen))
    ctx.log(f"{len(chosen)} activations; closed-form vs autograd derivative: max error {worst:.2e}")


def _yn(b: bool) -> str:
    return "yes" if b else "no"


def _range(r: tuple[float, float]) -> str:
    f = lambda v: "∞" if v == math.inf else "-∞" if v == -math.inf else f"{v:.3g}"  # noqa: E731
    return f"({f(r[0])}, {f(r[1])})"


