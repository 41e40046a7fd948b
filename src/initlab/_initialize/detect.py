"""The activation that follows each Linear/Conv layer (its gain sets the layer's scale).

Modules of an ``nn.Sequential`` are taken in order; other models are traced with ``torch.fx``; if
tracing fails, registration order is used as a guess (reported as "assumed"). Norm, dropout,
pooling and reshape layers are looked through.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .. import activations as _acts
from ..activations import Activation
from .layers import _NORMS, _WEIGHT_LAYERS

# modules the activation search looks through: norms, dropout, pooling, reshapes
_PASS_MODULES: tuple[type, ...] = _NORMS + (
    nn.modules.dropout._DropoutNd, nn.modules.pooling._MaxPoolNd, nn.modules.pooling._AvgPoolNd,
    nn.modules.pooling._AdaptiveAvgPoolNd, nn.modules.pooling._AdaptiveMaxPoolNd, nn.Flatten,
    nn.Unflatten, nn.Identity)
_PASS_FUNCTIONS = {torch.flatten, torch.reshape, F.dropout, F.alpha_dropout, F.dropout1d,
                   F.dropout2d, F.dropout3d, F.max_pool1d, F.max_pool2d, F.max_pool3d, F.avg_pool1d,
                   F.avg_pool2d, F.avg_pool3d, F.adaptive_avg_pool1d, F.adaptive_avg_pool2d,
                   F.adaptive_avg_pool3d, F.adaptive_max_pool1d, F.adaptive_max_pool2d,
                   F.batch_norm, F.layer_norm, F.group_norm, F.instance_norm}
_PASS_METHODS = {"view", "reshape", "flatten", "contiguous", "squeeze", "unsqueeze"}


@dataclass
class _Follow:
    activation: Activation | None  # None: nothing follows (output)
    source: str  # "detected" | "assumed"
    note: str = ""


def _is_pass_module(m: nn.Module) -> bool:
    return isinstance(m, _PASS_MODULES)


class _Tracer(torch.fx.Tracer):
    """Keeps Linear/Conv, activations (also initlab's own modules) and pass-through layers as leaves."""

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        if isinstance(m, _WEIGHT_LAYERS) or _is_pass_module(m) or _acts.from_module(m) is not None:
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
        return _acts.from_function(node.target, kwargs)
    except ValueError:
        return None


def _describe(node: torch.fx.Node) -> str:
    t = node.target
    return getattr(t, "__name__", str(t))


def _follow_fx(model: nn.Module, names: set[str]) -> dict[str, _Follow]:
    graph = _Tracer().trace(model)
    out: dict[str, _Follow] = {}
    for node in graph.nodes:
        if node.op != "call_module" or node.target not in names or node.target in out:
            continue
        cur, result = node, None
        for _ in range(100):
            users = list(cur.users)
            if len(users) != 1:
                result = _Follow(None, "assumed", f"its output goes to {len(users)} places")
                break
            u = users[0]
            if u.op == "output":
                result = _Follow(None, "detected")
                break
            if u.args[:1] != (cur,):  # used as a non-first argument (x + y, cat, ...)
                result = _Follow(None, "assumed", f"followed by {_describe(u)}")
                break
            if u.op == "call_module":
                m = model.get_submodule(u.target)
                if _is_pass_module(m):
                    cur = u
                    continue
                if isinstance(m, _WEIGHT_LAYERS):
                    result = _Follow(None, "detected", f"followed directly by {type(m).__name__}")
                    break
                a = _acts.from_module(m)
                result = _Follow(a, "detected") if a else _Follow(None, "assumed",
                                                                   f"followed by {type(m).__name__}")
                break
            if u.op == "call_method" and u.target in _PASS_METHODS:
                cur = u
                continue
            if u.op == "call_function" and u.target in _PASS_FUNCTIONS:
                cur = u
                continue
            a = _call_activation(u) if u.op in ("call_function", "call_method") else None
            result = _Follow(a, "detected") if a else _Follow(None, "assumed", f"followed by {_describe(u)}")
            break
        out[node.target] = result or _Follow(None, "assumed", "chain too long")
    return out


def _follow_order(model: nn.Module, layers: list[tuple[str, nn.Module]], exact: bool, why: str
                  ) -> dict[str, _Follow]:
    """Activation = next activation module in registration order, looking through pass layers."""
    leaves = [(n, m) for n, m in model.named_modules() if not any(True for _ in m.children())]
    index = {id(m): i for i, (_, m) in enumerate(leaves)}
    out = {}
    source = "detected" if exact else "assumed"
    note = "" if exact else f"guessed from module registration order ({why})"
    for name, layer in layers:
        res = None
        for _, m in leaves[index.get(id(layer), len(leaves)) + 1:]:
            if isinstance(m, _WEIGHT_LAYERS):  # nothing nonlinear in between (exactly so in a Sequential)
                res = _Follow(None, "detected", f"followed directly by {type(m).__name__}") if exact \
                    else _Follow(None, "assumed", "no activation module before the next layer")
                break
            if _is_pass_module(m):
                continue
            a = _acts.from_module(m)
            res = _Follow(a, source, note) if a else _Follow(None, "assumed", f"followed by {type(m).__name__}")
            break
        out[name] = res or _Follow(None, source, note)
    return out


def _all_sequential(model: nn.Module) -> bool:
    return all(isinstance(m, nn.Sequential) for m in model.modules() if any(True for _ in m.children()))


def _follow(model: nn.Module, layers: list[tuple[str, nn.Module]]) -> dict[str, _Follow]:
    if _all_sequential(model):
        return _follow_order(model, layers, exact=True, why="")
    try:
        found = _follow_fx(model, {n for n, _ in layers})
        missing = [n for n, _ in layers if n not in found]
        if missing:  # layers never called in forward
            found.update({n: _Follow(None, "assumed", "not called in forward") for n in missing})
        return found
    except Exception as exc:  # noqa: BLE001 - fx fails on data-dependent control flow and more
        return _follow_order(model, layers, exact=False,
                             why=f"torch.fx could not trace: {type(exc).__name__}")


def following_activations(model: nn.Module) -> dict[str, Activation | None]:
    """``{layer name: the activation that follows it}`` for every Linear/Conv of ``model`` whose
    activation was *detected* (``None``: detected that none follows, e.g. the output layer).
    Layers where detection could only guess are left out. The probes use this to label layers whose
    activation is a function call (``F.relu``) rather than a module."""
    layers = [(n, m) for n, m in model.named_modules() if isinstance(m, _WEIGHT_LAYERS)]
    if not layers:
        return {}
    return {n: f.activation for n, f in _follow(model, layers).items() if f.source == "detected"}
