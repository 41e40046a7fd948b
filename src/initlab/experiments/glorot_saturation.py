r"""``glorot-saturation``: Glorot & Bengio (2010) — sigmoid's top hidden layer saturates; tanh and softsign
with normalized init do not.

An MLP of ``layers`` hidden layers of ``width`` units on MNIST, SGD on mini-batches of 10. Inits: the
*standard* :math:`W \sim U[-1/\sqrt n, 1/\sqrt n]` (Var = 1/(3n)) and the *normalized* (Xavier)
:math:`W \sim U[-\sqrt6/\sqrt{n_j+n_{j+1}}, \sqrt6/\sqrt{n_j+n_{j+1}}]`; biases 0. Variants:
``sigmoid_standard``, ``tanh_standard``, ``tanh_normalized``, ``softsign_standard``, ``softsign_normalized``.

* Fig. 2: with sigmoid, the top hidden layer's mean activation falls toward 0 early in training (its
  units saturate at 0, where σ' is small), the lower layers stay near 0.5;
* Figs. 4/6: per-layer activation histograms at the end;
* Fig. 7: back-propagated gradients (δ = ∂L/∂z) per layer at init: with the standard init they shrink
  toward the input (tanh: ×n·Var(w)·E[tanh'²] ≈ 1/3 in variance per layer); normalized keeps them level.

Summary keys: per variant ``top_mean_start_*`` / ``top_mean_min_*`` / ``top_mean_end_*`` (mean activation of
the top hidden layer), ``top_saturated_fraction_*`` (top layer at the end, within 0.01 of a bound of the
activation's range), ``test_error_percent_*`` (Table 1 beside it, 5 layers on full MNIST),
``grad_std_ratio_first_top_*`` (std of δ at the first hidden layer / at the top one, at init);
``saturation_step_sigmoid_standard`` (first recorded update with top-layer mean < ``saturation_threshold``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .context import RunContext
from .datasets import mnist
from .registry import register
from .series import first_step

SOURCE = ("Glorot & Bengio, Understanding the difficulty of training deep feedforward neural networks, "
          "AISTATS 2010, Table 1 (MNIST test error %, 5 hidden layers × 1000, full 60,000 images)")
# variant: (activation, scheme, Table 1 test error %)
VARIANTS = {
    "sigmoid_standard": ("sigmoid", "uniform_fan_in", 2.21),
    "tanh_standard": ("tanh", "uniform_fan_in", 1.76),
    "tanh_normalized": ("tanh", "xavier_uniform", 1.64),
    "softsign_standard": ("softsign", "uniform_fan_in", 1.64),
    "softsign_normalized": ("softsign", "xavier_uniform", 1.72),
}


@dataclass
class Config:
    layers: int = 4  # hidden layers (Fig. 2: four; Table 1: five)
    width: int = 1000
    n_train: int = 4000
    steps: int = 20000
    batch_size: int = 10
    lr: float = 0.25
    record_every: int = 10
    saturation_threshold: float = 0.1


def _keys() -> dict[str, str]:
    keys = {"saturation_step_sigmoid_standard": "first recorded update at which the sigmoid net's top hidden "
                                                "layer's mean activation is below saturation_threshold; null if never"}
    for v in VARIANTS:
        keys[f"top_mean_start_{v}"] = f"mean activation of the top hidden layer at the first update ({v})"
        keys[f"top_mean_min_{v}"] = f"smallest mean activation of the top hidden layer during training ({v})"
        keys[f"top_mean_end_{v}"] = f"mean activation of the top hidden layer at the end ({v})"
        keys[f"top_saturated_fraction_{v}"] = (f"fraction of the top hidden layer's outputs within 0.01 of a "
                                               f"bound of the activation's range, test images, at the end ({v})")
        keys[f"test_error_percent_{v}"] = f"test error in % at the end ({v}); published: Table 1, full MNIST"
        keys[f"grad_std_ratio_first_top_{v}"] = (f"std of δ = ∂L/∂z at the first hidden layer / at the top hidden "
                                                 f"layer, at init ({v}); < 1: shrinking toward the input")
    return keys


def _delta_histograms(deltas: list[np.ndarray], bins: int = 60) -> dict[str, np.ndarray]:
    """Density histograms of each layer's δ on one symmetric range (99.5th percentile of |δ|)."""
    lim = max(float(np.percentile(np.abs(d), 99.5)) for d in deltas) or 1.0
    hists = [np.histogram(d, bins=bins, range=(-lim, lim), density=True) for d in deltas]
    return {"counts": np.array([c for c, _ in hists]), "edges": np.array([e for _, e in hists])}


