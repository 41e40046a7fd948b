r"""Per-layer mean-field predictions for a concrete network: pre-activation mean and variance, output std, gradients.

For layer l with weights of std :math:`s_w` and fan-in :math:`n`, biases of mean :math:`\bar b` and std :math:`s_b`
(:math:`\sigma_w^2 = s_w^2 n`, :math:`\sigma_b^2 = s_b^2`, read from the actual tensors, so a given weight draw
is predicted with its empirical scale) and activation :math:`\phi_l` (identity when none follows), every unit's
pre-activation is :math:`h^l \sim \mathcal N(\bar b_l, q^l)` with

.. math::
    q^1 = \sigma_{w,1}^2 q^0 + \sigma_{b,1}^2, \qquad q^l = \sigma_{w,l}^2\,\mathbb E[\phi_{l-1}(h^{l-1})^2] + \sigma_{b,l}^2,

    \mathrm{std}(\phi_l(h^l)) = \sqrt{\mathbb E[\phi_l^2] - \mathbb E[\phi_l]^2},\qquad
    \frac{\|\partial C/\partial a^{l}\|^2}{\|\partial C/\partial h^{l+1}\|^2} = \sigma_{w,l+1}^2,\qquad
    \frac{\|\partial C/\partial h^{l}\|^2}{\|\partial C/\partial a^{l}\|^2} = \mathbb E[\phi_l'(h^l)^2],

(the weights have mean 0, so the input's second moment — not its variance — sets q; a constant bias shifts the
mean and leaves q alone), so :math:`\|\delta^l\|^2/\|\delta^{l+1}\|^2 = \sigma_{w,l+1}^2\,\mathbb E[\phi_l'(h^l)^2]` for
whole-layer norms (δ = ∂C/∂h; the width ratio enters per-unit variances, not whole-layer norms). Gradient norms
are relative: the gradient at the network's output (the last layer's activation output, or its linear output
when no activation follows) is 1. Poole et al. 2016; Schoenholz et al. 2017. The expectations are
:meth:`initlab.activations.Activation.moments` at N(b̄, q), of the exact activation (its parameters included).

Accepted models: an ``nn.Sequential``-like module whose leaf modules, in registration order, are
``Linear``/``Conv*d`` layers, activation modules (:func:`initlab.activations.from_module`) and pass-through
modules (``Dropout``, ``Flatten``, ``Identity``); or an ``Inspection`` (its ``layers``) or a list of
``LayerStats``, whose ``activation_spec`` (e.g. ``"leaky_relu(slope=0.5)"``) names the exact activation and
whose ``bias_mean`` (an ``extra`` of ``inspect``'s records) the bias mean (0 when a record has none).
Convolutions are treated like dense layers with fan-in = in_channels·kernel size (padding effects ignored).

>>> from torch import nn
>>> import torch
>>> torch.manual_seed(0) and None
>>> model = nn.Sequential(nn.Linear(500, 500), nn.ReLU(), nn.Linear(500, 500), nn.ReLU())
>>> for m in model[::2]:
...     _ = nn.init.normal_(m.weight, std=(1 / 500) ** 0.5); _ = nn.init.zeros_(m.bias)
>>> predict(model).std.round(2).tolist()          # Xavier ReLU: 0.584, 0.410, ... (seed 003)
[0.58, 0.41]
"""
from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable

import numpy as np
import torch
from torch import nn

from .. import activations, structure
from ..activations import Activation
from .maps import check_q, check_sigmas

__all__ = ["LayerPrediction", "Prediction", "predict"]

_PASS_THROUGH = (nn.Flatten, nn.Unflatten, nn.Identity)  # besides dropout: they keep every entry's value



@dataclass(frozen=True)
class LayerPrediction:
    """One linear/conv layer and the activation after it (``activation`` None: identity)."""

    index: int                   # 1-based depth l
    name: str                    # the linear/conv module's name
    kind: str                    # "linear" | "conv"
    activation: str | None       # activation name
    activation_module: str | None  # name of the activation module that follows (for joining measurements)
    fan_in: int
    fan_out: int
    sigma_w2: float              # weight_std² · fan_in
    sigma_b2: float              # bias_std²
    q: float                     # predicted pre-activation variance q^l (around its mean)
    pre_std: float               # √q^l
    post_mean: float             # E[φ(h)]
    post_std: float              # std of the layer's output φ(h) (= pre_std without activation)
    grad_norm: float             # ‖∂C/∂(layer output)‖ relative to the network output's gradient
    pre_grad_norm: float         # ‖∂C/∂h^l‖, same normalization
    pre_mean: float = 0.0        # the pre-activations' mean: the bias mean b̄
    activation_spec: str | None = None  # the exact activation, e.g. "leaky_relu(slope=0.5)"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Prediction:
    """Per-layer predictions in forward order; ``std`` / ``grad_norm`` as arrays."""

    q0: float
    layers: list[LayerPrediction] = field(default_factory=list)

    @property
    def std(self) -> np.ndarray:
        """Predicted output std per layer, (L,)."""
        return np.array([r.post_std for r in self.layers])

    @property
    def grad_norm(self) -> np.ndarray:
        """Predicted relative gradient norm of each layer's output, (L,)."""
        return np.array([r.grad_norm for r in self.layers])

    def to_dict(self) -> dict[str, Any]:
        return {"q0": self.q0, "layers": [r.to_dict() for r in self.layers]}

    def __len__(self) -> int:
        return len(self.layers)


