"""``activations``: every registered activation and its derivative, with the property table (seed 004, Q1).

Summary keys: the two slope bounds behind vanishing gradients (σ' ≤ 1/4, tanh' ≤ 1), the means that
make sigmoid non-zero-centered (seed 000), ReLU's forward gain² (He: 2), and the largest disagreement
between each closed-form derivative and autograd on the plotted grid (a check of the registry).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .. import activations as acts
from .context import RunContext
from .registry import register

SOURCE = "seed 004 (Q1: activations and their derivatives); seed 000"
PROPERTIES = ("zero_centered", "saturating_left", "saturating_right", "monotonic", "max_slope", "sparse", "mean",
              "second_moment", "deriv_second_moment", "gain_forward", "gain_backward", "gain_torch")


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
def measure(cfg: Config, ctx: RunContext) -> None:
    chosen = [acts.get(n) for n in (cfg.names or acts.names())]
    x = torch.linspace(-cfg.x_max, cfg.x_max, cfg.points, dtype=torch.float64)
    worst, values, derivatives = 0.0, [], []
    for a in chosen:
        with torch.no_grad():
            y, d = a(x), a.derivative(x)
        values.append(y.numpy())
        derivatives.append(d.numpy())
        away = torch.ones_like(x, dtype=torch.bool)
        for k in a.kinks:
            away &= (x - k).abs() > 1e-6
        if not a.random:
            worst = max(worst, float((d - _autograd_derivative(a, x)).abs()[away].max()))
        _properties(ctx, a)
    ctx.array("names", np.array([a.name for a in chosen], dtype=str))
    ctx.array("random", np.array([bool(a.random) for a in chosen]))
    ctx.array("x", x.numpy())
    ctx.array("values", np.stack(values))
    ctx.array("derivatives", np.stack(derivatives))

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


def _properties(ctx: RunContext, a: acts.Activation) -> None:
    """The activation's property-table row as metrics (split "properties")."""
    props = a.properties()
    for key in PROPERTIES:
        if props[key] is not None:
            ctx.metric(0, a.name, "properties", key, float(props[key]))
    lo, hi = props["range"]
    ctx.metric(0, a.name, "properties", "range_low", lo)
    ctx.metric(0, a.name, "properties", "range_high", hi)
