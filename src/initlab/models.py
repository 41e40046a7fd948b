"""Small models to study signal flow: :func:`mlp` and :func:`cnn`, plain ``nn.Sequential`` with readable names.

Layer names (``model.fc1``, ``model.act1``, ...):

* ``mlp``: ``drop_in`` (input dropout, if any), then per hidden layer i = 1..L-1: ``fc{i}``,
  ``bn{i}`` or ``ln{i}`` (norm, before or after the activation), ``act{i}``, ``drop{i}``; then
  ``fc_out`` and ``act_out`` (if ``out_activation``).
* ``cnn``: ``drop_in``, per block i = 1..B: ``conv{i}``, ``bn{i}``/``ln{i}``, ``act{i}``,
  ``pool{i}``, ``drop{i}``; then, with ``num_classes``: ``gap`` (global average pool, when
  ``input_size`` is not given), ``flatten``, ``fc_out``, ``act_out``.

>>> import torch, initlab as il
>>> m = il.models.mlp([4, 8, 3], "relu", norm="batch", dropout=0.1, generator=torch.Generator().manual_seed(0))
>>> [name for name, _ in m.named_children()]
['fc1', 'bn1', 'act1', 'drop1', 'fc_out']
"""
from __future__ import annotations

import copy
import math
from collections import OrderedDict
from typing import Any, Callable, Literal, Sequence

import torch
from torch import Tensor, nn

from . import activations as _acts
from .activations import Activation
from .structure import DROPOUT_LAYERS
from .validate import one_of as _choice

__all__ = ["mlp", "cnn", "ClassicDropout"]

_NORMS = (None, "batch", "layer")
_NORM_POSITIONS = ("before_activation", "after_activation")
_DROPOUT_MODES = ("inverted", "classic")
_POOLS = (None, "max", "avg")


class ClassicDropout(DROPOUT_LAYERS[0]):
    r"""Dropout as Srivastava et al. (2014) first wrote it (seed 004): in training each unit is kept
    with probability :math:`1-p` and *not* rescaled; at test time outputs are multiplied by the keep
    probability :math:`1-p`, so their expectation matches training.

    ``nn.Dropout`` ("inverted" dropout) instead divides by :math:`1-p` in training and is the identity
    at test time; the two give the same expected activations.

    Args:
        p: drop probability (PyTorch's convention; the paper's p is the keep probability).
        generator: source of the dropout masks.

    >>> d = ClassicDropout(0.25).eval()
    >>> d(torch.ones(3)).tolist()
    [0.75, 0.75, 0.75]
    """

    def __init__(self, p: float = 0.5, generator: torch.Generator | None = None):
        super().__init__(p)
        self.generator = generator

    def forward(self, x: Tensor) -> Tensor:
        keep = 1.0 - self.p
        if not self.training:
            return x * keep
        if self.p == 0:
            return x
        mask = torch.bernoulli(torch.full_like(x, keep), generator=self.generator)
        return x * mask


# ---------------------------------------------------------------------------------------------------
# argument handling
def _activation(value: Any, name: str) -> Callable[[], nn.Module]:
    """A factory of fresh activation modules from a name, Activation, module (class/instance) or callable."""
    if isinstance(value, (str, Activation)):
        return _acts.get(value).module
    if isinstance(value, type) and issubclass(value, nn.Module):
        return value
    if isinstance(value, nn.Module):
        # copies of the instance itself: rebuilding it from its Activation would drop what the
        # registry does not model (ReLU6's clip, GELU(approximate="tanh"), PReLU(num_parameters))
        return lambda: copy.deepcopy(value)
    if callable(value):
        return _acts.from_callable(value).module
    raise ValueError(f"{name} must be an activation name (one of {_acts.names()}), an Activation, "
                     f"a module or a callable, got {value!r}")