@dataclass
class _Layer:  # what the predictions need from one layer
    name: str
    kind: str
    fan_in: int
    fan_out: int
    weight_std: float
    bias_std: float
    act: Activation | None = None
    act_module: str | None = None
    bias_mean: float = 0.0


def _from_module(model: Any) -> list[_Layer]:
    """The layers of ``model``: its leaves in registration order, strictly (a norm, pooling or unknown module is
    an error: the recursion would not model it), with the activation :func:`initlab.structure.follow` detects
    after each layer where that differs (a functional ``F.relu`` in a custom ``forward``)."""
    layers: list[_Layer] = []
    for name, m in model.named_modules():
        if next(iter(m.children()), None) is not None:
            continue  # containers: their leaves come next
        if isinstance(m, structure.WEIGHT_LAYERS) and isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)):
            w, b = m.weight.detach(), m.bias.detach() if m.bias is not None else None
            layers.append(_Layer(name, "linear" if isinstance(m, nn.Linear) else "conv", *structure.fans(w),
                                 _std(w), _std(b) if b is not None else 0.0,
                                 bias_mean=float(b.sum(dtype=torch.float64)) / b.numel() if b is not None else 0.0))
            continue
        if structure.is_norm(m):
            raise ValueError(f"predict does not model normalization layers: {type(m).__name__} at {name!r}")
        if structure.is_dropout(m) or isinstance(m, _PASS_THROUGH):
            continue
        act = activations.from_module(m)
        if act is None:
            raise ValueError(f"predict supports Linear/Conv layers, activations and pass-through modules "
                             f"(dropout, flatten, identity); got {type(m).__name__} at {name!r}")
        _attach(layers, act, name)
    _use_detected(model, layers)
    return layers


def _use_detected(model: Any, layers: list[_Layer]) -> None:
    """Where execution order (torch.fx) shows another activation after a layer than registration order does,
    take the detected one (without a module to measure at)."""
    try:
        found = structure.following_activations(model)
    except Exception:  # noqa: BLE001 - detection is a cross-check; registration order stands without it
        return
    for ly in layers:
        if ly.name not in found:
            continue
        act = found[ly.name]
        if act is not None and act.name == "identity":
            act = None
        if (act.spec if act else None) != (ly.act.spec if ly.act else None):
            ly.act, ly.act_module = act, None


def _std(t: Any) -> float:
    """Population std (as LayerStats), accumulated in float64 without a float64 copy of the tensor."""
    n = t.numel()
    if n <= 1:
        return 0.0
    mean = float(t.sum(dtype=torch.float64)) / n
    ms = float(torch.linalg.vector_norm(t, dtype=torch.float64)) ** 2 / n
    return math.sqrt(max(ms - mean * mean, 0.0))


def _attach(layers: list[_Layer], act: Activation, name: str) -> None:
    if act.name == "identity":
        return
    if not layers:
        raise ValueError(f"activation {name!r} ({act.name}) comes before any Linear/Conv layer")
    if layers[-1].act is not None:
        raise ValueError(f"two activations in a row ({layers[-1].act_module!r}, {name!r}) are not supported")
    layers[-1].act, layers[-1].act_module = act, name


def _from_stats(stats: Iterable[Any]) -> list[_Layer]:
    layers: list[_Layer] = []
    for s in stats:
        kind = getattr(s, "kind", None)
        if kind in ("linear", "conv"):
            if s.fan_in is None or s.weight_std is None:
                raise ValueError(f"layer {s.name!r} has no fan_in/weight_std")
            extra = getattr(s, "extra", None) or {}
            bias_mean = getattr(s, "bias_mean", None)
            bias_mean = extra.get("bias_mean", 0.0) if bias_mean is None else bias_mean
            layers.append(_Layer(s.name, kind, int(s.fan_in), int(s.fan_out or 0), float(s.weight_std),
                                 float(s.bias_std or 0.0), bias_mean=float(bias_mean or 0.0)))
            if s.activation:
                layers[-1].act = _stats_activation(s)
        elif kind == "activation":
            if layers and layers[-1].act_module is None and layers[-1].act is not None:
                layers[-1].act_module = s.name
            elif layers and layers[-1].act is None:
                _attach(layers, _stats_activation(s), s.name)
        elif kind == "norm":
            raise ValueError(f"predict does not model normalization layers (got {s.name!r})")
    return layers


