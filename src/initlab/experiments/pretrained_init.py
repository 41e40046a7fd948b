r"""``pretrained-init``: initialize from a network trained on a related task (seed 003's last method).

Train an MLP on MNIST digits 0–4 (the *source* task), save its ``state_dict`` without the output
layer, then start a network for digits 5–9 (the *target* task, relabelled 0–4, only ``n_target``
training images) three ways:

* ``scratch``: He normal init;
* ``pretrained``: :func:`initlab.initialize` ``(model, "pretrained", checkpoint=path)`` — hidden layers
  loaded, the new output layer keeps its He init — every layer fine-tuned;
* ``frozen``: the same with ``freeze=["fc1", …]``: the first ``freeze_layers`` layers keep the source
  features and only the rest trains.

Features learnt on strokes of 0–4 transfer to 5–9, so the pretrained starts reach a target test
accuracy in fewer steps than from scratch.

Summary keys: ``source_test_accuracy``; per variant ``steps_to_target_*`` (first evaluated update with
test accuracy ≥ ``target_accuracy``; null if never), ``initial_test_accuracy_*``, ``test_accuracy_*``
(end), ``trainable_parameters_*``; ``loaded_tensors`` (tensors the checkpoint set).
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch

from .context import RunContext
from .datasets import mnist
from .figures.pretrained_init import LABELS
from .registry import register
from .series import first_step

SOURCE = "seed 003 (initialization from pretrained weights); fine-tuning vs frozen features"
@dataclass
class Config:
    hidden: tuple[int, ...] = (256, 256)
    activation: str = "relu"
    source_digits: tuple[int, ...] = (0, 1, 2, 3, 4)
    target_digits: tuple[int, ...] = (5, 6, 7, 8, 9)
    source_steps: int = 1500
    source_batch_size: int = 64
    n_target: int = 100  # small training set of the target task
    target_steps: int = 500  # full-batch updates on it
    eval_every: int = 5
    lr: float = 0.05  # source task
    target_lr: float = 0.01
    momentum: float = 0.9
    freeze_layers: int = 1
    target_accuracy: float = 0.85


def _keys() -> dict[str, str]:
    keys = {"source_test_accuracy": "test accuracy of the source network on its own digits",
            "loaded_tensors": "weight/bias tensors set from the checkpoint (the output layer is not in it)"}
    for v, label in LABELS.items():
        keys[f"steps_to_target_{v}"] = (f"first evaluated update with target-task test accuracy ≥ target_accuracy "
                                         f"({label}); null if never")
        keys[f"initial_test_accuracy_{v}"] = f"target-task test accuracy before any update ({label})"
        keys[f"test_accuracy_{v}"] = f"target-task test accuracy at the end ({label})"
        keys[f"trainable_parameters_{v}"] = f"parameters the optimizer updates ({label})"
    return keys


@register("pretrained-init", description="Train on MNIST digits 0–4, save, initialize a digits 5–9 network "
          "from the checkpoint (fine-tuned, or first layers frozen) vs He from scratch, on a small training "
          "set: curves and steps to a target accuracy",
          reference="seed 003 (the fifth initialization: pretrained weights)",
          config=Config, quick={"source_steps": 300, "target_steps": 150, "hidden": (128, 128)},
          summary_keys=_keys())
def measure(cfg: Config, ctx: RunContext) -> None:
    _check(cfg, ctx)
    source = mnist(ctx.seed, digits=cfg.source_digits, n_train=None, n_test=None)
    target = mnist(ctx.seed, digits=cfg.target_digits, n_train=cfg.n_target, n_test=None)
    src_model = _source(cfg, ctx, source)
    with tempfile.TemporaryDirectory(prefix="initlab-pretrained-") as tmp:
        path = Path(tmp) / "source.pt"
        torch.save({k: v for k, v in src_model.state_dict().items() if not k.startswith("fc_out.")}, path)
        for v in LABELS:
            _target(cfg, ctx, v, target, path)


def _check(cfg: Config, ctx: RunContext) -> None:
    if set(cfg.source_digits) & set(cfg.target_digits):
        raise ValueError(f"source_digits and target_digits must not overlap, got {cfg.source_digits!r} and "
                         f"{cfg.target_digits!r}")
    for name in ("source_digits", "target_digits"):
        digits = getattr(cfg, name)
        if len(digits) < 2 or not all(0 <= d <= 9 for d in digits):
            raise ValueError(f"{name} must be at least two digits in 0..9, got {digits!r}")
    if len(cfg.source_digits) != len(cfg.target_digits):
        ctx.log("source and target have different numbers of classes: the output layer differs anyway")
    if not 0 <= cfg.freeze_layers <= len(cfg.hidden):
        raise ValueError(f"freeze_layers must be in [0, {len(cfg.hidden)}], got {cfg.freeze_layers!r}")


def _source(cfg: Config, ctx: RunContext, source) -> torch.nn.Module:
    """The network trained on the source task."""
    from .. import models, train

    src_model = models.mlp([source.n_features, *cfg.hidden, len(cfg.source_digits)], cfg.activation,
                           init="he_normal", generator=ctx.generator("source"))
    hs = train.fit(src_model, source, loss="ce", lr=cfg.lr, momentum=cfg.momentum,
                   batch_size=cfg.source_batch_size, steps=cfg.source_steps, seed=ctx.seed_for("fit", "source"),
                   quiet=True)
    ctx.metrics_from(hs, "source")
    src_acc = train.evaluate(src_model, source.x_test, source.y_test, "ce")["accuracy"]
    ctx.summary("source_test_accuracy", src_acc)
    ctx.log(f"source task (digits {cfg.source_digits}): test accuracy {src_acc:.3f} after {hs.steps} updates")
    return src_model


def _target(cfg: Config, ctx: RunContext, v: str, target, checkpoint: Path) -> None:
    """One start on the target task (scratch, pretrained or frozen), trained on its few images."""
    from .. import models, train
    from ..initialize import initialize

    model = models.mlp([target.n_features, *cfg.hidden, target.n_classes], cfg.activation,
                       init="he_normal", generator=ctx.generator("target"))  # same head for all
    if v != "scratch":
        frozen = [f"fc{i}" for i in range(1, cfg.freeze_layers + 1)]
        rep = initialize(model, "pretrained", checkpoint=str(checkpoint), freeze=frozen if v == "frozen" else None)
        if v == "pretrained":
            ctx.summary("loaded_tensors", len(rep.loaded))
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    ctx.summary(f"trainable_parameters_{v}", trainable)
    h = train.fit(model, target, loss="ce", lr=cfg.target_lr, momentum=cfg.momentum, steps=cfg.target_steps,
                  eval_every=cfg.eval_every, seed=ctx.seed_for("fit", "target"), quiet=True,
                  watch={"every": 5, "hist_every": 50})
    ctx.metrics_from(h, v)
    s, a = h.series("accuracy", "test")
    reach = first_step(s, a, cfg.target_accuracy)
    ctx.summary(f"steps_to_target_{v}", reach)
    ctx.summary(f"initial_test_accuracy_{v}", a[0] if len(a) else None)
    ctx.summary(f"test_accuracy_{v}", a[-1] if len(a) else None)
    ctx.log(f"{LABELS[v]}: {trainable} trainable parameters; test accuracy {a[0]:.3f} → {a[-1]:.3f}; "
            f"≥ {cfg.target_accuracy} at update {reach}")
