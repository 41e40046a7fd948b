r"""``dead-relu``: a large learning rate kills ReLU units for good; leaky variants recover (seed 004).

A unit is *dead* when its pre-activation is ≤ 0 on every training example (all 4,000): it outputs 0 (ReLU) everywhere, so no gradient
reaches its incoming weights and nothing can revive it — in the first hidden layer, whose inputs are
fixed, exactly never.

1. **Dead fraction vs learning rate.** An MLP [784, 100, 100, 10] (He init) on ``mnist`` (4,000
   images) trained by plain SGD (batch 64, softmax cross-entropy) for ``epochs`` at each learning rate,
   for ReLU, LeakyReLU (slope 0.01), PReLU and RReLU. A run whose loss becomes NaN is marked diverged
   (its dead fraction is null).
2. **Recovery.** The ReLU network trained at ``kill_lr`` (many dead units) continues at the small
   ``recovery_lr`` for ``recovery_epochs``, with the *same weights* and its activations kept as ReLU or
   swapped for LeakyReLU (slope 0.01), PReLU (one learnable slope per unit, initially 0.01) or RReLU
   (slope ~ U(1/8, 1/3)): the negative side passes a gradient, so stuck units can come back.
3. **Activation rate.** The fraction of hidden units active (pre-activation > 0, i.e. σ > ½) per
   example, after training at ``rate_lr``, for ReLU and sigmoid; seed 004 puts sigmoid nets at ≈ 50 % and
   calls 15–30 % ideal.

Summary keys: ``dead_fraction_{act}_lr{lr}`` (all hidden units, after part 1; null if diverged),
``dead_fraction_killed`` (ReLU at ``kill_lr``, before recovery), ``dead_fraction_recovered_{act}`` and
``revived_fraction_{act}`` (share of the killed units alive again after part 2), ``revived_fraction_layer1_{act}``,
``activation_rate_{relu,sigmoid}``.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .. import data as _data
from .. import models as _models
from .. import probes as _probes
from .. import train as _train
from .registry import register
from .runner import RunContext, new_figure

SOURCE = "seed 004 (dead ReLU under a large learning rate; LeakyReLU/PReLU/RReLU; ~50 % active for sigmoid)"
ACTS = ("relu", "leaky_relu", "prelu", "rrelu")
LABELS = {"relu": "ReLU", "leaky_relu": "LeakyReLU 0.01", "prelu": "PReLU", "rrelu": "RReLU"}


@dataclass
class Config:
    hidden: tuple[int, ...] = (100, 100)
    lrs: tuple[float, ...] = (0.01, 0.1, 0.3, 1.0, 3.0)
    epochs: int = 3
    batch_size: int = 64
    kill_lr: float = 1.0
    recovery_lr: float = 0.05
    recovery_epochs: int = 20
    rate_lr: float = 0.3


def _lr_key(lr: float) -> str:
    return f"{lr:g}"


def _keys() -> dict[str, str]:
    lrs = Config().lrs
    keys = {f"dead_fraction_{a}_lr{_lr_key(lr)}": f"fraction of dead hidden units after SGD at lr {lr:g}, "
            f"{LABELS[a]} (null: the run diverged)" for a in ACTS for lr in lrs}
    keys["dead_fraction_killed"] = "fraction of dead hidden units of the ReLU net trained at kill_lr"
    for a in ACTS:
        keys[f"dead_fraction_recovered_{a}"] = f"dead hidden units after recovery training as {LABELS[a]}"
        keys[f"revived_fraction_layer1_{a}"] = (f"share of hidden layer 1's killed units alive again after recovery "
                                                f"as {LABELS[a]} (ReLU: exactly 0, its inputs are fixed)")
        keys[f"revived_fraction_{a}"] = f"share of the killed units alive again after recovery as {LABELS[a]}"
    keys["activation_rate_relu"] = "fraction of hidden units active per example after training, ReLU"
    keys["activation_rate_sigmoid"] = "fraction of hidden units active (σ > ½) per example after training, sigmoid"
    return keys


def _dead(model: nn.Module, x: torch.Tensor, n_hidden: int) -> tuple[np.ndarray, float]:
    """(dead mask per hidden unit, concatenated over layers; dead fraction of layer 1).

    Dead = pre-activation ≤ 0 on every example. (The probes' ``dead_fraction`` looks at the
    activation's output, y ≤ 0, which is the same rule for ReLU, leaky ReLU and RReLU but not for a
    PReLU whose learned slope turned negative; so the mask is taken from the Linear outputs here.)
    """
    masks = []
    was = model.training
    model.eval()
    with torch.no_grad():
        h = x
        for name, mod in model.named_children():
            h = mod(h)
            if name.startswith("fc") and name != "fc_out":
                masks.append((h <= 0).all(0).numpy())  # (units,)
    model.train(was)
    return np.concatenate(masks[:n_hidden]), float(masks[0].mean())


def _rate(model: nn.Module, x: torch.Tensor, n_hidden: int) -> float:
    insp = _probes.inspect(model, x, loss_fn="none")
    fcs = [insp[f"fc{l}"] for l in range(1, n_hidden + 1)]
    units = np.array([r.fan_out for r in fcs], dtype=float)
    return float(np.sum([r.positive_fraction * u for r, u in zip(fcs, units)]) / units.sum())


def _swap(model: nn.Module, act: str, widths: tuple[int, ...]) -> nn.Module:
    """A copy of ``model`` with each hidden activation replaced (same weights)."""
    m = copy.deepcopy(model)
    for l, w in enumerate(widths, 1):
        if act == "prelu":
            mod: nn.Module = nn.PReLU(num_parameters=w, init=0.01)  # one learnable slope per unit
        elif act == "leaky_relu":
            mod = nn.LeakyReLU(0.01)
        elif act == "rrelu":
            mod = nn.RReLU()
        else:
            mod = nn.ReLU()
        setattr(m, f"act{l}", mod)
    return m


@register("dead-relu", description="Dead ReLUs: the fraction of units that never fire grows with the "
          "learning rate; ReLU's dead units never come back, leaky variants' stuck units recover; "
          "activation rate ReLU vs sigmoid",
          reference="seed 004 (dead ReLU under a large learning rate; LeakyReLU, PReLU, RReLU; sparsity "
                    "~50 % for sigmoid, 15-30 % ideal)",
          config=Config, quick={"lrs": (0.1, 1.0), "epochs": 2, "recovery_epochs": 5},
          summary_keys=_keys())
def run(cfg: Config, ctx: RunContext) -> None:
    if not cfg.hidden or any(w < 1 for w in cfg.hidden):
        raise ValueError(f"hidden must be positive widths, got {cfg.hidden!r}")
    d = _data.load("mnist")
    x = d.x_train
    sizes = [d.n_features, *cfg.hidden, d.n_classes]
    nh = len(cfg.hidden)

    def make(act: str, key: tuple) -> nn.Sequential:
        return _models.mlp(sizes, act, init="he_normal", generator=ctx.generator("init", *key))

    def fit(model: nn.Module, lr: float, epochs: int, key: tuple) -> _train.History:
        return _train.fit(model, d, loss="ce", lr=lr, batch_size=cfg.batch_size, epochs=epochs,
                          seed=ctx.seed_for("fit", *key), quiet=True)

    # 1. dead fraction vs learning rate (every activation starts from its own He draw of one seed)
    by_lr: dict[str, list[float | None]] = {}
    for a in ACTS:
        by_lr[a] = []
        for lr in cfg.lrs:
            model = make(a, ("lr", a))
            h = fit(model, lr, cfg.epochs, ("lr", a, lr))
            frac = None if h.diverged else float(_dead(model, x, nh)[0].mean())
            by_lr[a].append(frac)
            ctx.metric(h.steps, f"{a}_lr{_lr_key(lr)}", "train", "dead_fraction", frac)
            ctx.metric(h.steps, f"{a}_lr{_lr_key(lr)}", "test", "accuracy", h.final("accuracy", "test"))
            ctx.metric(h.steps, f"{a}_lr{_lr_key(lr)}", "train", "diverged", float(h.diverged))
            if f"dead_fraction_{a}_lr{_lr_key(lr)}" in ctx.experiment.summary_keys:
                ctx.summary(f"dead_fraction_{a}_lr{_lr_key(lr)}", frac)
            else:  # a learning rate outside the documented defaults (--set lrs=…)
                ctx.summary(f"dead_fraction_{a}_lr{_lr_key(lr)}", frac,
                            description=f"fraction of dead hidden units after SGD at lr {lr:g}, {LABELS[a]} "
                                        f"(null: the run diverged)")
        ctx.log(f"{LABELS[a]}: dead fraction by lr " + ", ".join(
            f"{lr:g}: {'diverged' if f is None else f'{f:.2f}'}" for lr, f in zip(cfg.lrs, by_lr[a])))

    # 2. recovery from the same killed ReLU net
    killed = make("relu", ("kill",))
    fit(killed, cfg.kill_lr, cfg.epochs, ("kill",))
    dead0, _ = _dead(killed, x, nh)
    n1 = cfg.hidden[0]
    ctx.summary("dead_fraction_killed", float(dead0.mean()))
    curves = {}
    for a in ACTS:
        m = _swap(killed, a, cfg.hidden)
        curve, layer1 = [float(dead0.mean())], None
        diverged = False
        for e in range(cfg.recovery_epochs):
            h = fit(m, cfg.recovery_lr, 1, ("recover", a, e))
            if h.diverged:
                diverged = True
                ctx.log(f"recovery as {LABELS[a]} diverged: {h.message}")
                break
            mask, layer1 = _dead(m, x, nh)
            curve.append(float(mask.mean()))
            ctx.metric(e + 1, f"recover_{a}", "train", "dead_fraction", curve[-1])
            ctx.metric(e + 1, f"recover_{a}", "train", "dead_fraction_layer1", layer1)
        curves[a] = curve
        revived = revived1 = None
        if not diverged and dead0.sum():
            revived = float((dead0 & ~mask).sum() / dead0.sum())
        if not diverged and dead0[:n1].sum():
            revived1 = float((dead0[:n1] & ~mask[:n1]).sum() / dead0[:n1].sum())
        ctx.summary(f"dead_fraction_recovered_{a}", None if diverged else curve[-1])
        ctx.summary(f"revived_fraction_layer1_{a}", revived1)
        ctx.summary(f"revived_fraction_{a}", revived)
        ctx.log(f"recovery as {LABELS[a]}: dead {curve[0]:.3f} → {curve[-1]:.3f}"
                + (f", revived {revived:.1%} of the killed units" if revived is not None else ""))

    # 3. activation rate, ReLU vs sigmoid
    rates = {}
    for a, scheme in (("relu", "he_normal"), ("sigmoid", "xavier_normal")):
        m = _models.mlp(sizes, a, init=scheme, generator=ctx.generator("rate", a))
        fit(m, cfg.rate_lr, cfg.epochs, ("rate", a))
        rates[a] = _rate(m, x, nh)
        ctx.metric(0, a, "train", "activation_rate", rates[a])
    ctx.summary("activation_rate_relu", rates["relu"])
    ctx.summary("activation_rate_sigmoid", rates["sigmoid"], reference=0.5, tolerance=0.1, source=SOURCE)
    ctx.log(f"activation rate: ReLU {rates['relu']:.2f}, sigmoid {rates['sigmoid']:.2f} (seed 004: ≈ 0.5 "
            f"for sigmoid, 0.15-0.30 ideal)")

    fig, axes = new_figure(2, 1, size=(5.2, 4.0))
    ax = axes[0, 0]
    for i, a in enumerate(ACTS):
        ys = [np.nan if f is None else f for f in by_lr[a]]
        ax.plot(cfg.lrs, ys, "o-", color=f"C{i}", label=LABELS[a])
        div = [lr for lr, f in zip(cfg.lrs, by_lr[a]) if f is None]
        ax.plot(div, [1.02] * len(div), "x", color=f"C{i}", ms=9)
    ax.plot([], [], "kx", label="diverged (NaN)")
    ax.set_xscale("log")
    ax.set_ylim(-0.03, 1.08)
    ax.set_xlabel("SGD learning rate (log scale)")
    ax.set_ylabel("dead hidden units (fraction)")
    ax.set_title(f"After {cfg.epochs} epochs of SGD on MNIST, MLP {sizes}", fontsize=10)
    ax.legend(fontsize=8)
    ax = axes[0, 1]
    for i, a in enumerate(ACTS):
        ax.plot(range(len(curves[a])), curves[a], "o-", ms=3, color=f"C{i}", label=LABELS[a])
    ax.set_ylim(-0.03, 1.0)
    ax.set_xlabel(f"epoch of recovery training (lr {cfg.recovery_lr:g})")
    ax.set_ylabel("dead hidden units (fraction)")
    ax.set_title(f"Recovery of the ReLU net killed at lr {cfg.kill_lr:g},\nits activations kept or swapped",
                 fontsize=10)
    ax.legend(fontsize=8)
    fig.suptitle("Dead units: pre-activation ≤ 0 on every training image")
    ctx.figure("dead-relu", fig)