def _stats_activation(s: Any) -> Activation:
    """The exact activation of a record: its ``activation_spec``; else its ``activation`` name or module type
    with default parameters (a warning when that family has parameters: they were not recorded)."""
    spec = getattr(s, "activation_spec", None)
    if spec:
        return activations.get(spec)
    for label in (s.activation, getattr(s, "module_type", None)):
        if label:
            try:
                act = activations.get(label)
            except ValueError:
                continue
            if act.params:
                warnings.warn(f"record {s.name!r} names activation {label!r} without its parameters "
                              f"(no activation_spec): predicting with {act.spec}", stacklevel=4)
            return act
    raise ValueError(f"cannot tell which activation {s.name!r} ({getattr(s, 'module_type', '?')}) computes")


def predict(model: Any, q0: float = 1.0) -> Prediction:
    r"""Per-layer mean-field predictions (see the module docstring) for ``model``.

    Args:
        model: an ``nn.Sequential``-like module, an ``Inspection`` or a list of ``LayerStats``.
        q0: the input's second moment :math:`\|x\|^2/N_0` (1 for standard-normal inputs).

    Raises ``ValueError`` for a model with no Linear/Conv layer, a layer with a zero weight std, an
    unsupported module, or an activation whose moments diverge.
    """
    q0 = check_q(q0, "q0")
    if hasattr(model, "named_modules"):
        layers = _from_module(model)
    else:
        layers = _from_stats(getattr(model, "layers", model))
    if not layers:
        raise ValueError("model has no Linear/Conv layer to predict")
    sw2 = []
    for ly in layers:
        s, b = ly.weight_std ** 2 * ly.fan_in, ly.bias_std ** 2
        if s <= 0:
            raise ValueError(f"sigma_w2 of layer {ly.name!r} must be > 0 (weight_std={ly.weight_std!r}); "
                             f"mean-field predictions need random weights")
        sw2.append(check_sigmas(s, b))
    qs, post = _forward(layers, sw2, q0)
    g_out, g_pre = _backward(sw2, post)
    recs = [LayerPrediction(
        index=i + 1, name=ly.name, kind=ly.kind, activation=ly.act.name if ly.act else None,
        activation_module=ly.act_module, fan_in=ly.fan_in, fan_out=ly.fan_out, sigma_w2=sw2[i][0],
        sigma_b2=sw2[i][1], q=qs[i], pre_std=math.sqrt(qs[i]), post_mean=post[i][0],
        post_std=math.sqrt(max(post[i][1] - post[i][0] ** 2, 0.0)), grad_norm=g_out[i], pre_grad_norm=g_pre[i],
        pre_mean=ly.bias_mean, activation_spec=ly.act.spec if ly.act else None)
        for i, ly in enumerate(layers)]
    return Prediction(q0, recs)


def _forward(layers: list[_Layer], sw2: list[tuple[float, float]], q0: float
             ) -> tuple[list[float], list[tuple[float, float, float]]]:
    """q^l and (E[φ], E[φ²], E[φ'²]) of each layer's output, h^l ~ N(b̄_l, q^l)."""
    qs, post = [], []
    x2 = q0  # second moment of the layer's input
    for ly, (sw, sb) in zip(layers, sw2):
        q = sw * x2 + sb
        if not math.isfinite(q):
            raise ValueError(f"the predicted variance overflows at layer {ly.name!r}")
        mu = ly.bias_mean
        if ly.act is None:
            mean, second, dsec = mu, q + mu * mu, 1.0
        else:
            m = ly.act.moments(q, mean=mu)
            mean, second, dsec = m.mean, m.second, m.deriv_second
        qs.append(q)
        post.append((mean, second, dsec))
        x2 = second
    return qs, post


def _backward(sw2: list[tuple[float, float]], post: list[tuple[float, float, float]]
              ) -> tuple[list[float], list[float]]:
    """Relative gradient norms of each layer's output and pre-activation; the output's is 1."""
    n = len(post)
    g_out, g_pre = [0.0] * n, [0.0] * n
    g_out[-1] = 1.0
    for l in range(n - 1, -1, -1):
        if l < n - 1:
            g_out[l] = math.sqrt(sw2[l + 1][0]) * g_pre[l + 1]
        g_pre[l] = math.sqrt(post[l][2]) * g_out[l]
    return g_out, g_pre
