"""``zigzag``'s figure: the SGD paths over the loss contours, and the first updates (Δw₀, Δw₁)."""
from __future__ import annotations

import numpy as np

from ..rundir import RunFiles
from .canvas import new_figure

KINDS = ("positive", "centered")
FIRST_UPDATES = 400  # updates scattered in the third panel


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def draw(run: RunFiles) -> dict:
    w_star = np.asarray(run.config["teacher"], dtype=np.float64)
    fig, axes = new_figure(3, 1, size=(4.6, 4.2))
    for col, kind in enumerate(KINDS):
        arrays = run.arrays(kind)
        path = arrays["path"]
        reach = run.ours(f"steps_to_optimum_{kind}")
        end = reach if reach is not None else len(path) - 1
        _path(axes[0, col], kind, path, end, arrays["inputs"], arrays["targets"], w_star,
              run.ours(f"same_sign_fraction_{kind}"))
        dw = np.diff(path, axis=0)[:FIRST_UPDATES]
        axes[0, 2].scatter(dw[:, 0], dw[:, 1], s=6, alpha=0.6, label=f"{kind} inputs", color=f"C{col}")
    ax = axes[0, 2]
    ax.axhline(0, color="0.5", lw=0.6)
    ax.axvline(0, color="0.5", lw=0.6)
    ax.set_xlabel("update Δw₀ of one SGD step")
    ax.set_ylabel("update Δw₁ of the same step")
    ax.set_title(f"First {FIRST_UPDATES} updates: positive inputs give\nupdates only in quadrants I and III", fontsize=10)
    ax.legend(fontsize=8)
    fig.suptitle("One sigmoid neuron, squared error, SGD (batch 1) from w = (0, 0) toward w* = "
                 f"({w_star[0]:g}, {w_star[1]:g}); contours: log₁₀ mean loss")
    return {"zigzag-paths": fig}


def _path(ax, kind: str, path: np.ndarray, end: int, x: np.ndarray, t: np.ndarray, w_star: np.ndarray,
          same: float) -> None:
    """The path up to step ``end`` over the contours of this input distribution's mean loss."""
    lo0, hi0 = min(-0.3, path[:, 0].min() - 0.3), max(w_star[0], path[:, 0].max()) + 0.5
    lo1, hi1 = min(w_star[1], path[:, 1].min()) - 0.5, max(0.3, path[:, 1].max() + 0.3)
    g0, g1 = np.meshgrid(np.linspace(lo0, hi0, 120), np.linspace(lo1, hi1, 120))
    grid = np.stack([g0.ravel(), g1.ravel()], 1)  # (G, 2)
    loss = 0.5 * ((sigmoid(grid @ x.T) - t) ** 2).mean(1).reshape(g0.shape)
    cs = ax.contour(g0, g1, np.log10(loss + 1e-12), levels=15, cmap="viridis", linewidths=0.7)
    ax.clabel(cs, fontsize=6, fmt="%.1f")
    ax.plot(path[:end + 1, 0], path[:end + 1, 1], "-", color="C3", lw=0.8, label="SGD path")
    ax.plot(*w_star, "k*", ms=12, label="optimum w*")
    ax.plot(0, 0, "ko", ms=5, label="start")
    ax.set_xlabel("weight w₀")
    ax.set_ylabel("weight w₁")
    ax.set_title(f"{'sigmoid (all positive)' if kind == 'positive' else 'tanh (zero-centred)'} inputs:\n"
                 f"{same:.0%} of updates move w₀, w₁ the same way", fontsize=10)
    ax.legend(fontsize=7, loc="upper right")
