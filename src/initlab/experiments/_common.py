"""Helpers shared by the experiments (not an experiment: the registry skips ``_`` modules)."""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

# the deeplearning.ai "Initialization" network: LINEAR→RELU→LINEAR→RELU→LINEAR→SIGMOID, [2, 10, 5, 1]
CIRCLES_SIZES = [2, 10, 5, 1]
DLAI_SOURCE = ("deeplearning.ai, Improving Deep Neural Networks, week 1 'Initialization' exercise "
               "(seed 003 figures 1-2)")


def circles_model(init: str, generator: torch.Generator, **options: Any) -> nn.Sequential:
    """The exercise's [2, 10, 5, 1] ReLU network (biases zero); the sigmoid is in the loss."""
    from .. import models

    return models.mlp(CIRCLES_SIZES, "relu", init=init, bias_init="zeros", generator=generator, **options)


def hidden_names(model: nn.Module) -> list[str]:
    """The hidden activation layers of an ``il.models.mlp`` (act1, act2, …)."""
    return [n for n, _ in model.named_children() if n.startswith("act") and n != "act_out"]


def decision_boundary(ax: Any, model: nn.Module, x: torch.Tensor, y: torch.Tensor, title: str) -> None:
    """Shade where the model predicts class 1 (logit > 0) and scatter the points."""
    xn, yn = x.numpy(), y.numpy()
    lo, hi = xn.min(0) - 0.3, xn.max(0) + 0.3
    g0, g1 = np.meshgrid(np.linspace(lo[0], hi[0], 200), np.linspace(lo[1], hi[1], 200))
    grid = torch.tensor(np.c_[g0.ravel(), g1.ravel()], dtype=torch.float32)
    was = model.training
    model.eval()
    with torch.no_grad():
        z = model(grid).reshape(g0.shape).numpy()
    model.train(was)
    ax.contourf(g0, g1, (z > 0).astype(float), levels=[-0.5, 0.5, 1.5], colors=["#f4cccc", "#cfe2f3"])
    ax.scatter(xn[:, 0], xn[:, 1], c=np.where(yn == 1, "#1f4e99", "#a61c00"), s=8)
    ax.set_xlabel("x₁ (input feature)")
    ax.set_ylabel("x₂ (input feature)")
    ax.set_title(title, fontsize=10)


def series_at(history: Any, metric: str, split: str, step: int) -> float:
    """The recorded value of ``metric`` at ``step`` (NaN if absent)."""
    s, v = history.series(metric, split)
    hit = np.flatnonzero(s == step)
    return float(v[hit[0]]) if len(hit) else float("nan")


# the statistics of an Inspection stored like one Watcher step (CONTRACTS.md: history.npz per variant)
_INSPECTION_STATS = ("mean", "std", "abs_mean", "grad_norm", "weight_grad_norm", "bias_grad_norm",
                     "dead_fraction", "saturated_fraction", "distinct_units", "sign_coherence", "min", "max",
                     "zero_fraction")


def inspection_arrays(insp: Any) -> dict[str, np.ndarray]:
    """An :class:`initlab.Inspection` as the Watcher-file arrays of a single step (step 0)."""
    layers = insp.layers
    out: dict[str, np.ndarray] = {
        "format_version": np.array(1), "steps": np.array([0], np.int64),
        "layers": np.array([r.label for r in layers], dtype=str),
    }
    for stat in _INSPECTION_STATS:
        out[stat] = np.array([[np.nan if getattr(r, stat) is None else float(getattr(r, stat)) for r in layers]])
    with_hist = [r for r in layers if r.hist_counts is not None]
    if with_hist:
        bins = len(with_hist[0].hist_counts)
        counts = np.full((1, len(layers), bins), np.nan)
        edges = np.full((1, len(layers), bins + 1), np.nan)
        for i, r in enumerate(layers):
            if r.hist_counts is not None and len(r.hist_counts) == bins:
                counts[0, i], edges[0, i] = r.hist_counts, r.hist_edges
        out.update(hist_steps=np.array([0], np.int64), hist_counts=counts, hist_edges=edges)
    return out
