r"""``batchnorm``: Ioffe & Szegedy (2015), Fig. 1, on MNIST — with and without batch normalization (seed 004).

Three fully connected hidden layers of 100 sigmoid units, weights from a small Gaussian
(``init_std``), SGD on mini-batches of 60, cross-entropy. Variants: ``plain`` (no BN), ``bn_before``
(:math:`\sigma(\mathrm{BN}(Wx))`, the paper's placement and seed 004's: normalize before the
activation) and ``bn_after`` (:math:`\mathrm{BN}(\sigma(Wx))`). BN computes, per unit,

.. math:: \hat x = (x - \mu_B)/\sqrt{\sigma_B^2 + \epsilon}, \qquad y = \gamma \hat x + \beta

over the mini-batch B. Every ``probe_every`` updates: test accuracy, and the 15th, 50th and 85th
percentiles of the input of the last hidden layer's sigmoids over the test images (Fig. 1b, c; BN
layers use batch statistics there, as in training, on a copy so the running averages are untouched).
Without BN these percentiles drift (internal covariate shift); with BN they stay put.

For a CNN (seed 004): ``BatchNorm2d`` has one γ and one β per channel (2·C parameters), and the
statistics are taken over (N, H, W) — checked against a hand computation.

Summary keys: per variant ``test_accuracy_*`` (end), ``early_test_accuracy_*`` (at ``steps // 10``),
``steps_to_target_*`` (first probe with test accuracy ≥ ``target``), ``percentile_drift_*`` (mean over
the three percentiles and all units of |p(end) − p(0)|), ``percentile_drift_unit_*`` (the same for
the plotted unit); ``cnn_bn_parameters``, ``cnn_bn_channels``, ``cnn_bn_max_error``,
``mlp_bn_parameters_per_layer``.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch

from .callbacks import Every
from .context import RunContext
from .datasets import mnist
from .figures.batchnorm import LABELS, PERCENTILES
from .registry import register
from .series import first_step

SOURCE = "Ioffe & Szegedy, Batch Normalization, ICML 2015, Fig. 1 (MNIST, 3 × 100 sigmoid units)"
VARIANTS = {"plain": (None, "before_activation"), "bn_before": ("batch", "before_activation"),
            "bn_after": ("batch", "after_activation")}


@dataclass
class Config:
    hidden: tuple[int, ...] = (100, 100, 100)
    init_std: float = 0.1  # "small random Gaussian values"
    steps: int = 50000
    batch_size: int = 60
    lr: float = 0.5
    probe_every: int = 500
    unit: int = 0  # the last-hidden-layer sigmoid whose input is plotted
    target: float = 0.9
    cnn_channels: int = 16


def _keys() -> dict[str, str]:
    keys: dict[str, str] = {}
    for v, label in LABELS.items():
        keys[f"test_accuracy_{v}"] = f"test accuracy at the end ({label})"
        keys[f"early_test_accuracy_{v}"] = f"test accuracy after steps // 10 updates ({label})"
        keys[f"steps_to_target_{v}"] = f"first probed update with test accuracy ≥ target ({label}); null if never"
        keys[f"percentile_drift_{v}"] = (f"mean over the 15/50/85th percentiles and all units of the last hidden "
                                         f"layer of |p(end) − p(start)| of the sigmoid's input ({label})")
        keys[f"percentile_drift_unit_{v}"] = f"the same for the plotted unit ({label})"
    keys.update({
        "cnn_bn_parameters": "learnable parameters of a BatchNorm2d after a C-channel conv: 2·C (γ and β per channel)",
        "cnn_bn_channels": "C, the conv's channels",
        "cnn_bn_max_error": "max |BatchNorm2d output − hand computation with mean/var over (N, H, W) per channel|",
        "mlp_bn_parameters_per_layer": "learnable parameters of one BatchNorm1d of the MLP: 2 × units",
    })
    return keys


def _sigmoid_input_module(model, norm: str | None, position: str, last: int):
    return getattr(model, f"bn{last}") if norm and position == "before_activation" else getattr(model, f"fc{last}")


@torch.no_grad()
def _sigmoid_inputs(model, module_name: str, x: torch.Tensor) -> torch.Tensor:
    """(images, units) input of the last hidden sigmoids, BN with batch statistics (on a copy)."""
    probe = copy.deepcopy(model).train()
    out = {}
    h = getattr(probe, module_name).register_forward_hook(lambda m, i, o: out.__setitem__("z", o))
    try:
        probe(x)
    finally:
        h.remove()
    return out["z"]


def _cnn_check(ctx: RunContext, cfg: Config, x: torch.Tensor) -> None:
    from .. import models

    c = cfg.cnn_channels
    net = models.cnn(1, [c], "relu", norm="batch", input_size=28, num_classes=10, generator=ctx.generator("cnn"))
    bn = net.bn1
    with torch.no_grad():
        bn.weight.uniform_(0.5, 1.5, generator=ctx.generator("gamma"))
        bn.bias.normal_(0.0, 0.5, generator=ctx.generator("beta"))
        images = x[:64].reshape(-1, 1, 28, 28)  # (N, C=1, H, W)
        z = net.conv1(images)  # (N, C, H, W)
        got = bn.train()(z)
        mu = z.mean(dim=(0, 2, 3), keepdim=True)  # one mean per channel, over N, H, W
        var = z.var(dim=(0, 2, 3), unbiased=False, keepdim=True)
        want = (z - mu) / torch.sqrt(var + bn.eps) * bn.weight.view(1, -1, 1, 1) + bn.bias.view(1, -1, 1, 1)
    params = sum(p.numel() for p in bn.parameters())
    ctx.summary("cnn_bn_parameters", params, reference=2 * c, tolerance=0, source="seed 004 (γ, β per channel)")
    ctx.summary("cnn_bn_channels", c)
    ctx.summary("cnn_bn_max_error", float((got - want).abs().max()))
    ctx.log(f"CNN: BatchNorm2d({c}) has {params} parameters (γ, β per channel); statistics over (N, H, W) "
            f"match the hand computation to {float((got - want).abs().max()):.1e}")


@register("batchnorm", description="3 × 100 sigmoid MLP on MNIST, small Gaussian init, with and without BN: "
          "test accuracy vs steps and the 15/50/85th percentiles of a last-layer sigmoid's input; BN before "
          "vs after the activation; per-channel γ, β and (N, H, W) statistics in a CNN",
          reference="Ioffe & Szegedy 2015, Fig. 1 (MNIST); seed 004 (BN's γ, β, per channel, before the activation)",
          config=Config, quick={"steps": 800, "probe_every": 40, "cnn_channels": 8},
          summary_keys=_keys())
def measure(cfg: Config, ctx: RunContext) -> None:
    if not cfg.hidden:
        raise ValueError(f"hidden must list at least one layer width, got {cfg.hidden!r}")
    if not 0 <= cfg.unit < cfg.hidden[-1]:
        raise ValueError(f"unit must be in [0, {cfg.hidden[-1]}), got {cfg.unit!r}")
    data = mnist(ctx.seed)
    for v in VARIANTS:
        _variant(cfg, ctx, v, data)
    _cnn_check(ctx, cfg, data.x_train)


def _variant(cfg: Config, ctx: RunContext, v: str, data) -> None:
    """Train one placement of BN; probe test accuracy and the last sigmoids' input percentiles."""
    from .. import models, train

    norm, position = VARIANTS[v]
    last = len(cfg.hidden)
    model = models.mlp([data.n_features, *cfg.hidden, data.n_classes], "sigmoid", init="normal", std=cfg.init_std,
                       norm=norm, norm_position=position, generator=ctx.generator("init"))
    if v == "bn_before":
        ctx.summary("mlp_bn_parameters_per_layer", sum(p.numel() for p in model.bn1.parameters()))
    target = _sigmoid_input_module(model, norm, position, last)
    tname = next(n for n, m in model.named_children() if m is target)
    steps, accs, pct = [], [], []

    def probe(step: int) -> None:
        acc = train.evaluate(model, data.x_test, data.y_test, "ce")["accuracy"]
        p = np.percentile(_sigmoid_inputs(model, tname, data.x_test).numpy(), PERCENTILES, axis=0)  # (3, units)
        steps.append(step)
        accs.append(acc)
        pct.append(p)
        ctx.metric(step, v, "test", "accuracy_probe", acc)
        for q, row in zip(PERCENTILES, p):
            ctx.metric(step, v, "test", f"sigmoid_input_p{q}", row[cfg.unit])

    h = train.fit(model, data, loss="ce", lr=cfg.lr, batch_size=cfg.batch_size, steps=cfg.steps,
                  seed=ctx.seed_for("fit"), quiet=True, callbacks=[Every(cfg.probe_every, probe)],
                  watch={"every": 10, "hist_every": 200})
    if h.diverged:
        raise RuntimeError(f"{v} diverged ({h.message}); lower lr (now {cfg.lr})")
    ctx.metrics_from(h, v)
    if steps[-1] != h.steps:
        probe(h.steps)
    _summarize(cfg, ctx, v, np.asarray(steps), np.asarray(accs), np.stack(pct))


def _summarize(cfg: Config, ctx: RunContext, v: str, s: np.ndarray, a: np.ndarray, P: np.ndarray) -> None:
    """Accuracy early and at the end, steps to the target, drift of the percentiles (P: probes × 3 × units)."""
    early_step = max(1, cfg.steps // 10)
    early = a[np.flatnonzero(s >= early_step)[0]] if (s >= early_step).any() else a[-1]
    drift_all = float(np.mean(np.abs(P[-1] - P[0])))
    drift_unit = float(np.mean(np.abs(P[-1, :, cfg.unit] - P[0, :, cfg.unit])))
    ctx.summary(f"test_accuracy_{v}", a[-1])
    ctx.summary(f"early_test_accuracy_{v}", early)
    ctx.summary(f"steps_to_target_{v}", first_step(s, a, cfg.target))
    ctx.summary(f"percentile_drift_{v}", drift_all)
    ctx.summary(f"percentile_drift_unit_{v}", drift_unit)
    ctx.log(f"{LABELS[v]}: test accuracy {early:.3f} at step {early_step}, {a[-1]:.3f} at the end; "
            f"percentile drift {drift_all:.3f} (unit {cfg.unit}: {drift_unit:.3f})")
