"""``auto-init``'s figure: per-layer std at init beside theory, and the training loss, per activation."""
from __future__ import annotations

import numpy as np

from ..rundir import RunFiles
from ..series import running_mean
from .canvas import new_figure

INITS = {"default": "PyTorch default U(±1/√n)", "auto": "initlab 'auto' (quadrature gain)",
         "lsuv": "LSUV (Mishkin & Matas 2016)"}
ACTIVATIONS = ("gelu", "silu")


def draw(run: RunFiles) -> dict:
    fig, axes = new_figure(2, 2, size=(5.2, 3.8))
    for r, act in enumerate(ACTIVATIONS):
        for k, (init, label) in enumerate(INITS.items()):
            v = f"{act}_{init}"
            ax = axes[r, 0]
            ax.semilogy(*run.series(v, "init", "std"), "o", ms=4, color=f"C{k}", label=f"{label}, measured")
            ax.semilogy(*run.series(v, "theory", "std"), "--", color=f"C{k}", lw=1,
                        label="theory.predict" if k == 0 else None)
            losses = run.arrays(f"{v}/batch_loss")
            axes[r, 1].plot(losses["steps"], running_mean(losses["loss"], 20), color=f"C{k}", label=label)
        ax = axes[r, 0]
        ax.set_xlabel("hidden layer l")
        ax.set_ylabel("std of the layer's output at init")
        ax.set_title(f"{act.upper()}: per-layer std at init (dashed: mean-field prediction)", fontsize=10)
        ax.legend(fontsize=7)
        ax = axes[r, 1]
        ax.axhline(np.log(10), color="0.5", ls=":", lw=1)
        ax.set_xlabel("SGD update")
        ax.set_ylabel("training loss (running mean of 20)")
        ax.set_title(f"{act.upper()}: training", fontsize=10)
        ax.legend(fontsize=7)
    cfg = run.config
    fig.suptitle(f"{cfg['depth']} hidden layers × {cfg['width']}, MNIST: PyTorch default vs 'auto' vs 'lsuv'")
    return {"auto-init": fig}
