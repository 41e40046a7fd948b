r"""``auto-init``: a 20-layer GELU / SiLU network — PyTorch's default init vs ``"auto"`` vs ``"lsuv"``.

``torch.nn.init.calculate_gain`` has no gain for GELU or SiLU. PyTorch's default ``nn.Linear`` init,
:math:`U(\pm 1/\sqrt{n})` (Var = 1/(3n)), ignores the activation: the second moment shrinks at every
layer (σ_w² = 1/3 and E[φ(h)²] < E[h²]) and after 20 layers the signal has collapsed. :func:`initlab.initialize`
with ``"auto"`` draws :math:`W \sim \mathcal N(0, g^2/n)`, :math:`g = 1/\sqrt{\mathbb E[\phi(z)^2]}` computed
by Gaussian quadrature for *any* activation; ``"lsuv"`` (Mishkin & Matas 2016) rescales each layer on a data
batch until its output variance is 1. Per-layer std at init is measured (:func:`initlab.inspect`) beside the
mean-field prediction (:func:`initlab.theory.predict`), then each net is trained with SGD + momentum.

Summary keys, per variant ``{activation}_{init}`` (``gelu_default``, ``gelu_auto``, ``gelu_lsuv``,
``silu_…``): ``std_first_*`` / ``std_last_*`` (std of the first / last hidden activation's output at
init), ``std_ratio_last_first_*``, ``theory_max_rel_error_*`` (max over hidden layers of |predicted −
measured| / measured std at init), ``loss_at_end_*`` (mean of the last 20 batch losses),
``test_accuracy_*``, ``signal_std_ratio_last_first_*`` and ``signal_fraction_last_*`` (the
input-dependent part: std over the examples; with the default init the last layers output the same
vector for every image — only the biases survive); ``auto_gain_gelu`` / ``auto_gain_silu`` (the gain "auto" used).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .callbacks import StepLoss
from .context import RunContext, torch_seed
from .datasets import mnist
from .figures.auto_init import ACTIVATIONS, INITS
from .registry import register


@dataclass
class Config:
    depth: int = 20  # hidden layers
    width: int = 256
    n_train: int = 4000
    steps: int = 1000
    batch_size: int = 64
    lr: float = 0.01
    momentum: float = 0.9
    lsuv_batch: int = 256


def _keys() -> dict[str, str]:
    keys: dict[str, str] = {}
    for a in ACTIVATIONS:
        keys[f"auto_gain_{a}"] = f"the gain 1/√E[{a}(z)²], z ~ N(0, 1), that 'auto' used (torch has none)"
        for i, label in INITS.items():
            v = f"{a}_{i}"
            keys[f"std_first_{v}"] = f"std of the first hidden {a} output at init ({label})"
            keys[f"std_last_{v}"] = f"std of the last hidden {a} output at init ({label})"
            keys[f"signal_std_ratio_last_first_{v}"] = (f"last / first hidden layer's signal std (std over the "
                                                        f"examples, mean over units: the part that depends on "
                                                        f"the input) at init ({label}); ≪ 1: collapsed")
            keys[f"signal_fraction_last_{v}"] = (f"signal std / total std of the last hidden layer at init ({label}); "
                                                 f"≈ 0: every input gives the same output (bias only)")
            keys[f"std_ratio_last_first_{v}"] = f"last / first hidden layer output std at init ({label}); 1 = preserved"
            keys[f"theory_max_rel_error_{v}"] = (f"max over hidden layers of |theory.predict − measured| / measured "
                                                 f"output std at init ({label})")
            keys[f"loss_at_end_{v}"] = f"mean training loss of the last 20 updates ({a}, {label})"
            keys[f"test_accuracy_{v}"] = f"test accuracy at the end ({a}, {label})"
    return keys


@torch.no_grad()
def _signal_std(model, x, hidden: list[str]) -> np.ndarray:
    """Per hidden layer: std over the examples of each unit, averaged over units."""
    out, h = {}, x
    for name, m in model.named_children():
        h = m(h)
        if name in hidden:
            out[name] = float(h.std(dim=0).mean())
    return np.array([out[n] for n in hidden])


@register("auto-init", description="20-layer GELU/SiLU MLPs (activations torch's calculate_gain does not cover): "
          "PyTorch's default init collapses the signal; 'auto' (quadrature gain) and 'lsuv' keep the per-layer "
          "std level (with theory's prediction); training curves",
          reference="He et al. 2015 / Mishkin & Matas 2016 (LSUV) generalized; seed 003 (init by activation)",
          config=Config, quick={"width": 64, "steps": 120, "n_train": 2000, "lsuv_batch": 128},
          summary_keys=_keys())
def measure(cfg: Config, ctx: RunContext) -> None:
    from .. import activations

    if cfg.depth < 2:
        raise ValueError(f"depth must be at least 2, got {cfg.depth!r}")
    data = mnist(ctx.seed, n_train=cfg.n_train)
    for act in ACTIVATIONS:
        ctx.summary(f"auto_gain_{act}", activations.get(act).gain("forward"))
        for init in INITS:
            model = _model(cfg, ctx, act, init, data)
            predicted = _at_init(cfg, ctx, f"{act}_{init}", model, data)
            _train(cfg, ctx, f"{act}_{init}", model, data, predicted)


def _model(cfg: Config, ctx: RunContext, act: str, init: str, data) -> torch.nn.Module:
    """The MLP of ``act`` initialized by PyTorch's default, initlab's "auto" or LSUV."""
    from .. import models
    from ..initialize import initialize

    sizes = [data.n_features] + [cfg.width] * cfg.depth + [data.n_classes]
    gen = ctx.generator("init", act, init)
    if init == "default":
        with torch_seed(ctx.seed_for("torch-default", act)):
            return models.mlp(sizes, act, init=None)
    if init == "auto":
        return models.mlp(sizes, act, init="auto", generator=gen)
    model = models.mlp(sizes, act, init=None)
    initialize(model, "lsuv", data=data.x_train[:cfg.lsuv_batch], generator=gen)
    return model


def _at_init(cfg: Config, ctx: RunContext, v: str, model: torch.nn.Module, data) -> dict[str, float]:
    """Per-layer std and signal std at init, beside theory's prediction (returned: std by layer name)."""
    from .. import theory
    from ..probes import inspect

    x, y = data.x_train[:cfg.lsuv_batch], data.y_train[:cfg.lsuv_batch]
    hidden = [f"act{l}" for l in range(1, cfg.depth + 1)]
    ins = inspect(model, x, y, "ce")
    std = np.array([ins[h].std for h in hidden], dtype=float)
    sig = _signal_std(model, x, hidden)  # input-dependent part of each layer's output
    ctx.summary(f"signal_std_ratio_last_first_{v}", sig[-1] / sig[0] if sig[0] > 0 else None)
    ctx.summary(f"signal_fraction_last_{v}", sig[-1] / std[-1])
    pred = theory.predict(model, q0=float((x.double() ** 2).mean()))
    at = {p.activation_module: p.post_std for p in pred.layers if p.activation_module}
    at.update({p.name: p.pre_std for p in pred.layers})
    pstd = np.array([at.get(h, np.nan) for h in hidden], dtype=float)
    ctx.summary(f"std_first_{v}", std[0])
    ctx.summary(f"std_last_{v}", std[-1])
    ctx.summary(f"std_ratio_last_first_{v}", std[-1] / std[0] if std[0] > 0 else None)
    ctx.summary(f"theory_max_rel_error_{v}", float(np.nanmax(np.abs(pstd - std) / std)) if np.all(std > 0) else None)
    for l, s, p in zip(range(1, cfg.depth + 1), std, pstd):
        ctx.metric(l, v, "init", "std", s)
        ctx.metric(l, v, "theory", "std", p)
    ctx.findings(f"{v}_init", ins.findings())
    ctx.log(f"{v}: std layer 1 {std[0]:.3g} → layer {cfg.depth} {std[-1]:.3g} (theory {pstd[-1]:.3g})")
    return at