def _deltas(model, x: torch.Tensor, y: torch.Tensor, n_layers: int) -> list[np.ndarray]:
    """δ = ∂L/∂z of each hidden linear layer (flattened), one backward pass, cross-entropy."""
    zs = []
    h = x
    for name, m in model.named_children():
        h = m(h)
        if name.startswith("fc") and name != "fc_out":
            h.retain_grad()
            zs.append(h)
    torch.nn.functional.cross_entropy(h, y).backward()
    out = [z.grad.detach().flatten().numpy().copy() for z in zs[:n_layers]]
    model.zero_grad(set_to_none=True)
    return out


@register("glorot-saturation", description="Sigmoid MLP with the standard U(±1/√n) init: its top hidden layer "
          "saturates toward 0 early in training; tanh/softsign with normalized (Xavier) init do not; "
          "per-layer activation and back-propagated gradient histograms",
          reference="Glorot & Bengio 2010, Figs. 2, 4, 6, 7 and Table 1",
          config=Config, quick={"width": 128, "steps": 600, "n_train": 2000},
          summary_keys=_keys())
def measure(cfg: Config, ctx: RunContext) -> None:
    from .. import models, train
    from ..probes import inspect

    if cfg.layers < 2:
        raise ValueError(f"layers must be at least 2, got {cfg.layers!r}")
    data = mnist(ctx.seed, n_train=cfg.n_train)
    sizes = [data.n_features] + [cfg.width] * cfg.layers + [data.n_classes]
    xb, yb = data.x_train[:500], data.y_train[:500]
    for v, (act, scheme, published) in VARIANTS.items():
        model = models.mlp(sizes, act, init=scheme, generator=ctx.generator("init", scheme))
        deltas = _deltas(model, xb, yb, cfg.layers)
        gstd = [float(d.std()) for d in deltas]
        ctx.summary(f"grad_std_ratio_first_top_{v}", gstd[0] / gstd[-1] if gstd[-1] > 0 else None)
        ctx.arrays(f"{v}/delta_hist", _delta_histograms(deltas))
        for l, d in enumerate(deltas, start=1):
            ctx.metric(0, v, "init", f"delta_std_layer{l}", float(d.std()))
        h = train.fit(model, data, loss="ce", lr=cfg.lr, batch_size=cfg.batch_size, steps=cfg.steps,
                      seed=ctx.seed_for("fit"), quiet=True,
                      watch={"every": cfg.record_every, "hist_every": max(cfg.record_every, cfg.steps // 20)})
        ctx.metrics_from(h, v)
        arrays = h.arrays()
        names = [str(s) for s in arrays["layers"]]
        steps = arrays["steps"]
        cols = [names.index(f"act{i}") for i in range(1, cfg.layers + 1)]
        top = arrays["mean"][:, cols[-1]]
        ctx.summary(f"top_mean_start_{v}", top[0])
        ctx.summary(f"top_mean_min_{v}", float(np.nanmin(top)))
        ctx.summary(f"top_mean_end_{v}", top[-1])
        if v == "sigmoid_standard":
            ctx.summary("saturation_step_sigmoid_standard",
                        first_step(steps, top, cfg.saturation_threshold, below=True))
        err = None if h.diverged else 100 * (1 - h.final("accuracy", "test"))
        ctx.summary(f"test_error_percent_{v}", err, reference=published, tolerance=0.1, source=SOURCE)
        ins = inspect(model, data.x_test, data.y_test, "ce", bins=40)
        acts = [r for r in ins.layers if r.kind == "activation"][:cfg.layers]
        ctx.arrays(f"{v}/end_hist", {"counts": np.array([r.hist_counts for r in acts], dtype=float),
                                     "edges": np.array([r.hist_edges for r in acts], dtype=float)})
        ctx.summary(f"top_saturated_fraction_{v}", acts[-1].saturated_fraction)
        ctx.log(f"{v}: top-layer mean {top[0]:.3f} → min {np.nanmin(top):.3f} → {top[-1]:.3f}; "
                f"saturated {acts[-1].saturated_fraction:.2f}; test error "
                f"{'diverged' if err is None else f'{err:.2f}%'}; δ std first/top at init {gstd[0] / gstd[-1]:.3g}")

