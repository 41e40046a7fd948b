r"""``deep-relu``: He et al. (2015), Fig. 3 — a 30-layer plain ReLU network, Xavier vs He init.

Xavier's :math:`\mathrm{Var}(w) = 2/(n_{in} + n_{out})` (= 1/n for square layers) halves the second
moment at every ReLU layer, forward and backward (:math:`n\,\mathrm{Var}(w)\,\mathbb E[\phi'^2] = 1/2`):
after 30 layers the logits are ~2⁻¹⁵ of the input's scale, the loss sits at ln 10 and the first layers'
δ-norms are orders of magnitude below the last's. He's :math:`2/n` keeps both at 1 and the net trains.
At 22 layers (He et al. Fig. 2) both converge, He earlier. Trained with SGD + momentum: Adam rescales
every parameter's step by its own gradient's size, which hides the vanishing signal — with Adam the
30-layer Xavier net trains too (variant ``xavier30_adam``).

Summary keys, per run ``{init}{depth}`` (``xavier30``, ``he30``, ``xavier22``, ``he22``,
``xavier30_adam``): ``loss_at_end_*`` (mean training loss of the last 20 updates),
``steps_to_loss_*`` (first update whose running-mean loss ≤ ``loss_target``; null if never);
per init at 30 layers, at init: ``delta_ratio_first_last_*`` (‖δ‖ at the first linear layer / at the
last hidden one, δ = ∂L/∂z), ``logit_std_*``; ``ln10`` (the loss of a uniform guess).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .callbacks import StepLoss
from .context import RunContext
from .datasets import mnist
from .figures.deep_relu import runs
from .registry import register
from .series import first_step, ratio

SOURCE = "He et al., Delving Deep into Rectifiers, ICCV 2015, Fig. 3 (30 layers: Xavier stalls, He converges)"
INITS = {"xavier": "xavier_normal", "he": "he_normal"}
# the runs with summary keys (the published depths); runs at other depths go to metrics.csv only
SUMMARY_RUNS = {"xavier30": "30 layers, Xavier, SGD", "he30": "30 layers, He, SGD",
                "xavier22": "22 layers, Xavier, SGD", "he22": "22 layers, He, SGD",
                "xavier30_adam": "30 layers, Xavier, Adam"}


@dataclass
class Config:
    depth: int = 30  # weight layers
    shallow_depth: int = 22
    width: int = 128
    n_train: int = 4000
    steps: int = 2000
    shallow_steps: int = 2000
    batch_size: int = 64
    lr: float = 0.01
    shallow_lr: float = 0.02
    momentum: float = 0.9
    adam_lr: float = 0.001
    adam: bool = True  # also train the deep Xavier net with Adam
    loss_target: float = 2.0  # "started to learn": running-mean loss below this (ln 10 ≈ 2.303)


def _keys() -> dict[str, str]:
    keys = {"ln10": "ln 10 = 2.303, the cross-entropy of a uniform guess over 10 classes"}
    for r, what in SUMMARY_RUNS.items():
        keys[f"loss_at_end_{r}"] = f"mean training loss of the last 20 updates ({what})"
        keys[f"steps_to_loss_{r}"] = f"first update with running-mean loss ≤ loss_target ({what}); null if never"
    for i in INITS:
        keys[f"delta_ratio_first_last_{i}"] = (f"‖δ‖ at the first linear layer / at the last hidden linear layer "
                                               f"at init, 30 layers, {i} (δ = ∂L/∂z, cross-entropy)")
        keys[f"logit_std_{i}"] = f"std of the logits at init, 30 layers, {i}"
    return keys


@register("deep-relu", description="A 30-layer plain ReLU MLP on MNIST, Xavier vs He, SGD + momentum: with "
          "Xavier the loss stalls at ln 10 and the first layers' δ-norms are orders of magnitude below the "
          "last's; He trains. At 22 layers both train, He earlier; Adam hides the effect",
          reference="He et al. 2015 (Delving Deep into Rectifiers), Figs. 2 and 3",
          config=Config, quick={"width": 64, "steps": 200, "shallow_steps": 300, "n_train": 2000,
                                "shallow_lr": 0.03},
          summary_keys=_keys())
def measure(cfg: Config, ctx: RunContext) -> None:
    from .. import models

    if cfg.depth < 3 or (cfg.shallow_depth and cfg.shallow_depth < 3):
        raise ValueError(f"depth and shallow_depth must be at least 3 (or shallow_depth 0: skip), got "
                         f"{cfg.depth!r}, {cfg.shallow_depth!r}")
    if cfg.depth not in (30,) or cfg.shallow_depth not in (0, 22):
        ctx.log("note: summary keys name 30 and 22 layers; other depths are recorded under metrics only")
    data = mnist(ctx.seed, n_train=cfg.n_train)
    ctx.summary("ln10", math.log(10))
    for name, (init, depth, opt, lr, steps) in runs(vars(cfg)).items():
        sizes = [data.n_features] + [cfg.width] * (depth - 1) + [data.n_classes]
        model = models.mlp(sizes, "relu", init=INITS[init], generator=ctx.generator("init", init, depth))
        if depth == cfg.depth and opt == "sgd":
            _backward_at_init(ctx, init, depth, model, data)
        _train(cfg, ctx, name, model, data, (opt, lr, steps, depth))


def _backward_at_init(ctx: RunContext, init: str, depth: int, model, data) -> None:
    """‖δ_l‖ = ‖∂L/∂z_l‖ of every linear layer at init, and the logits' std."""
    from ..probes import inspect

    ins = inspect(model, data.x_train[:256], data.y_train[:256], "ce")
    lin = [r for r in ins.layers if r.kind == "linear"]
    g = np.array([r.grad_norm for r in lin], dtype=float)
    for l, v in enumerate(g, start=1):
        ctx.metric(l, init, "init", "delta_norm", v)
    if depth == 30:
        ctx.summary(f"delta_ratio_first_last_{init}", ratio(g[0], g[-2]))
        ctx.summary(f"logit_std_{init}", lin[-1].std)
    ctx.log(f"{depth} layers, {init}: ‖δ‖ fc1 / fc{depth - 1} = {g[0] / g[-2]:.2e}, logit std {lin[-1].std:.2e}")


def _train(cfg: Config, ctx: RunContext, name: str, model, data, how: tuple[str, float, int, int]) -> None:
    """Train one run; every batch loss (metrics.csv), the loss at the end and when it first got low."""
    from .. import train

    opt, lr, steps, depth = how
    cb = StepLoss()
    h = train.fit(model, data, loss="ce", optimizer=opt, lr=lr, momentum=cfg.momentum if opt == "sgd" else 0.0,
                  batch_size=cfg.batch_size, steps=steps, seed=ctx.seed_for("fit", depth), quiet=True,
                  callbacks=[cb], watch={"every": 10, "hist_every": 100})
    ctx.metrics_from(h, name)
    s, sm = cb.smoothed(20)
    for st, v in zip(s, cb.losses):
        ctx.metric(st, name, "train", "batch_loss", v)
    end = cb.mean_of_last(20) if not h.diverged else None
    reach = first_step(s, sm, cfg.loss_target, below=True)
    if name in SUMMARY_RUNS:
        ctx.summary(f"loss_at_end_{name}", end)
        ctx.summary(f"steps_to_loss_{name}", reach)
    ctx.log(f"{name} ({opt}, lr {lr}): loss {end if end is not None else float('nan'):.3f} after {h.steps} "
            f"updates; running mean ≤ {cfg.loss_target} at {reach}" + (f" — {h.message}" if h.diverged else ""))
