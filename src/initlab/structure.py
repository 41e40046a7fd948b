"""A model's structure as initlab sees it: which modules are linear, conv, norm, dropout or pass-through
layers, their fans, and the activation that follows each Linear/Conv layer.

One home for what :func:`initlab.initialize` (a layer's gain comes from the activation after it) and the
probes (a layer's records name that activation) both need. The activation after a layer is found in
``nn.Sequential`` order; other models are traced with ``torch.fx``; if tracing fails, registration
order is used as a guess (reported as "assumed"). Norm, dropout, pooling and reshape layers are looked
through.

>>> import torch.nn as nn
>>> model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Tanh(), nn.Linear(8, 2))
>>> {k: (a.name if a else None) for k, a in following_activations(model).items()}
{'0': 'tanh', '3': None}
>>> layer_kind(model[1]), fans(model[0].weight)
(('norm', True), (4, 8))
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import activations as acts
from .activations import Activation
from .init import fans as _weight_fans

__all__ = ["CONV_LAYERS", "WEIGHT_LAYERS", "NORMS_LAST", "NORMS_CHANNEL", "NORM_LAYERS", "DROPOUT_LAYERS",
           "PASS_MODULES", "is_norm", "is_dropout", "is_pass_module", "layer_kind", "fans", "weight_layers",
           "Follow", "follow", "following_activations"]

# torch's private base classes are named here and nowhere else in initlab
CONV_LAYERS: tuple[type, ...] = (nn.modules.conv._ConvNd,)  # Conv1d/2d/3d and the transposed ones
WEIGHT_LAYERS: tuple[type, ...] = (nn.Linear, *CONV_LAYERS)
# feature-last norms (units = last dim) and channel-first ones (units = dim 1)
NORMS_LAST: tuple[type, ...] = (nn.LayerNorm,) + ((nn.RMSNorm,) if hasattr(nn, "RMSNorm") else ())
NORMS_CHANNEL: tuple[type, ...] = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LocalResponseNorm)
NORM_LAYERS: tuple[type, ...] = NORMS_LAST + NORMS_CHANNEL
DROPOUT_LAYERS: tuple[type, ...] = (nn.modules.dropout._DropoutNd,)
# modules the activation search looks through: norms, dropout, pooling, reshapes
PASS_MODULES: tuple[type, ...] = NORM_LAYERS + DROPOUT_LAYERS + (
    nn.modules.pooling._MaxPoolNd, nn.modules.pooling._AvgPoolNd, nn.modules.pooling._AdaptiveAvgPoolNd,
    nn.modules.pooling._AdaptiveMaxPoolNd, nn.Flatten, nn.Unflatten, nn.Identity)
_PASS_FUNCTIONS = {torch.flatten, torch.reshape, F.dropout, F.alpha_dropout, F.dropout1d,
                   F.dropout2d, F.dropout3d, F.max_pool1d, F.max_pool2d, F.max_pool3d, F.avg_pool1d,
                   F.avg_pool2d, F.avg_pool3d, F.adaptive_avg_pool1d, F.adaptive_avg_pool2d,
                   F.adaptive_avg_pool3d, F.adaptive_max_pool1d, F.adaptive_max_pool2d,
                   F.batch_norm, F.layer_norm, F.group_norm, F.instance_norm}
_PASS_METHODS = {"view", "reshape", "flatten", "contiguous", "squeeze", "unsqueeze"}


def is_norm(m: nn.Module) -> bool:
    """BatchNorm/InstanceNorm (any dims), LayerNorm, GroupNorm, LocalResponseNorm, RMSNorm."""
    return isinstance(m, NORM_LAYERS)


def is_dropout(m: nn.Module) -> bool:
    """Any ``nn.Dropout*`` (also subclasses, e.g. :class:`initlab.models.ClassicDropout`)."""
    return isinstance(m, DROPOUT_LAYERS)


def is_pass_module(m: nn.Module) -> bool:
    """A module the activation search looks through (norm, dropout, pooling, reshape, identity)."""
    return isinstance(m, PASS_MODULES)


def layer_kind(m: nn.Module) -> tuple[str, bool] | None:
    """``(kind, channels_first)`` of a weight/norm/embedding module: kind ``"linear"``, ``"conv"``,
    ``"norm"`` or ``"embedding"``; ``channels_first`` says whether units sit on dim 1 (conv, BatchNorm)
    rather than the last dim. None for anything else (activations included)."""
    if isinstance(m, nn.Linear):
        return "linear", False
    if isinstance(m, CONV_LAYERS):
        return "conv", True
    if isinstance(m, NORMS_LAST):
        return "norm", False
    if isinstance(m, NORMS_CHANNEL):
        return "norm", True
    if isinstance(m, nn.Embedding):
        return "embedding", False
    return None


def fans(w: Tensor | None) -> tuple[int | None, int | None]:
    """``(fan_in, fan_out)`` of a weight as PyTorch computes them (:func:`initlab.init.fans`);
    ``(None, None)`` for a missing or 1-d parameter."""
    if w is None or w.dim() < 2:
        return None, None
    return _weight_fans(w)


def weight_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """``(name, module)`` of every Linear/Conv layer with an initialized weight parameter."""
    return [(n or type(m).__name__, m) for n, m in model.named_modules()
            if isinstance(m, WEIGHT_LAYERS) and isinstance(getattr(m, "weight", None), nn.Parameter)
            and not isinstance(m.weight, nn.parameter.UninitializedParameter)]


@dataclass
class Follow:
    """The activation after a layer: ``activation`` (None: nothing follows, e.g. the output layer),
    ``source`` ("detected" or "assumed") and a ``note`` on how it was found."""

    activation: Activation | None
    source: str
    note: str = ""


class _Tracer(torch.fx.Tracer):
    """Keeps Linear/Conv, activations (also initlab's own modules) and pass-through layers as leaves."""

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        if isinstance(m, WEIGHT_LAYERS) or is_pass_module(m) or acts.from_module(m) is not None:
            return True
        return super().is_leaf_module(m, qualname)


def _call_activation(node: torch.fx.Node) -> Activation | None:
    kwargs = dict(node.kwargs)
    # positional slope/alpha/beta: F.leaky_relu(x, 0.2), F.elu(x, 1.5), F.softplus(x, 2)
    extra = {F.leaky_relu: "negative_slope", F.elu: "alpha", F.softplus: "beta"}
    try:
        key = extra.get(node.target)  # type: ignore[call-overload]
    except TypeError:
        key = None
    if key and len(node.args) > 1 and key not in kwargs:
        kwargs[key] = node.args[1]
    try:
        return acts.from_function(node.target, kwargs)
    except ValueError:
        return None


def _describe(node: torch.fx.Node) -> str:
    t = node.target
    return getattr(t, "__name__", str(t))


def _next_after(model: nn.Module, u: torch.fx.Node) -> Follow | None:
    """What node ``u`` (the single user of a layer's output chain) says about the activation; None to
    keep walking (a pass-through)."""
    if u.op == "call_module":
        m = model.get_submodule(u.target)
        if is_pass_module(m):
            return None
        if isinstance(m, WEIGHT_LAYERS):
            return Follow(None, "detected", f"followed directly by {type(m).__name__}")
        a = acts.from_module(m)
        return Follow(a, "detected") if a else Follow(None, "assumed", f"followed by {type(m).__name__}")
    if (u.op == "call_method" and u.target in _PASS_METHODS) or \
            (u.op == "call_function" and u.target in _PASS_FUNCTIONS):
        return None
    a = _call_activation(u) if u.op in ("call_function", "call_method") else None
    return Follow(a, "detected") if a else Follow(None, "assumed", f"followed by {_describe(u)}")


def _follow_fx(model: nn.Module, names: set[str]) -> dict[str, Follow]:
    graph = _Tracer().trace(model)
    out: dict[str, Follow] = {}
    for node in graph.nodes:
        if node.op != "call_module" or node.target not in names or node.target in out:
            continue
        cur, result = node, None
        for _ in range(100):
            users = list(cur.users)
            if len(users) != 1:
                result = Follow(None, "assumed", f"its output goes to {len(users)} places")
                break
            u = users[0]
            if u.op == "output":
                result = Follow(None, "detected")
                break
            if u.args[:1] != (cur,):  # used as a non-first argument (x + y, cat, ...)
                result = Follow(None, "assumed", f"followed by {_describe(u)}")
                break
            result = _next_after(model, u)
            if result is not None:
                break
            cur = u
        out[node.target] = result or Follow(None, "assumed", "chain too long")
    return out


def _follow_order(model: nn.Module, layers: list[tuple[str, nn.Module]], exact: bool, why: str
                  ) -> dict[str, Follow]:
    """Activation = next activation module in registration order, looking through pass layers."""
    leaves = [(n, m) for n, m in model.named_modules() if not any(True for _ in m.children())]
    index = {id(m): i for i, (_, m) in enumerate(leaves)}
    out = {}
    source = "detected" if exact else "assumed"
    note = "" if exact else f"guessed from module registration order ({why})"
    for name, layer in layers:
        res = None
        for _, m in leaves[index.get(id(layer), len(leaves)) + 1:]:
            if isinstance(m, WEIGHT_LAYERS):  # nothing nonlinear in between (exactly so in a Sequential)
                res = Follow(None, "detected", f"followed directly by {type(m).__name__}") if exact \
                    else Follow(None, "assumed", "no activation module before the next layer")
                break
            if is_pass_module(m):
                continue
            a = acts.from_module(m)
            res = Follow(a, source, note) if a else Follow(None, "assumed", f"followed by {type(m).__name__}")
            break
        out[name] = res or Follow(None, source, note)
    return out


def _all_sequential(model: nn.Module) -> bool:
    return all(isinstance(m, nn.Sequential) for m in model.modules() if any(True for _ in m.children()))


def follow(model: nn.Module, layers: list[tuple[str, nn.Module]]) -> dict[str, Follow]:
    """``{name: Follow}`` for each ``(name, layer)`` of ``layers`` (Sequential order, torch.fx, or a
    registration-order guess when tracing fails)."""
    if _all_sequential(model):
        return _follow_order(model, layers, exact=True, why="")
    try:
        found = _follow_fx(model, {n for n, _ in layers})
        missing = [n for n, _ in layers if n not in found]
        if missing:  # layers never called in forward
            found.update({n: Follow(None, "assumed", "not called in forward") for n in missing})
        return found
    except Exception as exc:  # noqa: BLE001 - fx fails on data-dependent control flow and more
        return _follow_order(model, layers, exact=False,
                             why=f"torch.fx could not trace: {type(exc).__name__}")


def following_activations(model: nn.Module) -> dict[str, Activation | None]:
    """``{layer name: the activation that follows it}`` for every Linear/Conv of ``model`` whose
    activation was *detected* (``None``: detected that none follows, e.g. the output layer).
    Layers where detection could only guess are left out. The probes use this to label layers whose
    activation is a function call (``F.relu``) rather than a module."""
    layers = [(n, m) for n, m in model.named_modules() if isinstance(m, WEIGHT_LAYERS)]
    if not layers:
        return {}
    return {n: f.activation for n, f in follow(model, layers).items() if f.source == "detected"}
