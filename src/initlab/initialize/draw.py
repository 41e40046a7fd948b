r"""Drawing one layer's weight and bias under a plain scheme (the tensor-level initializers of
:mod:`initlab.init`) or ``auto``: :math:`W \sim \mathcal N(0, g^2/\text{fan\_in})`, g =
``gain("forward")`` of the activation after the layer (1 when nothing follows).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from .. import init as _init
from ..activations import RELU_FAMILY, Activation
from ..structure import Follow, weight_view
from ..validate import is_number
from .records import LayerInit



def _slope(a: Activation) -> float:
    """Negative slope of a ReLU-family activation: φ(-1) = -a."""
    return float(-a.numpy(np.array([-1.0]))[0])


def _bias_(b: Tensor, bias_init: Any, bias_std: float | None, fan_in: int,
           generator: torch.Generator | None) -> str:
    if bias_std is not None:
        _init.normal_(b, bias_std, generator=generator)
        return f"N(0, {bias_std:g}²)"
    if isinstance(bias_init, str) and bias_init == "zeros":
        _init.zeros_(b)
        return "zeros"
    if isinstance(bias_init, str) and bias_init == "keep":
        return "kept"
    if isinstance(bias_init, str) and bias_init == "uniform_fan_in":
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
        _init.with_generator(b, generator, lambda t, g: nn.init.uniform_(t, -bound, bound, generator=g))
        return "U(±1/√fan_in)"
    if is_number(bias_init):
        _init.constant_(b, float(bias_init))
        return f"constant {float(bias_init):g}"
    raise ValueError(f"bias_init must be 'zeros', 'uniform_fan_in', 'keep' or a number, got {bias_init!r}")


def _draw(w: Tensor, scheme: str, follow: Follow, gain: float | None, opts: dict,
          generator: torch.Generator | None, assume: Activation) -> tuple[float | None, float | None, str]:
    """Initialize weight ``w``; returns (gain, expected std, note)."""
    fan_in, fan_out = _init.fans(w)
    g = generator
    if scheme == "zeros":
        _init.zeros_(w)
        return None, 0.0, ""
    if scheme == "constant":
        _init.constant_(w, opts.get("value", 0.0))
        return None, 0.0, ""
    if scheme == "normal":
        std = opts.get("std", 0.01)
        _init.normal_(w, std, generator=g)
        return None, float(std), ""
    if scheme == "uniform_fan_in":
        _init.uniform_fan_in_(w, generator=g)
        return None, 1 / math.sqrt(3 * fan_in), ""
    if scheme in ("xavier_uniform", "xavier_normal"):
        gg = 1.0 if gain is None else gain
        (_init.xavier_uniform_ if scheme == "xavier_uniform" else _init.xavier_normal_)(w, gg, generator=g)
        return gg, gg * math.sqrt(2 / (fan_in + fan_out)), ""
    if scheme in ("orthogonal", "delta_orthogonal"):
        gg = 1.0 if gain is None else gain
        (_init.orthogonal_ if scheme == "orthogonal" else _init.delta_orthogonal_)(w, gg, generator=g)
        # sum of squares of g·(semi-)orthogonal = g²·min(rows, cols), spread over all entries (RMS)
        rows = w.shape[0]
        cols = w[0].numel() if scheme == "orthogonal" or w.dim() == 2 else w.shape[1]
        return gg, gg * math.sqrt(min(rows, cols) / w.numel()), ""
    if scheme in ("he_normal", "he_uniform"):
        mode = opts.get("mode", "fan_in")
        n = _init.fan(w, mode)
        act = follow.activation
        note = ""
        if "a" in opts:
            a = opts["a"]
        elif act is not None and act.name in RELU_FAMILY:
            a = _slope(act)
        elif act is None and follow.source == "assumed":
            a = _slope(assume) if assume.name in RELU_FAMILY else 0.0
        else:
            a = 0.0
            if act is not None and act.name != "identity":
                note = f"He's ReLU formula (a = 0) used although {act.name} follows"
        nonlinearity = opts.get("nonlinearity", "leaky_relu")
        if gain is None:
            (_init.he_normal_ if scheme == "he_normal" else _init.he_uniform_)(
                w, a, mode, nonlinearity, generator=g)
            gg = float(nn.init.calculate_gain(nonlinearity, _init.check_slope(a)))  # type: ignore[arg-type]
        else:
            gg = gain
            std = gg / math.sqrt(n)
            if scheme == "he_normal":
                _init.normal_(w, std, generator=g)
            else:
                b = math.sqrt(3) * std
                _init.with_generator(w, g, lambda t, gen: nn.init.uniform_(t, -b, b, generator=gen))
        return gg, gg / math.sqrt(n), note
    if scheme == "lecun_normal":
        gg = 1.0 if gain is None else gain
        _init.normal_(w, gg / math.sqrt(fan_in), generator=g)
        return gg, gg / math.sqrt(fan_in), ""
    if scheme == "auto":
        act = follow.activation
        if act is None:
            gg = 1.0 if follow.source == "detected" or follow.output else assume.gain("forward")
        else:
            gg = act.gain("forward")
        _init.normal_(w, gg / math.sqrt(fan_in), generator=g)
        return gg, gg / math.sqrt(fan_in), ""
    raise AssertionError(scheme)  # pragma: no cover - callers pass canonical plain schemes


def init_layer(name: str, m: nn.Module, scheme: str | None, follow: Follow, gain: float | None,
                opts: dict, bias_init: Any, bias_std: float | None, generator: torch.Generator | None,
                assume: Activation) -> LayerInit:
    """Draw one layer's weight (and bias) with a plain scheme (None: leave as is) and record it.
    The weight is drawn in torch's (out, in) layout (:func:`~initlab.structure.weight_view`)."""
    w: Tensor = weight_view(m)
    fan_in, fan_out = _init.fans(w)
    gg: float | None = None
    std: float | None = None
    note = ""
    bias = "none"
    if scheme is not None:
        gg, std, note = _draw(w, scheme, follow, gain, opts, generator, assume)
    b = getattr(m, "bias", None)
    if isinstance(b, nn.Parameter):
        if scheme is None:
            bias = "kept"
        elif scheme in ("zeros", "constant") and bias_std is None:
            value = 0.0 if scheme == "zeros" else float(opts.get("value", 0.0))
            bias = _bias_(b, value, None, fan_in, generator)
        else:
            bias = _bias_(b, bias_init, bias_std, fan_in, generator)
    act = follow.activation
    if act is None and follow.source == "assumed" and not follow.output:
        act_name, params = assume.name, dict(assume.params)
    elif act is None:
        act_name, params = "none", {}
    else:
        act_name, params = act.name, dict(act.params)
    return LayerInit(name=name, type=type(m).__name__, fan_in=fan_in, fan_out=fan_out,
                     scheme=scheme or "kept", gain=gg, activation=act_name,
                     activation_source=follow.source, expected_std=std,
                     weight_std=float(w.detach().float().std()) if w.numel() > 1 else 0.0,
                     bias=bias, activation_params=params, note=note)
