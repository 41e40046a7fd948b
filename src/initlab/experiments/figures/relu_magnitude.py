"""``relu-magnitude``'s figure: mean |x| and mean |δ| by layer at init (Caffe's debug_info), and training."""
from __future__ import annotations

from ..rundir import RunFiles
from .canvas import new_figure

LABELS = {"relu_normal": "ReLU, W ~ N(0, 1)", "sigmoid_normal": "sigmoid, W ~ N(0, 1)",
          "relu_xavier": "ReLU, Xavier uniform", "relu_he": "ReLU, He normal",
          "sigmoid_xavier": "sigmoid, Xavier uniform"}


def draw(run: RunFiles) -> dict:
    cfg = run.config
    fig, axes = new_figure(3, 1, size=(5.0, 4.0))
    for k, (v, label) in enumerate(LABELS.items()):
        style = dict(color=f"C{k}", marker="o", ms=3, label=label)
        axes[0, 0].semilogy(*run.series(v, "init", "abs_mean"), **style)
        axes[0, 1].semilogy(*run.series(v, "init", "grad_abs_mean"), **style)
        s, a = run.series(v, "test", "accuracy")
        if len(s):
            axes[0, 2].plot(s, a, color=f"C{k}", marker="o", ms=3, label=label)
        diverged = run.ours(f"diverged_step_{v}")
        if diverged is not None:
            axes[0, 2].axvline(diverged, color=f"C{k}", ls=":", lw=1)
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
    fig.suptitle(f"{cfg['depth']} hidden layers × {cfg['width']} units on MNIST: magnitudes by layer")
    return {"relu-magnitude": fig}
