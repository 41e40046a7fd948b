r"""``zero-init``: symmetry — why weights must not all start equal (seeds 000, 003, 004).

``circles``, the [2, 10, 5, 1] ReLU network, full-batch gradient descent on the binary cross-entropy:

* ``zeros``: every weight and bias 0. The hidden outputs are 0, so no gradient reaches any weight;
  only the output bias moves, and on the balanced circles (150/150) its gradient
  :math:`\sigma(0) - \bar y = 0` too: the cost stays :math:`\ln 2 = 0.693147` for every step and the
  accuracy at 50 %.
* ``constant``: every weight (and bias) ``constant`` ≠ 0. The units of a layer compute the same
  function and receive the same gradient, so they stay identical: the network may learn a little, but
  each hidden layer keeps exactly one distinct unit (counted on the pre-activations by the probes'
  ``distinct_units``).
* ``random``: He-normal weights — every unit distinct from the start.

Summary keys: ``max_cost_deviation_zeros`` (max over steps of |cost − ln 2|), ``final_cost_*``,
``train_accuracy_*`` and ``distinct_units_*_fc{l}`` (distinct units of hidden layer l after training;
``max_distinct_units_*``: the largest count over training and hidden layers) for
``*`` in zeros / constant / random.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .. import data as _data
from .. import train as _train
from .circles import CIRCLES_SIZES, DLAI_SOURCE, circles_model
from .context import RunContext
from .figures.zero_init import HIDDEN, VARIANTS
from .registry import register

SOURCE = "seeds 000/003/004: zero or constant init makes every unit of a layer identical"


@dataclass
class Config:
    lr: float = 0.01
    steps: int = 15000
    constant: float = 0.5


def _keys() -> dict[str, str]:
    keys = {"max_cost_deviation_zeros": "max over all steps of |cost − ln 2|, zeros init"}
    for v in VARIANTS:
        keys[f"final_cost_{v}"] = f"binary cross-entropy after the last step, {v} init"
        keys[f"train_accuracy_{v}"] = f"train accuracy after the last step, {v} init"
        keys[f"max_distinct_units_{v}"] = f"largest number of distinct units in a hidden layer over training, {v} init"
        for i, name in enumerate(HIDDEN, 1):
            keys[f"distinct_units_{v}_{name}"] = (f"distinct units of hidden layer {i} ({CIRCLES_SIZES[i]} units) "
                                                 f"after training, {v} init")
    return keys


@register("zero-init", description="Symmetry: zero init keeps the cost at ln 2 forever; a constant init "
          "keeps one distinct unit per layer; random init breaks the symmetry",
          reference="seeds 000/003/004 (all-zero and constant initialization); deeplearning.ai Initialization",
          config=Config, quick={"steps": 1500, "lr": 0.1}, summary_keys=_keys())
def measure(cfg: Config, ctx: RunContext) -> None:
    data = _data.load("circles")
    for v in VARIANTS:
        _variant(cfg, ctx, v, data)


def _variant(cfg: Config, ctx: RunContext, v: str, data) -> None:
    """Train one init; record its cost, accuracy and the distinct units of each hidden layer."""
    if v == "zeros":
        model = circles_model("zeros", ctx.generator("init", v))
    elif v == "constant":
        model = circles_model("constant", ctx.generator("init", v), value=cfg.constant)
    else:
        model = circles_model("he_normal", ctx.generator("init", v))
    hist_every = max(cfg.steps // 30, 1)
    h = _train.fit(model, data, loss="bce", lr=cfg.lr, steps=cfg.steps, seed=ctx.seed_for("fit", v),
                   watch={"every": hist_every, "hist_every": hist_every}, quiet=ctx.quiet)
    ctx.metrics_from(h, v)
    arrays = h.arrays()
    layers = [str(n) for n in arrays["layers"]]
    rows = ~np.isnan(arrays["distinct_units"]).all(1)
    steps = arrays["steps"][rows]
    du = {name: arrays["distinct_units"][rows, layers.index(name)] for name in HIDDEN}
    for name in HIDDEN:
        for s, d in zip(steps, du[name]):
            ctx.metric(int(s), v, "train", f"distinct_units_{name}", d)
    _, c = h.series("loss")
    dlai = {"reference": math.log(2), "tolerance": 1e-6, "source": DLAI_SOURCE} if v == "zeros" else {}
    ctx.summary(f"final_cost_{v}", h.final("loss"), **dlai)
    ctx.summary(f"train_accuracy_{v}", h.final("accuracy"),
                **({"reference": 0.5, "tolerance": 1e-9, "source": DLAI_SOURCE} if v == "zeros" else {}))
    for i, name in enumerate(HIDDEN, 1):
        ref = CIRCLES_SIZES[i] if v == "random" else 1
        ctx.summary(f"distinct_units_{v}_{name}", float(du[name][-1]), reference=ref, tolerance=0, source=SOURCE)
    top = max(float(np.max(du[n])) for n in HIDDEN)
    ctx.summary(f"max_distinct_units_{v}", top,
                **({"reference": 1, "tolerance": 0, "source": SOURCE} if v != "random" else {}))
    if v == "zeros":
        ctx.summary("max_cost_deviation_zeros", float(np.max(np.abs(c - math.log(2)))), reference=0.0,
                    tolerance=1e-6, source=DLAI_SOURCE)
    ctx.log(f"{v}: cost {c[0]:.6f} → {c[-1]:.6f}, accuracy {h.final('accuracy'):.3f}, distinct units "
            f"after training {[int(du[n][-1]) for n in HIDDEN]}")
