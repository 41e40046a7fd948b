"""``activation-histograms``' figures: std by layer beside the mean-field prediction, and each variant's
per-layer histograms on one x axis (cs231n lecture 6 / seed 003 figures 3-6)."""
from __future__ import annotations

import math

import numpy as np

from ..rundir import RunFiles
from .canvas import hide_unused, new_figure

LABELS = {
    "tanh_small": "tanh, W ~ N(0, 0.01²)",
    "tanh_unit": "tanh, W ~ N(0, 1)",
    "tanh_xavier": "tanh, Xavier",
    "relu_xavier": "ReLU, Xavier",
    "relu_he": "ReLU, He",
    "relu_small_bn": "ReLU, N(0, 0.01²) + batch norm",
}


def draw(run: RunFiles) -> dict:
    cfg = run.config
    out = {f"histograms-{v}": _histograms(run, v, cfg["depth"]) for v in cfg["variants"]}
    fig, axes = new_figure(1, 1, size=(7.5, 4.8))
    ax = axes[0, 0]
    for i, v in enumerate(cfg["variants"]):
        ax.plot(*run.series(v, "forward", "std"), "o-", color=f"C{i}", label=LABELS[v])
        layers, predicted = run.series(v, "theory", "std")
        if len(predicted):
            ax.plot(layers, predicted, "--", color=f"C{i}", lw=1)
    ax.plot([], [], "k--", lw=1, label="mean-field prediction (dashed)")
    ax.set_yscale("log")
    ax.set_xlabel("hidden layer (1 = nearest the input)")
    ax.set_ylabel("std of the activation output (log scale)")
    ax.set_title(f"Activation std by layer: {cfg['depth']} layers × {cfg['width']} units, input N(0, 1), no bias")
    ax.legend(fontsize=8)
    return {"std-by-layer": fig, **out}


def _histograms(run: RunFiles, variant: str, depth: int):
    h = run.history(variant)
    names = [str(n) for n in h["layers"]]
    idx = [names.index(f"act{l}") for l in range(1, depth + 1)]
    counts, edges, std = h["hist_counts"][0, idx], h["hist_edges"][0, idx], h["std"][0, idx]
    cols = 5
    rows = math.ceil(len(idx) / cols)
    fig, axes = new_figure(cols, rows, size=(2.6, 2.2))
    # one x axis for every layer of the variant (as in cs231n's figure), so a collapse shows as a spike:
    # each layer's own bins are re-binned onto common edges
    common = np.linspace(float(edges[:, 0].min()), float(edges[:, -1].max()), counts.shape[1] + 1)
    for i in range(len(idx)):
        ax = axes[i // cols, i % cols]
        centers = 0.5 * (edges[i, 1:] + edges[i, :-1])
        rebinned, _ = np.histogram(centers, bins=common, weights=counts[i])
        ax.stairs(rebinned / max(counts[i].sum(), 1), common, fill=True, alpha=0.8)
        ax.set_title(f"layer {i + 1}: std {std[i]:.3g}", fontsize=9)
        ax.set_xlabel("activation value", fontsize=8)
        if i % cols == 0:
            ax.set_ylabel("fraction of values", fontsize=8)
        ax.set_ylim(0, 1.02)
        ax.tick_params(labelsize=7)
    hide_unused(axes, len(idx))
    fig.suptitle(f"Histograms of each layer's activations (same axes for every layer): {LABELS[variant]}")
    return fig
