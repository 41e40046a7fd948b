r"""``init-comparison``: the deeplearning.ai "Initialization" exercise (seed 003, figures 1-2).

``circles`` (300 train / 100 test), the [2, 10, 5, 1] network LINEAR→RELU→LINEAR→RELU→LINEAR→SIGMOID,
biases zero, full-batch gradient descent on the binary cross-entropy, lr 0.01, 15,000 steps, three
initializations of the weights:

* ``zeros``: every weight 0 — the cost stays ln 2 and accuracy 50 %;
* ``x10``: N(0, 1) × 10 — huge logits, the sigmoid saturates; the exercise's cost is ``inf`` at step 0
  (it computes log 0); ours is finite because the loss works on logits (log-sum-exp), so the cost at
  step 0 is the large finite number the saturated predictions deserve;
* ``he``: N(0, 2/n_prev) (He et al. 2015, the exercise's ``sqrt(2/n_prev) × randn``).

Published (one seed of the exercise): train 50 % / 83 % / 99.3 %, test 50 % / 86 % / 96 %; the ×10
numbers vary a lot between seeds (hence the wide tolerance).

Summary keys, per variant ``zeros``/``x10``/``he``: ``train_accuracy_*``, ``test_accuracy_*`` (after
the last step), ``initial_cost_*`` (cost before the first update), ``final_cost_*``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from .. import data as _data
from .. import train as _train
from .circles import DLAI_SOURCE, boundary_grid, circles_model
from .context import RunContext
from .figures.init_comparison import LABELS
from .registry import register

VARIANTS = {  # name: (scheme, options)
    "zeros": ("zeros", {}),
    "x10": ("normal", {"std": 10.0}),
    "he": ("he_normal", {}),
}
PUBLISHED = {  # (train, test, tolerance)
    "zeros": (0.5, 0.5, 1e-9),
    "x10": (0.83, 0.86, 0.15),
    "he": (0.993, 0.96, 0.03),
}


@dataclass
class Config:
    lr: float = 0.01
    steps: int = 15000
    variants: tuple[str, ...] = ("zeros", "x10", "he")
    watch_every: int = 10  # probes: per-layer statistics every this many steps


@register("init-comparison", description="The deeplearning.ai Initialization exercise: zeros, N(0,1)×10 "
          "and He initialization of a [2,10,5,1] ReLU net on circles; cost curves and decision boundaries",
          reference="deeplearning.ai 'Initialization' exercise (seed 003 figures 1-2): train 50/83/99.3 %, "
                    "test 50/86/96 %",
          config=Config, quick={"steps": 1500, "lr": 0.1, "watch_every": 10},
          summary_keys={
              **{f"train_accuracy_{v}": f"train accuracy after the last step, {lab} init"
                 for v, lab in LABELS.items()},
              **{f"test_accuracy_{v}": f"test accuracy after the last step, {lab} init"
                 for v, lab in LABELS.items()},
              **{f"initial_cost_{v}": f"binary cross-entropy before the first update, {lab} init "
                                      f"(stable: the exercise's ×10 cost is inf)"
                 for v, lab in LABELS.items()},
              **{f"final_cost_{v}": f"binary cross-entropy after the last step, {lab} init"
                 for v, lab in LABELS.items()},
          })
def measure(cfg: Config, ctx: RunContext) -> None:
    bad = [v for v in cfg.variants if v not in VARIANTS]
    if bad or not cfg.variants:
        raise ValueError(f"variants must be a non-empty subset of {list(VARIANTS)}, got {list(cfg.variants)}")
    data = _data.load("circles")  # the exercise's fixed data; the run seed draws the weights
    ctx.array("x_train", data.x_train.numpy())
    ctx.array("y_train", data.y_train.numpy())
    for v in cfg.variants:
        _variant(cfg, ctx, v, data)


def _variant(cfg: Config, ctx: RunContext, v: str, data) -> None:
    """Train one init; record its accuracies and costs, and its decision boundary on a grid."""
    scheme, opts = VARIANTS[v]
    model = circles_model(scheme, ctx.generator("init", v), **opts)
    h = _train.fit(model, data, loss="bce", lr=cfg.lr, steps=cfg.steps, seed=ctx.seed_for("fit", v),
                   watch={"every": cfg.watch_every, "hist_every": max(cfg.steps // 10, 1)}, quiet=ctx.quiet)
    ctx.metrics_from(h, v)
    ctx.arrays(f"{v}/boundary", boundary_grid(model, data.x_train))
    tr, te, tol = PUBLISHED[v]
    src = DLAI_SOURCE + (" (one seed; ×10 varies a lot between seeds)" if v == "x10" else "")
    ctx.summary(f"train_accuracy_{v}", h.final("accuracy"), reference=tr, tolerance=tol, source=src)
    ctx.summary(f"test_accuracy_{v}", h.final("accuracy", "test"), reference=te, tolerance=tol, source=src)
    cost0 = float(h.series("loss")[1][0])
    if v == "zeros":
        ctx.summary("initial_cost_zeros", cost0, reference=math.log(2), tolerance=1e-6, source=DLAI_SOURCE)
    else:
        ctx.summary(f"initial_cost_{v}", cost0)
    ctx.summary(f"final_cost_{v}", h.final("loss"))
    ctx.log(f"{LABELS[v]}: cost {cost0:.4g} → {h.final('loss'):.4g}, train {h.final('accuracy'):.3f}, "
            f"test {h.final('accuracy', 'test'):.3f}" + (f" ({h.message})" if h.diverged else ""))
