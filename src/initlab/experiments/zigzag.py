r"""``zigzag``: why non-zero-centred inputs make gradient descent zig-zag (seed 000).

One sigmoid neuron :math:`y = \sigma(w_0 x_0 + w_1 x_1)`, squared error
:math:`\tfrac12 (y - t)^2` toward a teacher :math:`t = \sigma(w^* \cdot x)` with :math:`w^* = (2, -1)`,
from :math:`w = (0, 0)`, SGD with batch size 1. The gradient is
:math:`\partial L/\partial w_i = \delta\, x_i` with one scalar :math:`\delta = (y - t)\,\sigma'(w \cdot x)`
per example; when every :math:`x_i > 0` (outputs of a sigmoid layer) both components share δ's sign,
so each update moves both weights the same way and reaching :math:`w_0 \uparrow, w_1 \downarrow`
takes a zig-zag. With zero-centred inputs (outputs of tanh) the signs are independent.

Summary keys, per input kind ``positive`` / ``centered``: ``same_sign_fraction_*`` (fraction of
updates whose two components share a sign: 1 for positive inputs, ≈ ½ for centred ones),
``steps_to_optimum_*`` (first step with :math:`\|w - w^*\| < \varepsilon`; null if never),
``path_ratio_*`` (path length up to then / straight distance :math:`\|w^*\|`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .registry import register
from .runner import RunContext, new_figure

SOURCE = "seed 000 (non-zero-centred sigmoid outputs: every weight update of a unit shares one sign)"
KINDS = ("positive", "centered")


@dataclass
class Config:
    teacher: tuple[float, ...] = (2.0, -1.0)
    lr: float = 2.0
    steps: int = 5000
    n_examples: int = 500
    eps: float = 0.05  # "at the optimum": ||w - w*|| < eps


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _inputs(kind: str, n: int, rs: np.random.RandomState) -> np.ndarray:
    z = rs.randn(n, 2)
    return _sigmoid(z) if kind == "positive" else np.tanh(z)  # (n, 2): outputs of a sigmoid / tanh layer


def _sgd(x: np.ndarray, t: np.ndarray, lr: float, steps: int, order: np.ndarray) -> np.ndarray:
    """The weight path (steps + 1, 2) of plain SGD, batch size 1, closed-form gradient."""
    w = np.zeros(2)
    path = np.empty((steps + 1, 2))
    path[0] = w
    for s in range(steps):
        xi = x[order[s]]
        y = _sigmoid(xi @ w)
        delta = (y - t[order[s]]) * y * (1.0 - y)  # dL/dz
        w = w - lr * delta * xi  # dL/dw_i = delta · x_i
        path[s + 1] = w
    return path


@register("zigzag", description="One sigmoid neuron trained by SGD: all-positive inputs (sigmoid outputs) "
          "force every update's two components to share a sign, so the path zig-zags; zero-centred "
          "(tanh) inputs head for the optimum",
          reference="seed 000 (why zero-centred activations: the zig-zag of non-zero-centred inputs)",
          config=Config, quick={"steps": 2000},
          summary_keys={
              **{f"same_sign_fraction_{k}": f"fraction of SGD updates whose two weight changes share a sign "
                                              f"({k} inputs)" for k in KINDS},
              **{f"steps_to_optimum_{k}": f"first SGD step with ||w − w*|| < eps ({k} inputs); null if never"
                 for k in KINDS},
              **{f"path_ratio_{k}": f"path length to the optimum / straight distance ||w*|| ({k} inputs)"
                 for k in KINDS},
          })
def run(cfg: Config, ctx: RunContext) -> None:
    if len(cfg.teacher) != 2:
        raise ValueError(f"teacher must have two weights, got {cfg.teacher!r}")
    w_star = np.asarray(cfg.teacher, dtype=np.float64)
    fig, axes = new_figure(3, 1, size=(4.6, 4.2))
    for col, kind in enumerate(KINDS):
        rs = ctx.rng("zigzag", kind)
        x = _inputs(kind, cfg.n_examples, rs)
        t = _sigmoid(x @ w_star)
        order = rs.randint(0, cfg.n_examples, size=cfg.steps)
        path = _sgd(x, t, cfg.lr, cfg.steps, order)
        dw = np.diff(path, axis=0)
        moving = (dw != 0).all(1)
        same = float(np.mean(np.sign(dw[moving, 0]) == np.sign(dw[moving, 1])))
        dist = np.linalg.norm(path - w_star, axis=1)
        hit = np.flatnonzero(dist < cfg.eps)
        reach = int(hit[0]) if len(hit) else None
        end = reach if reach is not None else cfg.steps
        length = float(np.linalg.norm(dw[:end], axis=1).sum())
        ratio = length / float(np.linalg.norm(w_star))
        ctx.summary(f"same_sign_fraction_{kind}", same, reference=1.0 if kind == "positive" else 0.5,
                    tolerance=0.0 if kind == "positive" else 0.1, source=SOURCE)
        ctx.summary(f"steps_to_optimum_{kind}", reach)
        ctx.summary(f"path_ratio_{kind}", ratio)
        every = max(1, cfg.steps // 500)
        for s in range(0, cfg.steps + 1, every):
            ctx.metric(s, kind, "train", "w0", path[s, 0])
            ctx.metric(s, kind, "train", "w1", path[s, 1])
            ctx.metric(s, kind, "train", "distance_to_optimum", dist[s])
        ctx.log(f"{kind}: same-sign fraction {same:.3f}, optimum within {cfg.eps} at step {reach}, "
                f"path/straight {ratio:.2f}")

        # the path over the contours of this input distribution's mean loss
        ax = axes[0, col]
        lo0, hi0 = min(-0.3, path[:, 0].min() - 0.3), max(w_star[0], path[:, 0].max()) + 0.5
        lo1, hi1 = min(w_star[1], path[:, 1].min()) - 0.5, max(0.3, path[:, 1].max() + 0.3)
        g0, g1 = np.meshgrid(np.linspace(lo0, hi0, 120), np.linspace(lo1, hi1, 120))
        grid = np.stack([g0.ravel(), g1.ravel()], 1)  # (G, 2)
        loss = 0.5 * ((_sigmoid(grid @ x.T) - t) ** 2).mean(1).reshape(g0.shape)
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
        # the first updates, as arrows from the origin
        k = min(400, len(dw))
        axes[0, 2].scatter(dw[:k, 0], dw[:k, 1], s=6, alpha=0.6, label=f"{kind} inputs", color=f"C{col}")
    ax = axes[0, 2]
    ax.axhline(0, color="0.5", lw=0.6)
    ax.axvline(0, color="0.5", lw=0.6)
    ax.set_xlabel("update Δw₀ of one SGD step")
    ax.set_ylabel("update Δw₁ of the same step")
    ax.set_title("First 400 updates: positive inputs give\nupdates only in quadrants I and III", fontsize=10)
    ax.legend(fontsize=8)
    fig.suptitle("One sigmoid neuron, squared error, SGD (batch 1) from w = (0, 0) toward w* = "
                 f"({w_star[0]:g}, {w_star[1]:g}); contours: log₁₀ mean loss")
    ctx.figure("zigzag-paths", fig)