def _dropout(dropout: Any) -> tuple[float, float]:
    pair = tuple(dropout) if isinstance(dropout, (tuple, list)) else (0.0, dropout)
    if len(pair) != 2:
        raise ValueError(f"dropout must be a float (hidden layers) or (input, hidden), got {dropout!r}")
    for p in pair:
        if not (isinstance(p, (int, float)) and not isinstance(p, bool) and 0 <= p < 1):
            raise ValueError(f"dropout must be drop probabilities in [0, 1) (PyTorch's p; Srivastava "
                             f"et al. write the keep probability 1 - p), got {dropout!r}")
    return float(pair[0]), float(pair[1])


def _dropout_module(p: float, mode: str) -> nn.Module:
    # masks come from the global RNG (training randomness), not from the init generator
    return nn.Dropout(p) if mode == "inverted" else ClassicDropout(p)


def _finish(model: nn.Sequential, init: str | None, bias_init: Any, bias_std: float | None,
            generator: torch.Generator | None, init_options: dict) -> nn.Sequential:
    if init is not None:
        from .initialize import initialize
        initialize(model, init, bias_init=bias_init, bias_std=bias_std, generator=generator, **init_options)
    elif init_options:
        raise ValueError(f"init options {sorted(init_options)} given but init=None")
    return model


def _block(layers: "OrderedDict[str, nn.Module]", i: int, main: nn.Module, norm_module: nn.Module | None,
           norm_tag: str, act: nn.Module, norm_position: str, extra: list[tuple[str, nn.Module]]) -> None:
    layers[_main_name(main, i)] = main
    if norm_module is not None and norm_position == "before_activation":
        layers[f"{norm_tag}{i}"] = norm_module
    layers[f"act{i}"] = act
    if norm_module is not None and norm_position == "after_activation":
        layers[f"{norm_tag}{i}"] = norm_module
    for k, m in extra:
        layers[k] = m


def _main_name(module: nn.Module, i: int) -> str:
    return f"fc{i}" if isinstance(module, nn.Linear) else f"conv{i}"


# ---------------------------------------------------------------------------------------------------
def _common_options(activation: Any, out_activation: Any, dropout: Any, dropout_mode: str, norm: Any,
                    norm_position: str) -> tuple[Any, Any, float, float]:
    """Validate the options mlp() and cnn() share; the activation factories and the drop rates."""
    make_act = _activation(activation, "activation")
    make_out = _activation(out_activation, "out_activation") if out_activation is not None else None
    p_in, p_hidden = _dropout(dropout)
    _choice("dropout_mode", dropout_mode, _DROPOUT_MODES)
    _choice("norm", norm, _NORMS)
    _choice("norm_position", norm_position, _NORM_POSITIONS)
    return make_act, make_out, p_in, p_hidden


