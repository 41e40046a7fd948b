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
from ._common import CIRCLES_SIZES, DLAI_SOURCE, circles_model
from .registry import register
from .runner import RunContext, new_figure

SOURCE = "seeds 000/003/004: zero or constant init makes every unit of a layer identical"
VARIANTS = ("zeros", "constant", "random")
HIDDEN = ("fc1", "fc2")  # pre-activations of the two hidden layers


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
def run(cfg: Config, ctx: RunContext) -> None:
    data = _data.load("circles")
    hist_every = max(cfg.steps // 30, 1)
    curves, distinct = {}, {}
    for v in VARIANTS:
        if v == "zeros":
            model = circles_model("zeros", ctx.generator("init", v))
        elif v == "constant":
            model = circles_model("constant", ctx.generator("init", v), value=cfg.constant)
        else:
            model = circles_model("he_normal", ctx.generator("init", v))
        h = _train.fit(model, data, loss="bce", lr=cfg.lr, steps=cfg.steps, seed=ctx.seed_for("fit", v),
                       watch={"every": hist_every, "hist_every": hist_every}, quiet=ctx.quiet)
        ctx.metrics_from(h, v)
        arrays = h.arrays()
        layers = [str(n) for n in arrays["layers"]]
        rows = ~np.isnan(arrays["distinct_units"]).all(1)
        steps = arrays["steps"][rows]
        du = {name: arrays["distinct_units"][rows, layers.index(name)] for name in HIDDEN}
        distinct[v] = (steps, du)
        for name in HIDDEN:
            for s, d in zip(steps, du[name]):
                ctx.metric(int(s), v, "train", f"distinct_units_{name}", d)
        s, c = h.series("loss")
        curves[v] = (s, c)
        ref_acc = 0.5 if v == "zeros" else None
        ctx.summary(f"final_cost_{v}", h.final("loss"), **({"reference": math.log(2), "tolerance": 1e-6,
                                                               "source": DLAI_SOURCE} if v == "zeros" else {}))
        ctx.summary(f"train_accuracy_{v}", h.final("accuracy"),
                    **({"reference": ref_acc, "tolerance": 1e-9, "source": DLAI_SOURCE} if ref_acc else {}))
        width = {name: CIRCLES_SIZES[i] for i, name in enumerate(HIDDEN, 1)}
        for name in HIDDEN:
            ref = width[name] if v == "random" else 1
            ctx.summary(f"distinct_units_{v}_{name}", float(du[name][-1]), reference=ref, tolerance=0,
                        source=SOURCE)
        top = max(float(np.max(du[n])) for n in HIDDEN)
        ctx.summary(f"max_distinct_units_{v}", top,
                    **({"reference": 1, "tolerance": 0, "source": SOURCE} if v != "random" else {}))
        if v == "zeros":
            ctx.summary("max_cost_deviation_zeros", float(np.max(np.abs(c - math.log(2)))), reference=0.0,
                        tolerance=1e-6, source=DLAI_SOURCE)
        ctx.log(f"{v}: cost {c[0]:.6f} → {c[-1]:.6f}, accuracy {h.final('accuracy'):.3f}, distinct units "
                f"after training {[int(du[n][-1]) for n in HIDDEN]}")

    fig, axes = new_figure(2, 1, size=(5.4, 4.0))
    ax = axes[0, 0]
    for i, v in enumerate(VARIANTS):
        ax.plot(*curves[v], color=f"C{i}", label=v if v != "constant" else f"constant {cfg.constant:g}")
    ax.axhline(math.log(2), color="k", ls=":", lw=1, label="ln 2")
    ax.set_xlabel("gradient-descent step (full batch)")
    ax.set_ylabel("cost: binary cross-entropy (nats)")
    ax.set_title("Training cost on circles, [2,10,5,1] ReLU net")
    ax.legend(fontsize=8)
    ax = axes[0, 1]
    for i, v in enumerate(VARIANTS):
        steps, du = distinct[v]
        for name, style in zip(HIDDEN, ("-", "--")):
            ax.plot(steps, du[name], style, color=f"C{i}", marker=".", ms=3,
                    label=f"{v}, hidden layer {name[-1]} ({CIRCLES_SIZES[int(name[-1])]} units)")
    ax.set_xlabel("gradient-descent step (full batch)")
    ax.set_ylabel("distinct units in the layer (count)")
    ax.set_title("Distinct units per hidden layer: equal starts stay equal")
    ax.set_ylim(0, max(CIRCLES_SIZES[1:-1]) + 1)
    ax.legend(fontsize=7)
    ctx.figure("zero-init", fig)
