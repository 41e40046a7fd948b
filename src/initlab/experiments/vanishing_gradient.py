r"""``vanishing-gradient``: Nielsen, *Neural Networks and Deep Learning* ch. 5, after seed 002.

``mnist``, 1,000 shuffled training images, networks [784, 30×k, 10] for k = 1..4 with sigmoid hidden
*and* output units, weights N(0, 1/n_in), biases N(0, 1). The cost is the binary cross-entropy summed
over the 10 outputs and averaged over the images (Nielsen's ``CrossEntropyCost``; ``loss="bce_sum"``:
torch's ``reduction="mean"`` would also divide by 10, and softmax cross-entropy gives ~5× smaller
speeds). The "speed of learning" of hidden layer l is :math:`\|\partial C/\partial b_l\|`, read from
:func:`initlab.inspect` (``bias_grad_norm``), at initialization, median over ``seeds`` draws.

Published (Nielsen, one draw): k=2: 0.07, 0.31; k=3: 0.012, 0.060, 0.283; k=4: 0.003, 0.017, 0.070,
0.285 — each layer learns ~4-5× slower than the next.

Then ``epochs`` of full-batch gradient descent on the same 1,000 images for k = 4 with the speeds
recorded by :func:`initlab.watch` at every step, and the same with ReLU hidden units and He weights
(biases 0) for contrast: there the speeds stay within a small factor of each other.

Summary keys: ``speed_k{k}_layer{l}`` (median at init), ``speed_ratio_last_first_k{k}`` (median of
speed(layer k)/speed(layer 1) at init), ``train_speed_ratio_last_first_{sigmoid,relu_he}`` (median
over training steps of speed(layer 4)/speed(layer 1)), ``train_final_accuracy_{sigmoid,relu_he}``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .. import data as _data
from .. import models as _models
from .. import probes as _probes
from .. import train as _train
from .context import RunContext
from .figures.vanishing_gradient import PUBLISHED, TRAIN_LABELS
from .registry import register

SOURCE = "Nielsen, Neural Networks and Deep Learning, ch. 5 (one draw); seed 002"
FACTOR = 1.75
TRAIN_VARIANTS = {"sigmoid": ("sigmoid", "lecun_normal", 1.0), "relu_he": ("relu", "he_normal", None)}


@dataclass
class Config:
    n_images: int = 1000
    max_hidden_layers: int = 4
    width: int = 30
    seeds: int = 20  # draws of the initialization for the medians
    epochs: int = 500  # full-batch steps of the training part (k = max_hidden_layers)
    lr: float = 0.1  # Nielsen's η


def _keys() -> dict[str, str]:
    keys = {}
    for k in range(1, 5):
        for l in range(1, k + 1):
            keys[f"speed_k{k}_layer{l}"] = (f"speed of learning ||∂C/∂b|| of hidden layer {l} of {k} at "
                                            f"initialization (median over draws)")
        keys[f"speed_ratio_last_first_k{k}"] = (f"speed of hidden layer {k} / speed of layer 1 at "
                                               f"initialization, {k} hidden layers (median over draws)")
    for v, label in TRAIN_LABELS.items():
        keys[f"train_speed_ratio_last_first_{v}"] = (f"median over training steps of speed(last hidden layer) "
                                                    f"/ speed(layer 1), {label}")
        keys[f"train_final_accuracy_{v}"] = f"accuracy on the 1,000 training images after training, {label}"
    return keys


def _model(k: int, width: int, act: str, scheme: str, bias_std: float | None, g: torch.Generator):
    return _models.mlp([784] + [width] * k + [10], act, init=scheme, bias_std=bias_std, generator=g)


@register("vanishing-gradient", description="Nielsen ch. 5: in sigmoid nets [784, 30×k, 10] on MNIST each "
          "hidden layer learns ~4× slower than the next (||∂C/∂b|| per layer); with training, and ReLU + He "
          "for contrast",
          reference="Nielsen, Neural Networks and Deep Learning ch. 5 / seed 002: k=4 speeds 0.003, 0.017, "
                    "0.070, 0.285",
          config=Config, quick={"seeds": 5, "epochs": 60}, summary_keys=_keys())
def measure(cfg: Config, ctx: RunContext) -> None:
    if not 1 <= cfg.max_hidden_layers <= 4:
        raise ValueError(f"max_hidden_layers must be in 1..4, got {cfg.max_hidden_layers!r}")
    d = _data.load("mnist")  # shuffled with seed 0; the run seed draws the weights
    if not 1 <= cfg.n_images <= len(d.x_train):
        raise ValueError(f"n_images must be in 1..{len(d.x_train)}, got {cfg.n_images!r}")
    x, y = d.x_train[:cfg.n_images], d.y_train[:cfg.n_images]
    for k in range(1, cfg.max_hidden_layers + 1):
        _at_init(cfg, ctx, k, x, y)
    for v in TRAIN_VARIANTS:
        _training(cfg, ctx, v, x, y)


def _at_init(cfg: Config, ctx: RunContext, k: int, x, y) -> None:
    """||∂C/∂b|| of each hidden layer of the k-layer sigmoid net at init, over ``seeds`` draws."""
    loss = _train.make_loss("bce_sum")
    rows = []
    for s in range(cfg.seeds):
        model = _model(k, cfg.width, "sigmoid", "lecun_normal", 1.0, ctx.generator("init", k, s))
        insp = _probes.inspect(model, x, y, loss)
        rows.append([insp[f"fc{l}"].bias_grad_norm for l in range(1, k + 1)])
    speeds = np.asarray(rows, dtype=np.float64)  # (seeds, k)
    med = np.median(speeds, axis=0)
    for s_i, row in enumerate(speeds):
        for l, v in enumerate(row, 1):
            ctx.metric(l, f"k{k}_draw{s_i}", "init", "bias_grad_norm", v)
    for l, v in enumerate(med, 1):
        ctx.metric(l, f"k{k}", "init_median", "bias_grad_norm", v)
        pub = PUBLISHED.get(k)
        extra = {"reference": pub[l - 1], "factor": FACTOR, "source": SOURCE} if pub else {}
        ctx.summary(f"speed_k{k}_layer{l}", v, **extra)
    ctx.summary(f"speed_ratio_last_first_k{k}", float(np.median(speeds[:, -1] / speeds[:, 0])))
    ctx.log(f"k={k}: median speeds " + ", ".join(f"{v:.3g}" for v in med)
            + (f" (published {', '.join(map(str, PUBLISHED[k]))})" if k in PUBLISHED else ""))


def _training(cfg: Config, ctx: RunContext, v: str, x, y) -> None:
    """Full-batch training of the deepest net; the speeds per step come from the Watcher."""
    k = cfg.max_hidden_layers
    act, scheme, bstd = TRAIN_VARIANTS[v]
    model = _model(k, cfg.width, act, scheme, bstd, ctx.generator("train", v))
    h = _train.fit(model, (x, y), loss="bce_sum", lr=cfg.lr, steps=cfg.epochs, seed=ctx.seed_for("fit", v),
                   watch={"every": 1, "hist_every": max(cfg.epochs // 10, 1)}, quiet=ctx.quiet)
    ctx.metrics_from(h, v)
    a = h.arrays()
    names = [str(n) for n in a["layers"]]
    sp = np.stack([a["bias_grad_norm"][:, names.index(f"fc{l}")] for l in range(1, k + 1)], 1)  # (S, k)
    ratio = float(np.nanmedian(sp[:, -1] / sp[:, 0]))
    ctx.summary(f"train_speed_ratio_last_first_{v}", ratio)
    ctx.summary(f"train_final_accuracy_{v}", h.final("accuracy"))
    ctx.log(f"training {TRAIN_LABELS[v]}: speed(layer {k})/speed(layer 1) median {ratio:.3g}, "
            f"accuracy {h.final('accuracy'):.3f}" + (f" ({h.message})" if h.diverged else ""))
