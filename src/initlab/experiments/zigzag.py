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

from .context import RunContext
from .figures.zigzag import KINDS, sigmoid
from .registry import register

SOURCE = "seed 000 (non-zero-centred sigmoid outputs: every weight update of a unit shares one sign)"


@dataclass
class Config:
    teacher: tuple[float, ...] = (2.0, -1.0)
    lr: float = 2.0
    steps: int = 5000
    n_examples: int = 500
    eps: float = 0.05  # "at the optimum": ||w - w*|| < eps


def _inputs(kind: str, n: int, rs: np.random.RandomState) -> np.ndarray:
    z = rs.randn(n, 2)
    return sigmoid(z) if kind == "positive" else np.tanh(z)  # (n, 2): outputs of a sigmoid / tanh layer


def _sgd(x: np.ndarray, t: np.ndarray, lr: float, steps: int, order: np.ndarray) -> np.ndarray:
    """The weight path (steps + 1, 2) of plain SGD, batch size 1, closed-form gradient."""
    w = np.zeros(2)
    path = np.empty((steps + 1, 2))
    path[0] = w
    for s in range(steps):
        xi = x[order[s]]
        y = sigmoid(xi @ w)
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
def measure(cfg: Config, ctx: RunContext) -> None:
    if len(cfg.teacher) != 2:
        raise ValueError(f"teacher must have two weights, got {cfg.teacher!r}")
    w_star = np.asarray(cfg.teacher, dtype=np.float64)
    for kind in KINDS:
        rs = ctx.rng("zigzag", kind)
        x = _inputs(kind, cfg.n_examples, rs)
        t = sigmoid(x @ w_star)
        order = rs.randint(0, cfg.n_examples, size=cfg.steps)
        path = _sgd(x, t, cfg.lr, cfg.steps, order)
        ctx.arrays(kind, {"path": path, "inputs": x, "targets": t})
        _summarize(cfg, ctx, kind, path, w_star)


def _summarize(cfg: Config, ctx: RunContext, kind: str, path: np.ndarray, w_star: np.ndarray) -> None:
    """Same-sign fraction of the updates, steps to the optimum, path length / straight distance."""
    dw = np.diff(path, axis=0)
    moving = (dw != 0).all(1)
    same = float(np.mean(np.sign(dw[moving, 0]) == np.sign(dw[moving, 1])))
    dist = np.linalg.norm(path - w_star, axis=1)
    hit = np.flatnonzero(dist < cfg.eps)
    reach = int(hit[0]) if len(hit) else None
    end = reach if reach is not None else cfg.steps
    ratio = float(np.linalg.norm(dw[:end], axis=1).sum()) / float(np.linalg.norm(w_star))
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
