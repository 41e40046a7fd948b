r"""From a validated :class:`~initlab.playground.state.State` to initlab objects: the data, the model
(``il.models.mlp`` + ``il.initialize``), the L1/L2 penalty and the :func:`initlab.train.fit` arguments.

The session and the exported code call these same functions, so the page's run and the exported
script draw the same weights and take the same steps.

TensorFlow Playground's regularization acts on the weights (not the biases), added to each gradient:
L1 adds λ·sign(w) (penalty λ Σ|w|), L2 adds λ·w (penalty λ/2 Σw²); the reported loss is the data loss.

>>> import torch
>>> from initlab.playground.state import validate
>>> s = validate({"depth": 3, "width": 8, "init": "he_normal", "sw2": 2.0, "activation": "relu"})
>>> model, report = build_model(s, n_in=2, n_out=1)
>>> [name for name, _ in model.named_children()][:3], round(report.layers[1].gain ** 2, 6)
(['fc1', 'act1', 'fc2'], 2.0)
"""
from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from .. import initialize, models, train
from .datasets import make_dataset
from .state import GAIN_SCHEMES, SCALE_SCHEMES, State

__all__ = ["Penalty", "build_data", "build_model", "init_options", "fit_options", "effective_sw2", "nominal_sw2",
           "outputs"]


class Penalty(train.Callback):
    """L1 (``"l1"``) or L2 (``"l2"``) regularization of the Linear weights, rate ``rate``, applied to the
    gradients after ``backward`` (biases are not regularized).

    >>> m = nn.Linear(2, 1); _ = nn.init.constant_(m.weight, -0.5); m.weight.grad = torch.zeros(1, 2)
    >>> Penalty("l1", 0.1).apply(m); m.weight.grad.tolist()
    [[-0.10000000149011612, -0.10000000149011612]]
    """

    def __init__(self, kind: str, rate: float):
        if kind not in ("none", "l1", "l2"):
            raise ValueError(f"kind must be one of ['none', 'l1', 'l2'], got {kind!r}")
        if not (isinstance(rate, (int, float)) and math.isfinite(rate) and rate >= 0):
            raise ValueError(f"rate must be a finite number >= 0, got {rate!r}")
        self.kind, self.rate = kind, float(rate)

    def apply(self, model: nn.Module) -> None:
        if self.kind == "none" or self.rate == 0:
            return
        with torch.no_grad():
            for m in model.modules():
                if isinstance(m, nn.Linear) and m.weight.grad is not None:
                    w = m.weight
                    m.weight.grad.add_(torch.sign(w) if self.kind == "l1" else w, alpha=self.rate)

    def on_after_backward(self, state: train.FitState) -> None:
        self.apply(state.model)


def build_data(state: State):
    """The :class:`initlab.data.Dataset` of ``state`` (features, noise, split, seed)."""
    return make_dataset(state.dataset, noise=state.noise, train_pct=state.train_pct,
                        features=list(state.features), seed=state.data_seed)


def outputs(state: State) -> int:
    """Output units: 10 for MNIST, else 1 (a logit, or the regression value)."""
    return 10 if state.dataset == "mnist" else 1


def init_options(state: State) -> dict[str, Any]:
    """Keyword arguments of :func:`initlab.initialize` for ``state`` (besides model, scheme, data, generator)."""
    opts: dict[str, Any] = {}
    if state.sw2 is not None and state.init in GAIN_SCHEMES:
        opts["gain"] = math.sqrt(state.sw2)
    elif state.sw2 is not None and state.init in SCALE_SCHEMES:
        key = "std" if state.init == "normal" else "value"
        opts[key] = math.sqrt(state.sw2 / state.width)
    if state.sb2 > 0:
        opts["bias_std"] = math.sqrt(state.sb2)
    return opts


def build_model(state: State, n_in: int, n_out: int, data: Any = None) -> tuple[nn.Sequential, Any]:
    """``il.models.mlp`` (no init) then ``il.initialize`` with ``state``'s scheme, seeded by ``state.seed``.

    ``data``: a batch of inputs, needed by ``lsuv``.
    """
    model = models.mlp([n_in] + [state.width] * state.depth + [n_out], state.activation, init=None)
    gen = torch.Generator().manual_seed(state.seed)
    extra = {"data": data} if state.init == "lsuv" else {}
    report = initialize(model, state.init, generator=gen, **init_options(state), **extra)
    return model, report


def fit_options(state: State) -> dict[str, Any]:
    """Keyword arguments of :func:`initlab.train.fit` besides ``steps`` and ``callbacks``."""
    return {"loss": state.loss, "optimizer": state.optimizer, "lr": state.lr, "batch_size": state.batch,
            "seed": state.seed, "quiet": True}


def nominal_sw2(state: State, report: Any, model: nn.Module) -> float:
    """The σ_w² the scheme draws from (``fan_in · expected_std²`` of a hidden layer, from the
    :class:`~initlab.initialize.InitReport`); the measured :func:`effective_sw2` where the report has
    none (LSUV). The theory panel uses this: a draw's sampling noise (σ_w² = 2.01 for He) would put a
    ReLU net in the wrong phase."""
    layers = report.layers
    r = layers[1] if len(layers) > 2 else layers[0]
    if r.expected_std is None or state.init in ("constant", "zeros"):  # no spread: E[w²] is measured exactly
        return effective_sw2(model)
    return float(r.expected_std) ** 2 * r.fan_in


def effective_sw2(model: nn.Module) -> float:
    """σ_w² = fan_in · E[w²] of the hidden (square) layers, measured on the weights (the first layer's
    when the net has one hidden layer)."""
    lin = [m for m in model.modules() if isinstance(m, nn.Linear)]
    hidden = [m for m in lin[1:-1]] or lin[:1]
    vals = [float(m.weight.detach().double().pow(2).mean()) * m.in_features for m in hidden]
    return sum(vals) / len(vals)