def _train(cfg: Config, ctx: RunContext, v: str, model: torch.nn.Module, data, predicted: dict[str, float]) -> None:
    """SGD + momentum; every batch loss (arrays.npz), theory's std beside the watched history, and the
    end of training (summary)."""
    from .. import train

    cb = StepLoss()
    h = train.fit(model, data, loss="ce", lr=cfg.lr, momentum=cfg.momentum, batch_size=cfg.batch_size,
                  steps=cfg.steps, seed=ctx.seed_for("fit"), quiet=True, callbacks=[cb],
                  watch={"every": 5, "hist_every": 50})
    ctx.metrics_from(h, v)
    ctx.arrays(f"{v}/batch_loss", cb.arrays())
    arrays = h.arrays()
    if arrays:
        names = [str(n) for n in arrays["layers"]]
        ctx.history(v, {"predicted_std": np.array([predicted.get(n, np.nan) for n in names], dtype=float)})
    end = cb.mean_of_last(20) if not h.diverged else None
    acc = None if h.diverged else h.final("accuracy", "test")
    ctx.summary(f"loss_at_end_{v}", end)
    ctx.summary(f"test_accuracy_{v}", acc)
    ctx.log(f"{v}: loss {end if end is not None else float('nan'):.3f}, "
            f"test accuracy {acc if acc is not None else float('nan'):.3f}")
