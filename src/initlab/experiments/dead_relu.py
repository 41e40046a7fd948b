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
from .context import RunContext, torch_seed
from .figures.dead_relu import ACTS, LABELS, lr_key
from .registry import register

SOURCE = "seed 004 (dead ReLU under a large learning rate; LeakyReLU/PReLU/RReLU; ~50 % active for sigmoid)"


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


def _keys() -> dict[str, str]:
    lrs = Config().lrs
    keys = {f"dead_fraction_{a}_lr{lr_key(lr)}": f"fraction of dead hidden units after SGD at lr {lr:g}, "
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
def measure(cfg: Config, ctx: RunContext) -> None:
    if not cfg.hidden or any(w < 1 for w in cfg.hidden):
        raise ValueError(f"hidden must be positive widths, got {cfg.hidden!r}")
    for nm in ("recovery_steps", "recovery_points"):
        if getattr(cfg, nm) < 1:
            raise ValueError(f"{nm} must be a positive integer, got {getattr(cfg, nm)!r}")
    if not cfg.recovery_clip > 0:
        raise ValueError(f"recovery_clip must be > 0, got {cfg.recovery_clip!r}")
    d = _data.load("mnist")
    ctx.array("sizes", np.array([d.n_features, *cfg.hidden, d.n_classes]))
    trained = _dead_vs_lr(cfg, ctx, d)
    _recovery(cfg, ctx, d, _killed(cfg, ctx, d, trained))
    _activation_rate(cfg, ctx, d)


def _make(cfg: Config, ctx: RunContext, d, act: str, key: tuple) -> nn.Sequential:
    sizes = [d.n_features, *cfg.hidden, d.n_classes]
    return _models.mlp(sizes, act, init="he_normal", generator=ctx.generator("init", *key))


def _fit(cfg: Config, ctx: RunContext, d, model: nn.Module, lr: float, key: tuple) -> _train.History:
    return _train.fit(model, d, loss="ce", lr=lr, batch_size=cfg.batch_size, epochs=cfg.epochs,
                      seed=ctx.seed_for("fit", *key), quiet=True)


def _dead_vs_lr(cfg: Config, ctx: RunContext, d) -> dict[tuple[str, float], tuple[nn.Module, bool]]:
    """Part 1: the dead fraction after SGD at each learning rate (each activation from its own He draw)."""
    trained: dict[tuple[str, float], tuple[nn.Module, bool]] = {}
    for a in ACTS:
        fractions = []
        for lr in cfg.lrs:
            model = _make(cfg, ctx, d, a, ("lr", a))
            h = _fit(cfg, ctx, d, model, lr, ("lr", a, lr))
            trained[a, lr] = (model, h.diverged)
            frac = None if h.diverged else float(_dead(model, d.x_train, len(cfg.hidden))[0].mean())
            fractions.append(frac)
            variant, key = f"{a}_lr{lr_key(lr)}", f"dead_fraction_{a}_lr{lr_key(lr)}"
            ctx.metric(h.steps, variant, "train", "dead_fraction", frac)
            ctx.metric(h.steps, variant, "test", "accuracy", h.final("accuracy", "test"))
            ctx.metric(h.steps, variant, "train", "diverged", float(h.diverged))
            # a learning rate outside the documented defaults (--set lrs=…) brings its own description
            ctx.summary(key, frac, description=None if key in ctx.experiment.summary_keys else (
                f"fraction of dead hidden units after SGD at lr {lr:g}, {LABELS[a]} (null: the run diverged)"))
        ctx.log(f"{LABELS[a]}: dead fraction by lr " + ", ".join(
            f"{lr:g}: {'diverged' if f is None else f'{f:.2f}'}" for lr, f in zip(cfg.lrs, fractions)))
    return trained


def _killed(cfg: Config, ctx: RunContext, d, trained: dict) -> nn.Module:
    """The ReLU net trained at kill_lr (part 1's, or trained the same way when kill_lr is not in lrs)."""
    if ("relu", cfg.kill_lr) in trained:
        killed, diverged = trained["relu", cfg.kill_lr]
    else:
        killed = _make(cfg, ctx, d, "relu", ("lr", "relu"))
        diverged = _fit(cfg, ctx, d, killed, cfg.kill_lr, ("lr", "relu", cfg.kill_lr)).diverged
    if diverged:
        raise ValueError(f"the ReLU net trained at kill_lr={cfg.kill_lr:g} diverged; choose a smaller kill_lr")
    return killed


def _recovery(cfg: Config, ctx: RunContext, d, killed: nn.Module) -> None:
    """Part 2: the killed net trained on with its activations kept (ReLU) or swapped."""
    x, y, nh, n1 = d.x_train, d.y_train, len(cfg.hidden), cfg.hidden[0]
    dead0, _ = _dead(killed, x, nh)
    ctx.summary("dead_fraction_killed", float(dead0.mean()))
    points = sorted({int(round(s)) for s in np.linspace(0, cfg.recovery_steps, cfg.recovery_points + 1)})
    for a in ACTS:
        m = _swap(killed, a, cfg.hidden)
        g = _unit_grad_norms(m, x, y, nh, ctx.seed_for("grad", a))
        reached = _share(dead0, g > 0)
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
        for s, v1, v in zip(steps, r1, r):
            ctx.metric(s, f"recover_{a}", "train", "revived_fraction_layer1", v1)
            ctx.metric(s, f"recover_{a}", "train", "revived_fraction", v)
            ctx.metric(s, f"recover_{a}", "train", "dead_fraction", float(curve.masks[s].mean()))
        ok = not h.diverged
        ctx.summary(f"grad_reaches_dead_{a}", reached)
        ctx.summary(f"dead_grad_norm_{a}", gnorm)
        ctx.summary(f"recovery_diverged_{a}", float(h.diverged))
        ctx.summary(f"dead_fraction_recovered_{a}", float(curve.masks[steps[-1]].mean()) if ok else None)
        ctx.summary(f"revived_fraction_layer1_{a}", r1[-1] if ok else None)
        ctx.summary(f"revived_fraction_{a}", r[-1] if ok else None)
        ctx.log(f"recovery as {LABELS[a]} diverged: {h.message}" if h.diverged else
                f"recovery as {LABELS[a]}: gradient reaches {reached or 0:.0%} of the killed units "
                f"(median norm {gnorm or 0:.2g}); after {h.steps} steps revived {r1[-1] or 0:.1%} in layer 1, "
                f"{r[-1] or 0:.1%} in all (largest gradient norm before clipping {clip.largest:.3g})")


def _activation_rate(cfg: Config, ctx: RunContext, d) -> None:
    """Part 3: the fraction of hidden units active per example after training, ReLU vs sigmoid."""
    sizes = [d.n_features, *cfg.hidden, d.n_classes]
    rates = {}
    for a, scheme in (("relu", "he_normal"), ("sigmoid", "xavier_normal")):
        m = _models.mlp(sizes, a, init=scheme, generator=ctx.generator("rate", a))
        _fit(cfg, ctx, d, m, cfg.rate_lr, ("rate", a))
        rates[a] = _rate(m, d.x_train, len(cfg.hidden))
        ctx.metric(0, a, "train", "activation_rate", rates[a])
    ctx.summary("activation_rate_relu", rates["relu"])
    ctx.summary("activation_rate_sigmoid", rates["sigmoid"], reference=0.5, tolerance=0.1, source=SOURCE)
    ctx.log(f"activation rate: ReLU {rates['relu']:.2f}, sigmoid {rates['sigmoid']:.2f} (seed 004: ≈ 0.5 "
            f"for sigmoid, 0.15-0.30 ideal)")
