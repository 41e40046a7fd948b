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

from dataclasses import dataclass

import numpy as np
import torch

from .. import models as _models
from .. import probes as _probes
from .context import RunContext
from .figures.activation_histograms import LABELS
from .history import inspection_arrays
from .registry import register

SOURCE = "cs231n lecture 6 (Weight Initialization) / seed 003 figures 3-6"
# name: (activation, scheme, options, batch norm)
VARIANTS = {
    "tanh_small": ("tanh", "normal", {"std": 0.01}, False),
    "tanh_unit": ("tanh", "normal", {"std": 1.0}, False),
    "tanh_xavier": ("tanh", "xavier_normal", {}, False),
    "relu_xavier": ("relu", "xavier_normal", {}, False),
    "relu_he": ("relu", "he_normal", {}, False),
    "relu_small_bn": ("relu", "normal", {"std": 0.01}, True),
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
    for v, label in LABELS.items():
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
def measure(cfg: Config, ctx: RunContext) -> None:
    bad = [v for v in cfg.variants if v not in VARIANTS]
    if bad or not cfg.variants:
        raise ValueError(f"variants must be a non-empty subset of {list(VARIANTS)}, got {list(cfg.variants)}")
    if cfg.depth < 1 or cfg.width < 1 or cfg.n_examples < 2:
        raise ValueError(f"depth, width must be ≥ 1 and n_examples ≥ 2, got {cfg.depth}, {cfg.width}, {cfg.n_examples}")
    x = torch.randn(cfg.n_examples, cfg.width, generator=ctx.generator("input"))  # (N, 500) ~ N(0, 1)
    for v in cfg.variants:
        _variant(cfg, ctx, v, x)


def _variant(cfg: Config, ctx: RunContext, v: str, x: torch.Tensor) -> None:
    """One forward pass of one init: per-layer std and histograms, beside theory's prediction."""
    from .. import theory

    act, scheme, opts, bn = VARIANTS[v]
    # depth hidden layers act1..act{depth}; the output layer fc_out only closes the net and is ignored
    model = _models.mlp([cfg.width] * (cfg.depth + 2), act, init=scheme, bias=False,
                        norm="batch" if bn else None, generator=ctx.generator("init", v), **opts)
    insp = _probes.inspect(model, x, loss_fn="none", bins=cfg.bins)
    by_name = {r.label: r for r in insp.layers}
    std = np.array([by_name[f"act{l}"].std for l in range(1, cfg.depth + 1)], dtype=np.float64)
    arrays = inspection_arrays(insp)
    arrays["predicted_std"] = np.full(len(insp.layers), np.nan)
    predicted = None
    if not bn:
        p = theory.predict(model, q0=float((x.double() ** 2).mean()))
        at = {r.activation_module: r.post_std for r in p.layers if r.activation_module}
        at.update({r.name: r.pre_std for r in p.layers})
        arrays["predicted_std"] = np.array([at.get(r.label, np.nan) for r in insp.layers])
        predicted = np.array([at[f"act{l}"] for l in range(1, cfg.depth + 1)])
    ctx.history(v, arrays)
    ctx.findings(v, insp.findings())
    for l, s in enumerate(std, 1):
        ctx.metric(l, v, "forward", "std", s)
        if predicted is not None:
            ctx.metric(l, v, "theory", "std", predicted[l - 1])
    for l in SHOWN_LAYERS:
        if l <= cfg.depth:
            ref = PUBLISHED.get(v, {}).get(l)
            extra = {"reference": ref[0], "tolerance": ref[0] * ref[1], "source": SOURCE} if ref else {}
            ctx.summary(f"std_{v}_layer{l}", std[l - 1], **extra)
    ctx.summary(f"std_ratio_layer10_layer1_{v}", std[min(10, cfg.depth) - 1] / std[0])
    if predicted is not None:
        ctx.summary(f"theory_max_relative_error_{v}", float(np.max(np.abs(std - predicted) / predicted)))
    ctx.log(f"{LABELS[v]}: std by layer " + ", ".join(f"{s:.3g}" for s in std))