def mlp(sizes: Sequence[int], activation: Any, *, init: str | None = "auto", bias: bool = True,
        bias_init: str | float = "zeros", bias_std: float | None = None,
        dropout: float | tuple[float, float] = 0.0,
        dropout_mode: Literal["inverted", "classic"] = "inverted",
        norm: Literal["batch", "layer"] | None = None,
        norm_position: Literal["before_activation", "after_activation"] = "before_activation",
        out_activation: Any = None, generator: torch.Generator | None = None,
        **init_options: Any) -> nn.Sequential:
    """A fully connected network ``sizes[0] → sizes[1] → … → sizes[-1]``.

    Args:
        sizes: layer widths, at least two positive ints (input and output).
        activation: of the hidden layers: a name (:func:`initlab.activations.names`), an
            ``Activation``, an ``nn.Module`` (class or instance) or an elementwise callable.
        init: scheme for :func:`initlab.initialize` (default ``"auto"``); ``None`` keeps PyTorch's
            default init (drawn from the global RNG, not ``generator``).
        bias: whether Linear layers have biases.
        bias_init, bias_std: passed to :func:`initlab.initialize`.
        dropout: *drop* probability (PyTorch's p; Srivastava et al. write the keep probability):
            a float for the hidden layers, or ``(input, hidden)``.
        dropout_mode: ``"inverted"`` (``nn.Dropout``: scale by 1/(1-p) in training) or ``"classic"``
            (:class:`ClassicDropout`: no scaling in training, × (1-p) at test; seed 004).
        norm: ``None``, ``"batch"`` (``BatchNorm1d``) or ``"layer"`` (``LayerNorm``) on hidden layers.
        norm_position: ``"before_activation"`` (Ioffe & Szegedy; seed 004) or ``"after_activation"``.
        out_activation: activation after ``fc_out`` (``act_out``), or ``None``.
        generator: random draws of the initialization.
        **init_options: scheme options for :func:`initlab.initialize` (e.g. ``std=0.01`` for
            ``init="normal"``).

    Returns:
        ``nn.Sequential`` with children named as in the module docstring.

    >>> m = mlp([784, 256, 10], "tanh", generator=torch.Generator().manual_seed(0))
    >>> m
    Sequential(
      (fc1): Linear(in_features=784, out_features=256, bias=True)
      (act1): Tanh()
      (fc_out): Linear(in_features=256, out_features=10, bias=True)
    )
    """
    if isinstance(sizes, (str, bytes)) or not isinstance(sizes, Sequence) or len(sizes) < 2:
        raise ValueError(f"sizes must be a list of at least two layer widths (input, ..., output), got {sizes!r}")
    for s in sizes:
        if not (isinstance(s, int) and not isinstance(s, bool) and s >= 1):
            raise ValueError(f"sizes must hold positive ints, got {s!r} in sizes={list(sizes)!r}")
    make_act, make_out, p_in, p_hidden = _common_options(activation, out_activation, dropout, dropout_mode,
                                                         norm, norm_position)

    layers: OrderedDict[str, nn.Module] = OrderedDict()
    if p_in > 0:
        layers["drop_in"] = _dropout_module(p_in, dropout_mode)
    for i in range(1, len(sizes) - 1):
        width = sizes[i]
        nm = None if norm is None else (nn.BatchNorm1d(width) if norm == "batch" else nn.LayerNorm(width))
        extra = [(f"drop{i}", _dropout_module(p_hidden, dropout_mode))] if p_hidden > 0 else []
        _block(layers, i, nn.Linear(sizes[i - 1], width, bias=bias), nm, "bn" if norm == "batch" else "ln",
               make_act(), norm_position, extra)
    layers["fc_out"] = nn.Linear(sizes[-2], sizes[-1], bias=bias)
    if make_out is not None:
        layers["act_out"] = make_out()
    return _finish(nn.Sequential(layers), init, bias_init, bias_std, generator, init_options)


