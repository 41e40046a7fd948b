"""``zero-init``'s figure: the cost curves and the distinct units per hidden layer over training."""
from __future__ import annotations

import math

from ..circles import CIRCLES_SIZES
from ..rundir import RunFiles
from .canvas import new_figure

VARIANTS = ("zeros", "constant", "random")
HIDDEN = ("fc1", "fc2")  # pre-activations of the two hidden layers


def draw(run: RunFiles) -> dict:
    fig, axes = new_figure(2, 1, size=(5.4, 4.0))
    ax = axes[0, 0]
    for i, v in enumerate(VARIANTS):
        ax.plot(*run.series(v, "train", "loss"), color=f"C{i}",
                label=v if v != "constant" else f"constant {run.config['constant']:g}")
    ax.axhline(math.log(2), color="k", ls=":", lw=1, label="ln 2")
    ax.set_xlabel("gradient-descent step (full batch)")
    ax.set_ylabel("cost: binary cross-entropy (nats)")
    ax.set_title("Training cost on circles, [2,10,5,1] ReLU net")
    ax.legend(fontsize=8)
    ax = axes[0, 1]
    for i, v in enumerate(VARIANTS):
        for name, style in zip(HIDDEN, ("-", "--")):
            ax.plot(*run.series(v, "train", f"distinct_units_{name}"), style, color=f"C{i}", marker=".", ms=3,
                    label=f"{v}, hidden layer {name[-1]} ({CIRCLES_SIZES[int(name[-1])]} units)")
    ax.set_xlabel("gradient-descent step (full batch)")
    ax.set_ylabel("distinct units in the layer (count)")
    ax.set_title("Distinct units per hidden layer: equal starts stay equal")
    ax.set_ylim(0, max(CIRCLES_SIZES[1:-1]) + 1)
    ax.legend(fontsize=7)
    return {"zero-init": fig}
