r"""``dropout``: an MLP that overfits a few thousand MNIST images, with and without dropout (seed 004;
Srivastava et al., JMLR 2014).

Dropout keeps each unit with probability :math:`1-p` (drop 0.2 at the input, 0.5 in the hidden layers,
as in the paper). Three networks from the same init: ``standard`` (no dropout), ``inverted`` (PyTorch's
``nn.Dropout``: ×1/(1−p) in training, identity at test) and ``classic`` (the paper's form: no scaling in
training, weights ×(1−p) at test; :class:`initlab.models.ClassicDropout`). Then two checks:

* inverted and classic are the same model: a net trained with inverted dropout, rewritten as a classic
  one with :math:`W_c = W_i/(1-p)` for every layer fed by dropout, gives the same test outputs
  (the weight-scaling rule), and both averaged over the same masks agree;
* the ensemble view (seed 004): a net with N droppable units is an average of :math:`2^N` weight-sharing
  sub-networks; averaging the softmax of k sampled sub-networks (Monte-Carlo model averaging,
  Srivastava §7.5) approaches the weight-scaled network's test predictions as k grows.

Summary keys: ``train_accuracy_*`` / ``test_accuracy_*`` / ``gap_*`` (train − test accuracy, both in eval
mode) / ``test_error_percent_*`` for ``standard``, ``inverted``, ``classic``; ``gap_reduction``
(standard gap − inverted gap); ``classic_rewrite_max_logit_diff``; ``classic_vs_inverted_agreement``;
``mc_agreement`` and ``mc_mean_prob_diff`` (k = ``mc_samples`` sub-networks vs weight scaling);
``mc_test_error_percent``; ``subnetworks_log2`` (N).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .context import RunContext, torch_seed
from .datasets import mnist
from .figures.dropout import LABELS
from .registry import register

SOURCE = ("Srivastava et al., Dropout, JMLR 15 (2014), Table 2: MNIST test error, full 60,000 training "
          "images (ours: a few thousand, so not comparable in level)")
@dataclass
class Config:
    n_train: int = 4000
    hidden: tuple[int, ...] = (1024, 1024, 1024)  # Srivastava Table 2: 3 layers × 1024 ReLU units
    activation: str = "relu"
    p_input: float = 0.2
    p_hidden: float = 0.5
    epochs: int = 100
    batch_size: int = 100
    lr: float = 0.02
    momentum: float = 0.9
    mc_samples: int = 100  # sub-networks averaged in the ensemble check


def _keys() -> dict[str, str]:
    keys: dict[str, str] = {}
    for v, label in LABELS.items():
        keys[f"train_accuracy_{v}"] = f"accuracy on the training images at the end, eval mode ({label})"
        keys[f"test_accuracy_{v}"] = f"test accuracy at the end ({label})"
        keys[f"gap_{v}"] = f"train − test accuracy at the end ({label}): the overfitting gap"
        keys[f"test_error_percent_{v}"] = f"test error in % at the end ({label})"
    keys.update({
        "gap_reduction": "gap without dropout − gap with (inverted) dropout: > 0 when dropout reduces overfitting",
        "classic_rewrite_max_logit_diff": "max |logit difference| on the test set between the trained inverted "
                                          "net and its classic rewrite W_c = W_i/(1−p) (≈ 0: same model)",
        "classic_vs_inverted_agreement": "fraction of test images on which the separately trained classic and "
                                         "inverted nets predict the same class",
        "mc_agreement": "fraction of test images on which the average of mc_samples sampled sub-networks "
                        "predicts the weight-scaled net's class",
        "mc_mean_prob_diff": "mean total-variation distance between the sub-network average's and the "
                             "weight-scaled net's class probabilities",
        "mc_test_error_percent": "test error in % of the average of mc_samples sampled sub-networks",
        "subnetworks_log2": "N, the number of droppable units (input + hidden): the net averages 2^N sub-networks",
    })
    return keys


def _net(cfg: Config, data, mode: str | None, generator: torch.Generator):
    from .. import models

    sizes = [data.n_features, *cfg.hidden, data.n_classes]
    drop = (cfg.p_input, cfg.p_hidden) if mode else 0.0
    return models.mlp(sizes, cfg.activation, init="he_normal", dropout=drop, dropout_mode=mode or "inverted",
                      generator=generator)


@torch.no_grad()
def _probs(model, x: torch.Tensor, train_mode: bool) -> torch.Tensor:
    was = model.training
    model.train(train_mode)
    try:
        return torch.softmax(model(x), dim=1)
    finally:
        model.train(was)


@register("dropout", description="An MLP overfitting a few thousand MNIST images, with and without dropout "
          "(0.2 input, 0.5 hidden): train/test curves and gap; inverted = classic dropout; the average of "
          "sampled sub-networks vs the weight-scaled net",
          reference="seed 004 (dropout as an ensemble of 2^N sub-networks, test-time scaling); Srivastava et "
                    "al. 2014, Table 2 and §7.5",
          config=Config, quick={"n_train": 1000, "hidden": (256, 256), "epochs": 25, "mc_samples": 50},
          summary_keys=_keys())
def measure(cfg: Config, ctx: RunContext) -> None:
    for name in ("p_input", "p_hidden"):
        p = getattr(cfg, name)
        if not 0 <= p < 1:
            raise ValueError(f"{name} must be a drop probability in [0, 1), got {p!r}")
    if cfg.mc_samples < 1:
        raise ValueError(f"mc_samples must be at least 1, got {cfg.mc_samples!r}")
    data = mnist(ctx.seed, n_train=cfg.n_train)
    ctx.array("sizes", np.array([data.n_features, *cfg.hidden, data.n_classes]))
    nets = {v: _variant(cfg, ctx, v, data) for v in LABELS}
    ctx.summary("gap_reduction", ctx.entries["gap_standard"]["ours"] - ctx.entries["gap_inverted"]["ours"])
    _same_model(cfg, ctx, nets, data)
    _ensemble(cfg, ctx, nets["inverted"], data)


def _variant(cfg: Config, ctx: RunContext, v: str, data) -> torch.nn.Module:
    """Train one net (the same init for all); its accuracies and overfitting gap."""
    from .. import train

    model = _net(cfg, data, None if v == "standard" else v, ctx.generator("init"))
    h = train.fit(model, data, loss="ce", lr=cfg.lr, momentum=cfg.momentum, batch_size=cfg.batch_size,
                  epochs=cfg.epochs, seed=ctx.seed_for("fit"), quiet=True, watch={"every": 10, "hist_every": 100})
    ctx.metrics_from(h, v)
    if h.diverged:
        raise RuntimeError(f"{v} diverged ({h.message}); lower lr (now {cfg.lr})")
    tr = train.evaluate(model, data.x_train, data.y_train, "ce")
    te = train.evaluate(model, data.x_test, data.y_test, "ce")
    ctx.metric(h.steps, v, "train_eval", "accuracy", tr["accuracy"])
    ctx.summary(f"train_accuracy_{v}", tr["accuracy"])
    ctx.summary(f"test_accuracy_{v}", te["accuracy"])
    ctx.summary(f"gap_{v}", tr["accuracy"] - te["accuracy"])
    ref = {"standard": 1.60, "inverted": 1.25, "classic": 1.25}[v]
    ctx.summary(f"test_error_percent_{v}", 100 * (1 - te["accuracy"]), reference=ref, tolerance=0.1,
                source=SOURCE + ("; standard net: 1.60%" if v == "standard"
                                 else "; dropout nets: 1.35% (logistic) to 1.25% (ReLU, 3 × 1024)"))
    ctx.log(f"{LABELS[v]}: train {tr['accuracy']:.4f}, test {te['accuracy']:.4f}, "
            f"gap {tr['accuracy'] - te['accuracy']:.4f}")
    return model


def _same_model(cfg: Config, ctx: RunContext, nets: dict, data) -> None:
    """Inverted == classic: the trained inverted net rewritten as a classic one gives the same logits."""
    inv = nets["inverted"]
    classic = _net(cfg, data, "classic", ctx.generator("init"))
    state = {k: v.clone() for k, v in inv.state_dict().items()}
    for name, module in inv.named_children():
        if isinstance(module, torch.nn.Linear):
            p = cfg.p_input if name == "fc1" else cfg.p_hidden
            state[f"{name}.weight"] /= (1 - p)
    classic.load_state_dict(state)
    classic.eval()
    inv.eval()
    with torch.no_grad():
        diff = float((classic(data.x_test) - inv(data.x_test)).abs().max())
    preds = {v: _probs(nets[v], data.x_test, False).argmax(1) for v in ("classic", "inverted")}
    ctx.summary("classic_rewrite_max_logit_diff", diff)
    ctx.summary("classic_vs_inverted_agreement", float((preds["classic"] == preds["inverted"]).float().mean()))
    ctx.log(f"classic rewrite: max |Δlogit| {diff:.2e}")


def _ensemble(cfg: Config, ctx: RunContext, inv: torch.nn.Module, data) -> None:
    """The average of sampled sub-networks vs the weight-scaled network (Srivastava §7.5, Fig. 11)."""
    scaled = _probs(inv, data.x_test, False)
    err_scaled = 100 * float((scaled.argmax(1) != data.y_test).float().mean())
    ctx.metric(0, "inverted", "weight_scaled", "test_error_percent", err_scaled)
    total = torch.zeros_like(scaled)
    err = err_scaled
    with torch_seed(ctx.seed_for("mc")):
        for k in range(1, cfg.mc_samples + 1):
            total += _probs(inv, data.x_test, True)
            if k in (1, 2, 5) or k % 10 == 0 or k == cfg.mc_samples:
                err = 100 * float(((total / k).argmax(1) != data.y_test).float().mean())
                ctx.metric(k, "inverted", "mc", "test_error_percent", err)
    avg = total / cfg.mc_samples
    agree = float((avg.argmax(1) == scaled.argmax(1)).float().mean())
    tv = float(0.5 * (avg - scaled).abs().sum(1).mean())
    ctx.summary("mc_agreement", agree)
    ctx.summary("mc_mean_prob_diff", tv)
    ctx.summary("mc_test_error_percent", err)
    ctx.summary("subnetworks_log2", data.n_features * (cfg.p_input > 0) + sum(cfg.hidden) * (cfg.p_hidden > 0))
    ctx.log(f"{cfg.mc_samples} sub-networks vs weight scaling: agreement {agree:.4f}, mean TV {tv:.4f}, "
            f"error {err:.2f}% vs {err_scaled:.2f}%")
