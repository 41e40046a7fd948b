r"""``activation-histograms``: seed 003 figures 3-6, after cs231n lecture 6 ("Weight Initialization").

Ten fully connected layers of 500 units without biases, input N(0, 1) of 1000 × 500; one forward
pass per initialization, recorded by :func:`initlab.inspect` (per-layer std and histograms of each
activation's output). Variants:

============== ============================ =========================================================
variant        weights                      published std of layers 1, 2, 3, … (cs231n / seed 003)
============== ============================ =========================================================
tanh_small     N(0, 0.01²)                  0.213, 0.0476, 0.0106, 0.00238, 0.00053, … → 0
tanh_unit      N(0, 1)                      ≈ 0.98 at every layer (saturated at ±1)
tanh_xavier    Xavier N(0, 2/(n_in+n_out))  (no number published: a slowly shrinking bell)
relu_xavier    Xavier                       0.58, 0.41, 0.29, …, ≈ 0.026 at layer 10 (halves the variance)
relu_he        He N(0, 2/n_in)              ≈ 0.83 at every layer (± 10 %)
relu_small_bn  N(0, 0.01²) + BatchNorm      ≈ 0.58 at every layer (BN before the ReLU)
============== ============================ =========================================================

At 500 units one draw of He weights drifts with depth (finite-width fluctuations that the
examples share once they become correlated): layer 10's std ranged 0.68–0.98 over eight seeds, hence
a ±20 % tolerance there.

The dashed line of the std figure is :func:`initlab.theory.predict`'s mean-field prediction for the
drawn weights (not defined through batch norm).

Summary keys: ``std_{variant}_layer{l}`` (std of layer l's activation output, over all examples and
units), ``std_ratio_layer10_layer1_{variant}``, ``theory_max_relative_error_{variant}`` (max over
layers of |measured − predicted| / predicted std).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from .. import models as _models
from .. import probes as _probes
from ._common import inspection_arrays
from .registry import register
from .runner import RunContext, new_figure

SOURCE = "cs231n lecture 6 (Weight Initialization) / seed 003 figures 3-6"
# name: (activation, scheme, options, batch norm, label)
VARIANTS = {
    "tanh_small": ("tanh", "normal", {"std": 0.01}, False, "tanh, W ~ N(0, 0.01²)"),
    "tanh_unit": ("tanh", "normal", {"std": 1.0}, False, "tanh, W ~ N(0, 1)"),
    "tanh_xavier": ("tanh", "xavier_normal", {}, False, "tanh, Xavier"),
    "relu_xavier": ("relu", "xavier_normal", {}, False, "ReLU, Xavier"),
    "relu_he": ("relu", "he_normal", {}, False, "ReLU, He"),
    "relu_small_bn": ("relu", "normal", {"std": 0.01}, True, "ReLU, N(0, 0.01²) + batch norm"),
}
# published per-layer stds: {variant: {layer: (value, relative tolerance)}}
PUBLISHED = {
    "tanh_small": {1: (0.213, 0.1), 2: (0.0476, 0.1), 3: (0.0106, 0.1), 4: (0.00238, 0.1), 5: (0.00053, 0.1)},
    "tanh_unit": {1: (0.98, 0.02), 10: (0.98, 0.02)},
    "relu_xavier": {1: (0.58, 0.1), 2: (0.41, 0.1), 3: (0.29, 0.1), 10: (0.026, 0.15)},
    "relu_he": {1: (0.83, 0.1), 10: (0.83, 0.2)},  # one draw drifts ±15 % by layer 10 (finite width)
    "relu_small_bn": {1: (0.58, 0.05), 10: (0.58, 0.05)},
}
SHOWN_LAYERS = (1, 2, 3, 4, 5, 10)


def _keys() -> dict[str, str]:
    keys = {}
    for v, (*_, label) in VARIANTS.items():
        for l in SHOWN_LAYERS:
            keys[f"std_{v}_layer{l}"] = f"std of hidden layer {l}'s activation output ({label})"
        keys[f"std_ratio_layer10_layer1_{v}"] = f"std of layer 10 / std of layer 1 ({label})"
        keys[f"theory_max_relative_error_{v}"] = (f"max over layers of |measured − predicted std| / predicted "
                                                  f"(mean-field theory, {label})")
    return keys


@dataclass
class Config:
    n_examples: int = 1000
    width: int = 500
    depth: int = 10
    variants: tuple[str, ...] = tuple(VARIANTS)
    bins: int = 50


@register("activation-histograms", description="Per-layer activation histograms and stds of a 10-layer, "
          "500-unit net for tanh/ReLU under small, unit, Xavier and He init and batch norm, beside the "
          "mean-field prediction",
          reference="cs231n lecture 6 / seed 003 figures 3-6 (tanh 0.01: 0.213, 0.0476, …; ReLU He ≈ 0.83; "
                    "ReLU Xavier 0.58, 0.41, …; BN ≈ 0.58)",
          config=Config, quick={"n_examples": 200}, summary_keys=_keys())
def run(cfg: Config, ctx: RunContext) -> None:
    bad = [v for v in cfg.variants if v not in VARIANTS]
    if bad or not cfg.variants:
        raise ValueError(f"variants must be a non-empty subset of {list(VARIANTS)}, got {list(cfg.variants)}")
    if cfg.depth < 1 or cfg.width < 1 or cfg.n_examples < 2:
        raise ValueError(f"depth, width must be ≥ 1 and n_examples ≥ 2, got {cfg.depth}, {cfg.width}, {cfg.n_examples}")
    from .. import theory

    x = torch.randn(cfg.n_examples, cfg.width, generator=ctx.generator("input"))  # (N, 500) ~ N(0, 1)
    acts = [f"act{l}" for l in range(1, cfg.depth + 1)]
    measured, predicted = {}, {}
    for v in cfg.variants:
        act, scheme, opts, bn, label = VARIANTS[v]
        # depth hidden layers act1..act{depth}; the output layer fc_out only closes the net and is ignored
        model = _models.mlp([cfg.width] * (cfg.depth + 2), act, init=scheme, bias=False,
                            norm="batch" if bn else None, generator=ctx.generator("init", v), **opts)
        insp = _probes.inspect(model, x, loss_fn="none", bins=cfg.bins)
        by_name = {r.label: r for r in insp.layers}
        stats = [by_name[a] for a in acts]
        std = np.array([r.std for r in stats], dtype=np.float64)
        measured[v] = (std, stats)
        arrays = inspection_arrays(insp)
        pred = np.full(len(insp.layers), np.nan)
        if not bn:
            p = theory.predict(model, q0=float((x.double() ** 2).mean()))
            at = {r.activation_module: r.post_std for r in p.layers if r.activation_module}
            at.update({r.name: r.pre_std for r in p.layers})
            pred = np.array([at.get(r.label, np.nan) for r in insp.layers])
            predicted[v] = np.array([at[a] for a in acts])
        arrays["predicted_std"] = pred
        ctx.history(v, arrays)
        ctx.findings(v, insp.findings())
        for l, s in enumerate(std, 1):
            ctx.metric(l, v, "forward", "std", s)
            if v in predicted:
                ctx.metric(l, v, "theory", "std", predicted[v][l - 1])
        for l in SHOWN_LAYERS:
            if l <= cfg.depth:
                ref = PUBLISHED.get(v, {}).get(l)
                extra = {"reference": ref[0], "tolerance": ref[0] * ref[1], "source": SOURCE} if ref else {}
                ctx.summary(f"std_{v}_layer{l}", std[l - 1], **extra)
        ctx.summary(f"std_ratio_layer10_layer1_{v}", std[min(10, cfg.depth) - 1] / std[0])
        if v in predicted:
            ctx.summary(f"theory_max_relative_error_{v}", float(np.max(np.abs(std - predicted[v]) / predicted[v])))
        ctx.log(f"{label}: std by layer " + ", ".join(f"{s:.3g}" for s in std))
        _histogram_figure(ctx, v, label, stats)

    fig, axes = new_figure(1, 1, size=(7.5, 4.8))
    ax = axes[0, 0]
    layers = np.arange(1, cfg.depth + 1)
    for i, v in enumerate(cfg.variants):
        ax.plot(layers, measured[v][0], "o-", color=f"C{i}", label=VARIANTS[v][4])
        if v in predicted:
            ax.plot(layers, predicted[v], "--", color=f"C{i}", lw=1)
    ax.plot([], [], "k--", lw=1, label="mean-field prediction (dashed)")
    ax.set_yscale("log")
    ax.set_xlabel("hidden layer (1 = nearest the input)")
    ax.set_ylabel("std of the activation output (log scale)")
    ax.set_title(f"Activation std by layer: {cfg.depth} layers × {cfg.width} units, input N(0, 1), no bias")
    ax.legend(fontsize=8)
    ctx.figure("std-by-layer", fig)


def _histogram_figure(ctx: RunContext, variant: str, label: str, stats: list) -> None:
    cols = 5
    rows = math.ceil(len(stats) / cols)
    fig, axes = new_figure(cols, rows, size=(2.6, 2.2))
    # one x axis for every layer of the variant (as in cs231n's figure), so a collapse shows as a spike:
    # each layer's own bins are re-binned onto common edges
    lo = min(float(r.hist_edges[0]) for r in stats)
    hi = max(float(r.hist_edges[-1]) for r in stats)
    common = np.linspace(lo, hi, len(stats[0].hist_counts) + 1)
    for i, r in enumerate(stats):
        ax = axes[i // cols, i % cols]
        edges, counts = np.asarray(r.hist_edges), np.asarray(r.hist_counts)
        centers = 0.5 * (edges[1:] + edges[:-1])
        rebinned, _ = np.histogram(centers, bins=common, weights=counts)
        ax.stairs(rebinned / max(counts.sum(), 1), common, fill=True, alpha=0.8)
        ax.set_title(f"layer {i + 1}: std {r.std:.3g}", fontsize=9)
        ax.set_xlabel("activation value", fontsize=8)
        if i % cols == 0:
            ax.set_ylabel("fraction of values", fontsize=8)
        ax.set_ylim(0, 1.02)
        ax.tick_params(labelsize=7)
    for j in range(len(stats), rows * cols):
        axes[j // cols, j % cols].set_visible(False)
    fig.suptitle(f"Histograms of each layer's activations (same axes for every layer): {label}")
    ctx.figure(f"histograms-{variant}", fig)