def cnn(in_channels: int, channels: Sequence[int], activation: Any, *, dims: Literal[1, 2, 3] = 2,
        kernel_size: int = 3, stride: int = 1, input_size: int | Sequence[int] | None = None,
        num_classes: int | None = None, pool: Literal["max", "avg"] | None = "max",
        init: str | None = "auto", bias: bool = True, bias_init: str | float = "zeros",
        bias_std: float | None = None, dropout: float | tuple[float, float] = 0.0,
        dropout_mode: Literal["inverted", "classic"] = "inverted",
        norm: Literal["batch", "layer"] | None = None,
        norm_position: Literal["before_activation", "after_activation"] = "before_activation",
        out_activation: Any = None, generator: torch.Generator | None = None,
        **init_options: Any) -> nn.Sequential:
    """A conv stack for 1-D (``dims=1``, input ``(N, C, L)``) or 2-D (``dims=2``, ``(N, C, H, W)``) inputs.

    Each block: ``Conv{dims}d(kernel_size, stride, padding=kernel_size // 2)`` ("same" size at
    stride 1), optional norm (``"batch"``: ``BatchNorm{dims}d``, per channel as in seed 004;
    ``"layer"``: ``GroupNorm(1, C)``, over channels and positions), activation, a 2× pooling
    (``pool="max"``/``"avg"``, or ``None``) and dropout.

    With ``num_classes``: a head ``flatten`` → ``fc_out`` (``Linear``). If ``input_size`` (spatial
    size, int or tuple) is given, ``fc_out`` sees the whole final feature map; otherwise a global
    average pool ``gap`` comes first. Without ``num_classes`` the model returns the feature map.

    Other arguments as in :func:`mlp`.

    >>> m = cnn(1, [8, 16], "relu", dims=1, input_size=32, num_classes=10,
    ...         generator=torch.Generator().manual_seed(0))
    >>> m(torch.randn(2, 1, 32)).shape, m.fc_out.in_features
    (torch.Size([2, 10]), 128)
    """
    def pos_int(name: str, v: Any) -> int:
        if not (isinstance(v, int) and not isinstance(v, bool) and v >= 1):
            raise ValueError(f"{name} must be a positive int, got {v!r}")
        return v

    pos_int("in_channels", in_channels)
    if isinstance(channels, (str, bytes)) or not isinstance(channels, Sequence) or len(channels) < 1:
        raise ValueError(f"channels must be a non-empty list of positive ints, got {channels!r}")
    for c in channels:
        pos_int("channels", c)
    _choice("dims", dims, (1, 2, 3))
    pos_int("kernel_size", kernel_size)
    pos_int("stride", stride)
    if num_classes is not None:
        pos_int("num_classes", num_classes)
    _choice("pool", pool, _POOLS)
    make_act, make_out, p_in, p_hidden = _common_options(activation, out_activation, dropout, dropout_mode,
                                                         norm, norm_position)
    size: list[int] | None = None
    if input_size is not None:
        size = [input_size] * dims if isinstance(input_size, int) else list(input_size)
        if len(size) != dims or not all(isinstance(s, int) and s >= 1 for s in size):
            raise ValueError(f"input_size must be a positive int or {dims} positive ints, got {input_size!r}")

    conv = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}[dims]
    bn = {1: nn.BatchNorm1d, 2: nn.BatchNorm2d, 3: nn.BatchNorm3d}[dims]
    pools = {"max": {1: nn.MaxPool1d, 2: nn.MaxPool2d, 3: nn.MaxPool3d},
             "avg": {1: nn.AvgPool1d, 2: nn.AvgPool2d, 3: nn.AvgPool3d}}
    pad = kernel_size // 2
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    if p_in > 0:
        layers["drop_in"] = _dropout_module(p_in, dropout_mode)
    c_prev = in_channels
    for i, c in enumerate(channels, start=1):
        nm = None if norm is None else (bn(c) if norm == "batch" else nn.GroupNorm(1, c))
        extra: list[tuple[str, nn.Module]] = []
        if size is not None:
            size = [(s + 2 * pad - kernel_size) // stride + 1 for s in size]
        if pool is not None:
            extra.append((f"pool{i}", pools[pool][dims](2)))
            if size is not None:
                size = [s // 2 for s in size]
        if size is not None and min(size) < 1:
            raise ValueError(f"input_size={input_size!r} is too small for {len(channels)} blocks "
                             f"(kernel_size={kernel_size}, stride={stride}, pool={pool!r}): it shrinks to 0 "
                             f"at block {i}")
        if p_hidden > 0:
            extra.append((f"drop{i}", _dropout_module(p_hidden, dropout_mode)))
        _block(layers, i, conv(c_prev, c, kernel_size, stride=stride, padding=pad, bias=bias), nm,
               "bn" if norm == "batch" else "ln", make_act(), norm_position, extra)
        c_prev = c
    if num_classes is not None:
        if size is None:
            layers["gap"] = {1: nn.AdaptiveAvgPool1d, 2: nn.AdaptiveAvgPool2d, 3: nn.AdaptiveAvgPool3d}[dims](1)
            features = c_prev
        else:
            features = c_prev * math.prod(size)
        layers["flatten"] = nn.Flatten()
        layers["fc_out"] = nn.Linear(features, num_classes, bias=bias)
        if make_out is not None:
            layers["act_out"] = make_out()
    elif make_out is not None:
        raise ValueError("out_activation needs num_classes (a fc_out layer to follow), got num_classes=None")
    return _finish(nn.Sequential(layers), init, bias_init, bias_std, generator, init_options)
