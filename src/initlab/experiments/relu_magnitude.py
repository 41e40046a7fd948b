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

from ._common import mnist, ratio
from .registry import register
from .runner import RunContext, new_figure

SOURCE = "seed 001 (ReLU lets magnitudes reach the thousands under an init that ignores fan-in; " \
         "sigmoid bounds them but its gradient vanishes; Xavier restores control)"
# name: (activation, scheme, scheme options, legend)
VARIANTS = {
    "relu_normal": ("relu", "normal", {"std": 1.0}, "ReLU, W ~ N(0, 1)"),
    "sigmoid_normal": ("sigmoid", "normal", {"std": 1.0}, "sigmoid, W ~ N(0, 1)"),
    "relu_xavier": ("relu", "xavier_uniform", {}, "ReLU, Xavier uniform"),
    "relu_he": ("relu", "he_normal", {}, "ReLU, He normal"),
    "sigmoid_xavier": ("sigmoid", "xavier_uniform", {}, "sigmoid, Xavier uniform"),
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
    for v, (act, _, _, label) in VARIANTS.items():
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
def run(cfg: Config, ctx: RunContext) -> None:
    from .. import models, train
    from ..probes import inspect

    if cfg.depth < 2:
        raise ValueError(f"depth must be at least 2, got {cfg.depth!r}")
    data = mnist(ctx, n_train=cfg.n_train)
    x, y = data.x_train[:cfg.inspect_batch], data.y_train[:cfg.inspect_batch]
    sizes = [data.n_features] + [cfg.width] * cfg.depth + [data.n_classes]
    layers = np.arange(1, cfg.depth + 1)
    fig, axes = new_figure(3, 1, size=(5.0, 4.0))
    debug = []
    for k, (v, (act, scheme, opts, label)) in enumerate(VARIANTS.items()):
        model = models.mlp(sizes, act, init=scheme, generator=ctx.generator("init", v), **opts)
        ins = inspect(model, x, y, "ce")
        debug += [f"# {v}: {label}, {cfg.depth} hidden layers of {cfg.width}", ins.caffe(), ""]
        acts = [r for r in ins.layers if r.kind == "activation"]
        lin = [r for r in ins.layers if r.kind == "linear"]
        absm = np.array([r.abs_mean for r in acts], dtype=float)
        grads = np.array([r.grad_abs_mean if r.grad_abs_mean is not None else np.nan for r in lin], dtype=float)
        for l, a in zip(layers, absm):
            ctx.metric(int(l), v, "init", "abs_mean", a)
        for l, gv in enumerate(grads, start=1):
            ctx.metric(int(l), v, "init", "grad_abs_mean", gv)
        ctx.findings(f"{v}_init", ins.findings())
        ctx.summary(f"abs_mean_first_{v}", absm[0])
        ctx.summary(f"abs_mean_last_{v}", absm[-1])
        ctx.summary(f"abs_mean_growth_{v}", ratio(absm[-1], absm[0]))
        g_ratio = ratio(float(grads[0]), float(grads[-2]))  # fc1 vs the last hidden linear layer
        ctx.summary(f"grad_ratio_first_last_{v}", g_ratio)
        if act == "sigmoid":
            ctx.summary(f"saturated_fraction_{v}", float(np.mean([r.saturated_fraction for r in acts])))
        if v == "sigmoid_normal":
            ctx.summary("sigmoid_normal_output_max", max(r.max for r in acts))
        ctx.log(f"{label}: mean |x| layer 1 {absm[0]:.3g} → layer {cfg.depth} {absm[-1]:.3g}; "
                f"mean |δ| fc1 / fc{cfg.depth} {g_ratio if g_ratio is not None else float('nan'):.3g}")
        style = dict(color=f"C{k}", marker="o", ms=3, label=label)
        axes[0, 0].semilogy(layers, absm, **style)
        axes[0, 1].semilogy(np.arange(1, len(grads) + 1), grads, **style)

        h = train.fit(model, data, loss="ce", lr=cfg.lr, momentum=cfg.momentum, batch_size=cfg.batch_size,
                      steps=cfg.steps, seed=ctx.seed_for("fit", v), quiet=True,
                      watch={"every": 5, "hist_every": 50})
        ctx.metrics_from(h, v)
        acc = None if h.diverged else h.final("accuracy", "test")
        ctx.summary(f"test_accuracy_{v}", acc)
        ctx.summary(f"diverged_step_{v}", h.diverged_step)
        s, a = h.series("accuracy", "test")
        if len(s):
            axes[0, 2].plot(s, a, color=f"C{k}", marker="o", ms=3, label=label)
        if h.diverged:
            axes[0, 2].axvline(h.diverged_step, color=f"C{k}", ls=":", lw=1)
        ctx.log(f"{label}: " + (h.message if h.diverged else f"test accuracy {acc:.3f} after {h.steps} updates"))
    (ctx.dir / "debug_info.txt").write_text("\n".join(debug), encoding="utf-8")
    ax = axes[0, 0]
    ax.axhline(1e3, color="0.6", ls="--", lw=0.8)
    ax.set_xlabel("hidden layer l")
    ax.set_ylabel("mean |x| of the layer's output (Caffe 'data')")
    ax.set_title("Forward: mean |x| per layer at init", fontsize=10)
    ax = axes[0, 1]
    ax.set_xlabel("linear layer l (last = output layer)")
    ax.set_ylabel("mean |δ| = mean |∂L/∂z| (Caffe 'diff')")
    ax.set_title("Backward: mean |δ| per layer at init", fontsize=10)
    ax = axes[0, 2]
    ax.set_xlabel("SGD update")
    ax.set_ylabel("test accuracy")
    ax.set_title("Training (dotted: diverged)", fontsize=10)
    ax.set_ylim(0, 1)
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(f"{cfg.depth} hidden layers × {cfg.width} units on MNIST: magnitudes by layer")
    ctx.figure("relu-magnitude", fig)
