r"""``relu-magnitude``: ReLU does not control magnitudes, sigmoid does but its gradients vanish (seed 001).

A deep MLP on MNIST whose weights ignore the fan-in, :math:`W \sim \mathcal N(0, 1)`: each ReLU layer
multiplies the second moment by :math:`n\,\mathrm{Var}(w)/2 = n/2` (:math:`\mathrm{Var}(z) =
n\,\mathrm{Var}(w)\,\mathrm{Var}(x)`, seed 001), so the mean |x| that Caffe's ``debug_info`` prints per
layer runs into the thousands (and far beyond) while the input-side layers stay small. The same init
with sigmoid keeps every output in (0, 1), but the saturated units pass back σ'(z) ≈ 0 and the
gradient vanishes toward the input. Xavier (:math:`\mathrm{Var}(w) = 2/(n+m)`) and He
(:math:`2/n`) restore control. Each variant is inspected once at init (forward and backward,
:func:`initlab.inspect`, Caffe lines in ``debug_info.txt``) and then trained briefly with SGD (seed 001's
three experiments: the bad init with ReLU fails, with sigmoid it recovers).

Summary keys, per variant ``relu_normal``, ``sigmoid_normal``, ``relu_xavier``, ``relu_he``,
``sigmoid_xavier``: ``abs_mean_first_*`` / ``abs_mean_last_*`` (mean |x| of the first / last hidden
activation at init), ``abs_mean_growth_*`` (last / first), ``grad_ratio_first_last_*`` (mean |δ| at the
first / the last hidden linear layer), ``saturated_fraction_*`` (sigmoid variants), ``test_accuracy_*`` (after training; null if it
diverged), ``diverged_step_*`` (update at which a NaN/Inf appeared; null if none); and
``sigmoid_normal_output_max`` (largest sigmoid output at init: < 1).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .context import RunContext
from .datasets import mnist
from .figures.relu_magnitude import LABELS
from .registry import register
from .series import ratio

DEBUG_INFO = "debug_info.txt"  # Caffe-style lines of every variant's inspection at init

SOURCE = "seed 001 (ReLU lets magnitudes reach the thousands under an init that ignores fan-in; " \
         "sigmoid bounds them but its gradient vanishes; Xavier restores control)"
# name: (activation, scheme, scheme options); legends in figures.relu_magnitude.LABELS
VARIANTS = {
    "relu_normal": ("relu", "normal", {"std": 1.0}),
    "sigmoid_normal": ("sigmoid", "normal", {"std": 1.0}),
    "relu_xavier": ("relu", "xavier_uniform", {}),
    "relu_he": ("relu", "he_normal", {}),
    "sigmoid_xavier": ("sigmoid", "xavier_uniform", {}),
}


@dataclass
class Config:
    depth: int = 8  # hidden layers
    width: int = 256
    inspect_batch: int = 256  # images for the one-shot inspection at init
    n_train: int = 4000
    steps: int = 600  # SGD updates per variant
    batch_size: int = 64
    lr: float = 0.01
    momentum: float = 0.9


def _keys() -> dict[str, str]:
    keys = {"sigmoid_normal_output_max": "largest sigmoid output at init with W ~ N(0, 1): the outputs stay "
                                         "in (0, 1) however large the pre-activations (float32 rounds "
                                         "σ(z) to 1 for z > 17)"}
    for v, (act, _, _) in VARIANTS.items():
        label = LABELS[v]
        keys[f"abs_mean_first_{v}"] = f"mean |x| of the first hidden activation's output at init ({label})"
        keys[f"abs_mean_last_{v}"] = f"mean |x| of the last hidden activation's output at init ({label})"
        keys[f"abs_mean_growth_{v}"] = f"mean |x|, last / first hidden layer, at init ({label})"
        keys[f"grad_ratio_first_last_{v}"] = (f"mean |δ| (δ = ∂L/∂z) at the first / the last hidden linear "
                                              f"layer, at init, cross-entropy ({label}); ≪ 1: vanishing, "
                                              f"≫ 1: exploding toward the input")
        if act == "sigmoid":
            keys[f"saturated_fraction_{v}"] = (f"fraction of hidden sigmoid outputs within 0.01 of 0 or 1 at "
                                               f"init, mean over layers ({label})")
        keys[f"test_accuracy_{v}"] = f"test accuracy after training ({label}); null if it diverged"
        keys[f"diverged_step_{v}"] = f"SGD update at which a NaN/Inf appeared ({label}); null if none"
    return keys


@register("relu-magnitude", description="Deep ReLU MLP with W ~ N(0, 1): mean |x| per layer (Caffe "
          "debug_info) runs into the thousands; sigmoid keeps outputs in (0, 1) but its gradients vanish; "
          "Xavier/He restore control",
          reference="seed 001 (ReLU vs sigmoid magnitudes, Caffe debug_info; the Xavier derivation)",
          config=Config, quick={"depth": 6, "width": 128, "steps": 150, "n_train": 2000},
          summary_keys=_keys())
def measure(cfg: Config, ctx: RunContext) -> None:
    from .. import models

    if cfg.depth < 2:
        raise ValueError(f"depth must be at least 2, got {cfg.depth!r}")
    data = mnist(ctx.seed, n_train=cfg.n_train)
    sizes = [data.n_features] + [cfg.width] * cfg.depth + [data.n_classes]
    debug = []
    for v, (act, scheme, opts) in VARIANTS.items():
        model = models.mlp(sizes, act, init=scheme, generator=ctx.generator("init", v), **opts)
        debug += [f"# {v}: {LABELS[v]}, {cfg.depth} hidden layers of {cfg.width}", _at_init(cfg, ctx, v, model, data), ""]
        _train(cfg, ctx, v, model, data)
    ctx.text(DEBUG_INFO, "\n".join(debug))


def _at_init(cfg: Config, ctx: RunContext, v: str, model, data) -> str:
    """Mean |x| and mean |δ| by layer at init (one inspection); returns its Caffe debug_info lines."""
    from ..probes import inspect

    ins = inspect(model, data.x_train[:cfg.inspect_batch], data.y_train[:cfg.inspect_batch], "ce")
    acts = [r for r in ins.layers if r.kind == "activation"]
    lin = [r for r in ins.layers if r.kind == "linear"]
    absm = np.array([r.abs_mean for r in acts], dtype=float)
    grads = np.array([r.grad_abs_mean if r.grad_abs_mean is not None else np.nan for r in lin], dtype=float)
    for l, a in enumerate(absm, start=1):
        ctx.metric(l, v, "init", "abs_mean", a)
    for l, gv in enumerate(grads, start=1):
        ctx.metric(l, v, "init", "grad_abs_mean", gv)
    ctx.findings(f"{v}_init", ins.findings())
    ctx.summary(f"abs_mean_first_{v}", absm[0])
    ctx.summary(f"abs_mean_last_{v}", absm[-1])
    ctx.summary(f"abs_mean_growth_{v}", ratio(absm[-1], absm[0]))
    g_ratio = ratio(float(grads[0]), float(grads[-2]))  # fc1 vs the last hidden linear layer
    ctx.summary(f"grad_ratio_first_last_{v}", g_ratio)
    if VARIANTS[v][0] == "sigmoid":
        ctx.summary(f"saturated_fraction_{v}", float(np.mean([r.saturated_fraction for r in acts])))
    if v == "sigmoid_normal":
        ctx.summary("sigmoid_normal_output_max", max(r.max for r in acts))
    ctx.log(f"{LABELS[v]}: mean |x| layer 1 {absm[0]:.3g} → layer {cfg.depth} {absm[-1]:.3g}; "
            f"mean |δ| fc1 / fc{cfg.depth} {g_ratio if g_ratio is not None else float('nan'):.3g}")
    return ins.caffe()


def _train(cfg: Config, ctx: RunContext, v: str, model, data) -> None:
    """Brief SGD training: test accuracy, or the update at which it diverged."""
    from .. import train

    h = train.fit(model, data, loss="ce", lr=cfg.lr, momentum=cfg.momentum, batch_size=cfg.batch_size,
                  steps=cfg.steps, seed=ctx.seed_for("fit", v), quiet=True, watch={"every": 5, "hist_every": 50})
    ctx.metrics_from(h, v)
    acc = None if h.diverged else h.final("accuracy", "test")
    ctx.summary(f"test_accuracy_{v}", acc)
    ctx.summary(f"diverged_step_{v}", h.diverged_step)
    ctx.log(f"{LABELS[v]}: " + (h.message if h.diverged else f"test accuracy {acc:.3f} after {h.steps} updates"))
