r"""``dead-relu``: a large learning rate kills ReLU units for good; leaky variants' stuck units still learn (seed 004).

A unit is *dead* when its pre-activation is ≤ 0 on every training example (all 4,000). Behind a ReLU it
then outputs 0 everywhere and its local derivative is 0, so no gradient reaches its incoming weights:
plain SGD leaves them bit-for-bit unchanged. In the first hidden layer, whose inputs (the pixels) are
fixed, such a unit can therefore never come back. (A dead unit of a deeper layer can: its inputs move
when the layers below it train.) LeakyReLU, PReLU and RReLU pass ``slope × upstream gradient`` on the
negative side, so a stuck unit still learns — but only as fast as its slope allows: LeakyReLU's 0.01
scales that gradient by 0.01, so with one learning rate it recovers ~100× slower than a slope-1 unit.

1. **Dead fraction vs learning rate.** An MLP [784, 100, 100, 10] (He init) on ``mnist`` (4,000
   images) trained by plain SGD (batch 64, softmax cross-entropy) for ``epochs`` at each learning rate,
   for ReLU, LeakyReLU (slope 0.01), PReLU and RReLU. A run whose loss becomes NaN is marked diverged
   (its dead fraction is null).
2. **Recovery.** The ReLU network of part 1 trained at ``kill_lr`` (many dead units; the same killed net
   for every variant) continues for ``recovery_steps`` SGD steps at ``recovery_lr`` with its activations
   kept as ReLU or swapped (same weights) for LeakyReLU (slope 0.01), PReLU (one learnable slope per
   unit, initially 0.01) or RReLU (slope ~ U(1/8, 1/3) in training). Every step's gradient is clipped
   to global norm ``recovery_clip``, for every variant alike: after the swap the killed units' negative
   pre-activations (down to ≈ −4) reach the output, and the largest gradient norms seen (default size)
   are ≈ 3 for ReLU and LeakyReLU but ≈ 57 for PReLU (its slope gradients Σ z·δ) and ≈ 68 for RReLU;
   without clipping, PReLU and RReLU diverge within 6 steps at lr 0.5 (as PReLU did at lr 0.05 from
   another killed net). Measured per variant:
   (a) the share of the killed units whose incoming weights get a non-zero gradient at the start of
   recovery (full training set; exactly 0 for ReLU — the mechanism), (b) the share alive again after
   recovery, and (c) that share along the way (``recovery_points`` checkpoints; ``metrics.csv``, figure).
3. **Activation rate.** The fraction of hidden units active (pre-activation > 0, i.e. σ > ½) per
   example, after training at ``rate_lr``, for ReLU and sigmoid; seed 004 puts sigmoid nets at ≈ 50 % and
   calls 15–30 % ideal.

Summary keys: ``dead_fraction_{act}_lr{lr}`` (all hidden units, after part 1; null if diverged),
``dead_fraction_killed`` (ReLU at ``kill_lr``, before recovery); per recovery variant ``{act}``:
``grad_reaches_dead_{act}`` (a), ``dead_grad_norm_{act}`` (median gradient norm of a killed unit's
incoming weights and bias, at the start of recovery), ``revived_fraction_layer1_{act}`` and
``revived_fraction_{act}`` (b: share of the killed units of hidden layer 1 / of all hidden layers with a
positive pre-activation on some example after recovery), ``dead_fraction_recovered_{act}``,
``recovery_diverged_{act}`` (1 if the recovery run hit NaN/Inf; the other recovery keys are then null);
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
from ._common import torch_seed
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
    recovery_lr: float = 0.5
    recovery_clip: float = 1.0  # max global gradient norm of a recovery step (every variant alike)
    recovery_steps: int = 2000
    recovery_points: int = 10  # checkpoints of the recovery curve
    rate_lr: float = 0.3


def _lr_key(lr: float) -> str:
    return f"{lr:g}"


def _keys() -> dict[str, str]:
    lrs = Config().lrs
    keys = {f"dead_fraction_{a}_lr{_lr_key(lr)}": f"fraction of dead hidden units after SGD at lr {lr:g}, "
            f"{LABELS[a]} (null: the run diverged)" for a in ACTS for lr in lrs}
    keys["dead_fraction_killed"] = "fraction of dead hidden units of the ReLU net trained at kill_lr"
    for a in ACTS:
        keys[f"grad_reaches_dead_{a}"] = (f"share of the killed units whose incoming weights get a non-zero "
                                          f"gradient at the start of recovery as {LABELS[a]} (full training set)")
        keys[f"dead_grad_norm_{a}"] = (f"median gradient norm of a killed unit's incoming weights and bias at "
                                       f"the start of recovery as {LABELS[a]}")
        keys[f"dead_fraction_recovered_{a}"] = f"dead hidden units after recovery training as {LABELS[a]}"
        keys[f"revived_fraction_layer1_{a}"] = (f"share of hidden layer 1's killed units alive again after recovery "
                                                f"as {LABELS[a]} (ReLU: exactly 0, its inputs are fixed)")
        keys[f"revived_fraction_{a}"] = f"share of the killed units alive again after recovery as {LABELS[a]}"
        keys[f"recovery_diverged_{a}"] = f"1 if the recovery run as {LABELS[a]} hit NaN/Inf, else 0"
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


def _unit_grad_norms(model: nn.Module, x: torch.Tensor, y: torch.Tensor, n_hidden: int, seed: int) -> np.ndarray:
    """Per hidden unit, ‖∂L/∂(incoming weights, bias)‖ of the mean cross-entropy over ``(x, y)``.

    In training mode (RReLU draws its slopes, from a forked RNG seeded with ``seed``); grads are cleared after.
    """
    model.train()
    model.zero_grad(set_to_none=True)
    with torch_seed(seed):
        nn.functional.cross_entropy(model(x), y).backward()
    norms = []
    for l in range(1, n_hidden + 1):
        fc = getattr(model, f"fc{l}")
        norms.append((fc.weight.grad.pow(2).sum(1) + fc.bias.grad.pow(2)).sqrt().numpy())  # (units,)
    model.zero_grad(set_to_none=True)
    return np.concatenate(norms)


class _Clip(_train.Callback):
    """Scale the gradients to global norm ≤ ``max_norm`` after each backward; keep the largest norm seen.

    A non-finite gradient is left as it is, so that the step diverges visibly (torch's
    ``clip_grad_norm_`` would multiply it by max_norm/inf = 0 and silently skip the step).
    """

    def __init__(self, max_norm: float):
        self.max_norm, self.largest = max_norm, 0.0

    def on_after_backward(self, state: _train.FitState) -> None:
        grads = [p.grad for p in state.model.parameters() if p.grad is not None]
        norm = float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads])))
        self.largest = max(self.largest, norm)
        if np.isfinite(norm) and norm > self.max_norm:
            torch._foreach_mul_(grads, self.max_norm / norm)


class _Curve(_train.Callback):
    """The dead mask of the hidden units at the given steps (``masks[step]``)."""

    def __init__(self, x: torch.Tensor, n_hidden: int, at: set[int]):
        self.x, self.n_hidden, self.at, self.masks = x, n_hidden, at, {}

    def on_train_batch_end(self, state: _train.FitState, loss: float) -> None:
        if state.step in self.at:
            self.masks[state.step] = _dead(state.model, self.x, self.n_hidden)[0]


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


def _share(killed: np.ndarray, hit: np.ndarray) -> float | None:
    """The share of the ``killed`` units that are ``hit`` (None when none were killed)."""
    return float((killed & hit).sum() / killed.sum()) if killed.sum() else None


@register("dead-relu", description="Dead ReLUs: the fraction of units that never fire grows with the "
          "learning rate; no gradient reaches ReLU's dead units, so they never come back, while leaky "
          "variants' stuck units get one and some recover; activation rate ReLU vs sigmoid",
          reference="seed 004 (dead ReLU under a large learning rate; LeakyReLU, PReLU, RReLU; sparsity "
                    "~50 % for sigmoid, 15-30 % ideal)",
          config=Config, quick={"lrs": (0.1, 1.0), "epochs": 2, "recovery_steps": 300},
          summary_keys=_keys())
def run(cfg: Config, ctx: RunContext) -> None:
    if not cfg.hidden or any(w < 1 for w in cfg.hidden):
        raise ValueError(f"hidden must be positive widths, got {cfg.hidden!r}")
    for nm in ("recovery_steps", "recovery_points"):
        if getattr(cfg, nm) < 1:
            raise ValueError(f"{nm} must be a positive integer, got {getattr(cfg, nm)!r}")
    if not cfg.recovery_clip > 0:
        raise ValueError(f"recovery_clip must be > 0, got {cfg.recovery_clip!r}")
    d = _data.load("mnist")
    x, y = d.x_train, d.y_train
    sizes = [d.n_features, *cfg.hidden, d.n_classes]
    nh = len(cfg.hidden)

    def make(act: str, key: tuple) -> nn.Sequential:
        return _models.mlp(sizes, act, init="he_normal", generator=ctx.generator("init", *key))

    def fit(model: nn.Module, lr: float, epochs: int, key: tuple) -> _train.History:
        return _train.fit(model, d, loss="ce", lr=lr, batch_size=cfg.batch_size, epochs=epochs,
                          seed=ctx.seed_for("fit", *key), quiet=True)

    # 1. dead fraction vs learning rate (every activation starts from its own He draw of one seed)
    by_lr: dict[str, list[float | None]] = {}
    trained: dict[tuple[str, float], tuple[nn.Module, bool]] = {}
    for a in ACTS:
        by_lr[a] = []
        for lr in cfg.lrs:
            model = make(a, ("lr", a))
            h = fit(model, lr, cfg.epochs, ("lr", a, lr))
            trained[a, lr] = (model, h.diverged)
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

    # 2. recovery from the same killed ReLU net (part 1's, or trained the same way when kill_lr is not in lrs)
    if ("relu", cfg.kill_lr) in trained:
        killed, kill_diverged = trained["relu", cfg.kill_lr]
    else:
        killed = make("relu", ("lr", "relu"))
        kill_diverged = fit(killed, cfg.kill_lr, cfg.epochs, ("lr", "relu", cfg.kill_lr)).diverged
    if kill_diverged:
        raise ValueError(f"the ReLU net trained at kill_lr={cfg.kill_lr:g} diverged; choose a smaller kill_lr")
    dead0, _ = _dead(killed, x, nh)
    n1 = cfg.hidden[0]
    ctx.summary("dead_fraction_killed", float(dead0.mean()))
    points = sorted({int(round(s)) for s in np.linspace(0, cfg.recovery_steps, cfg.recovery_points + 1)})
    curves: dict[str, tuple[list[int], list[float], list[float]]] = {}  # act -> (steps, revived layer 1, all)
    reached: dict[str, float | None] = {}
    revived1_by: dict[str, float | None] = {}
    for a in ACTS:
        m = _swap(killed, a, cfg.hidden)
        g = _unit_grad_norms(m, x, y, nh, ctx.seed_for("grad", a))
        reached[a] = _share(dead0, g > 0)
        gnorm = float(np.median(g[dead0])) if dead0.any() else None
        clip, curve = _Clip(cfg.recovery_clip), _Curve(x, nh, set(points))
        h = _train.fit(m, d, loss="ce", lr=cfg.recovery_lr, batch_size=cfg.batch_size, steps=cfg.recovery_steps,
                       seed=ctx.seed_for("recover", a), quiet=True, callbacks=[clip, curve])
        ctx.metric(h.steps, f"recover_{a}", "train", "grad_norm_max", clip.largest)
        ctx.metric(h.steps, f"recover_{a}", "test", "accuracy", h.final("accuracy", "test"))
        curve.masks[0] = dead0
        steps = sorted(curve.masks)
        r1 = [_share(dead0[:n1], ~curve.masks[s][:n1]) for s in steps]
        r = [_share(dead0, ~curve.masks[s]) for s in steps]
        curves[a] = (steps, [np.nan if v is None else v for v in r1], [np.nan if v is None else v for v in r])
        for s, v1, v, mask in zip(steps, r1, r, (curve.masks[s] for s in steps)):
            ctx.metric(s, f"recover_{a}", "train", "revived_fraction_layer1", v1)
            ctx.metric(s, f"recover_{a}", "train", "revived_fraction", v)
            ctx.metric(s, f"recover_{a}", "train", "dead_fraction", float(mask.mean()))
        ok = not h.diverged
        revived1_by[a] = r1[-1] if ok else None
        ctx.summary(f"grad_reaches_dead_{a}", reached[a])
        ctx.summary(f"dead_grad_norm_{a}", gnorm)
        ctx.summary(f"recovery_diverged_{a}", float(h.diverged))
        ctx.summary(f"dead_fraction_recovered_{a}", float(curve.masks[steps[-1]].mean()) if ok else None)
        ctx.summary(f"revived_fraction_layer1_{a}", revived1_by[a])
        ctx.summary(f"revived_fraction_{a}", r[-1] if ok else None)
        if h.diverged:
            ctx.log(f"recovery as {LABELS[a]} diverged: {h.message}")
        else:
            ctx.log(f"recovery as {LABELS[a]}: gradient reaches {reached[a] or 0:.0%} of the killed units "
                    f"(median norm {gnorm or 0:.2g}); after {h.steps} steps revived {r1[-1] or 0:.1%} in layer 1, "
                    f"{r[-1] or 0:.1%} in all (largest gradient norm before clipping {clip.largest:.3g})")

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

    fig, axes = new_figure(3, 1, size=(4.6, 4.0))
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
    ax.set_title(f"After {cfg.epochs} epochs of SGD on MNIST,\nMLP {sizes}", fontsize=10)
    ax.legend(fontsize=8)
    ax = axes[0, 1]
    for i, a in enumerate(ACTS):
        steps, r1, r = curves[a]
        ax.plot(steps, r1, "o-", ms=3, color=f"C{i}", label=LABELS[a])
        ax.plot(steps, r, "--", color=f"C{i}", alpha=0.6)
    ax.plot([], [], "k-", label="hidden layer 1")
    ax.plot([], [], "k--", alpha=0.6, label="all hidden layers")
    ax.set_ylim(-0.03, 1.0)
    ax.set_xlabel(f"recovery step (SGD lr {cfg.recovery_lr:g}, grad norm ≤ {cfg.recovery_clip:g})")
    ax.set_ylabel("killed units alive again (share)")
    ax.set_title(f"Recovery of the ReLU net killed at lr {cfg.kill_lr:g}\n"
                 f"({dead0.mean():.0%} dead), its activations kept or swapped", fontsize=10)
    ax.legend(fontsize=8)
    ax = axes[0, 2]
    pos = np.arange(len(ACTS))
    nan = lambda v: np.nan if v is None else v  # noqa: E731
    b = ax.bar(pos - 0.2, [nan(reached[a]) for a in ACTS], 0.4, color="0.65", label="get a non-zero gradient (start)")
    ax.bar_label(b, fmt="{:.0%}", fontsize=7)
    b = ax.bar(pos + 0.2, [nan(revived1_by[a]) for a in ACTS], 0.4, color=[f"C{i}" for i in range(len(ACTS))],
               edgecolor="k", hatch="//", label=f"alive again in layer 1 (step {cfg.recovery_steps})")
    ax.bar_label(b, fmt="{:.0%}", fontsize=7)
    ax.set_xticks(pos, [LABELS[a] for a in ACTS], fontsize=8)
    ax.set_ylim(0, 1.3)
    ax.set_ylabel("share of the killed units")
    ax.set_title("The mechanism: no gradient, no recovery", fontsize=10)
    ax.legend(fontsize=8, loc="upper left")
    fig.suptitle("Dead units: pre-activation ≤ 0 on every training image")
    ctx.figure("dead-relu", fig)
