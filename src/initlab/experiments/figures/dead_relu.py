"""``dead-relu``'s figure: dead fraction vs learning rate, recovery of the killed units, the mechanism."""
from __future__ import annotations

import numpy as np

from ..rundir import RunFiles
from .canvas import nan_if_none, new_figure

ACTS = ("relu", "leaky_relu", "prelu", "rrelu")
LABELS = {"relu": "ReLU", "leaky_relu": "LeakyReLU 0.01", "prelu": "PReLU", "rrelu": "RReLU"}


def lr_key(lr: float) -> str:
    """How a learning rate is spelled in variant names and summary keys (``1`` for 1.0)."""
    return f"{lr:g}"


def draw(run: RunFiles) -> dict:
    fig, axes = new_figure(3, 1, size=(4.6, 4.0))
    _by_lr(run, axes[0, 0])
    _recovery(run, axes[0, 1])
    _mechanism(run, axes[0, 2])
    fig.suptitle("Dead units: pre-activation ≤ 0 on every training image")
    return {"dead-relu": fig}


def _by_lr(run: RunFiles, ax) -> None:
    lrs = run.config["lrs"]
    for i, a in enumerate(ACTS):
        ys = nan_if_none(run.value(f"{a}_lr{lr_key(lr)}", "train", "dead_fraction") for lr in lrs)
        ax.plot(lrs, ys, "o-", color=f"C{i}", label=LABELS[a])
        div = [lr for lr in lrs if run.value(f"{a}_lr{lr_key(lr)}", "train", "diverged")]
        ax.plot(div, [1.02] * len(div), "x", color=f"C{i}", ms=9)
    ax.plot([], [], "kx", label="diverged (NaN)")
    ax.set_xscale("log")
    ax.set_ylim(-0.03, 1.08)
    ax.set_xlabel("SGD learning rate (log scale)")
    ax.set_ylabel("dead hidden units (fraction)")
    ax.set_title(f"After {run.config['epochs']} epochs of SGD on MNIST,\nMLP {run.array('sizes').tolist()}",
                 fontsize=10)
    ax.legend(fontsize=8)


def _recovery(run: RunFiles, ax) -> None:
    cfg = run.config
    for i, a in enumerate(ACTS):
        ax.plot(*run.series(f"recover_{a}", "train", "revived_fraction_layer1"), "o-", ms=3, color=f"C{i}",
                label=LABELS[a])
        ax.plot(*run.series(f"recover_{a}", "train", "revived_fraction"), "--", color=f"C{i}", alpha=0.6)
    ax.plot([], [], "k-", label="hidden layer 1")
    ax.plot([], [], "k--", alpha=0.6, label="all hidden layers")
    ax.set_ylim(-0.03, 1.0)
    ax.set_xlabel(f"recovery step (SGD lr {cfg['recovery_lr']:g}, grad norm ≤ {cfg['recovery_clip']:g})")
    ax.set_ylabel("killed units alive again (share)")
    ax.set_title(f"Recovery of the ReLU net killed at lr {cfg['kill_lr']:g}\n"
                 f"({run.ours('dead_fraction_killed'):.0%} dead), its activations kept or swapped", fontsize=10)
    ax.legend(fontsize=8)


def _mechanism(run: RunFiles, ax) -> None:
    pos = np.arange(len(ACTS))
    b = ax.bar(pos - 0.2, nan_if_none(run.ours(f"grad_reaches_dead_{a}") for a in ACTS), 0.4, color="0.65",
               label="get a non-zero gradient (start)")
    ax.bar_label(b, fmt="{:.0%}", fontsize=7)
    b = ax.bar(pos + 0.2, nan_if_none(run.ours(f"revived_fraction_layer1_{a}") for a in ACTS), 0.4,
               color=[f"C{i}" for i in range(len(ACTS))], edgecolor="k", hatch="//",
               label=f"alive again in layer 1 (step {run.config['recovery_steps']})")
    ax.bar_label(b, fmt="{:.0%}", fontsize=7)
    ax.set_xticks(pos, [LABELS[a] for a in ACTS], fontsize=8)
    ax.set_ylim(0, 1.3)
    ax.set_ylabel("share of the killed units")
    ax.set_title("The mechanism: no gradient, no recovery", fontsize=10)
    ax.legend(fontsize=8, loc="upper left")
