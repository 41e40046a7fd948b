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

import sys
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import activations as acts
from .activations import Activation
from .init import fans as _weight_fans

__all__ = ["CONV_LAYERS", "WEIGHT_LAYERS", "NORMS_LAST", "NORMS_CHANNEL", "NORM_LAYERS", "DROPOUT_LAYERS",
           "PASS_MODULES", "is_norm", "is_dropout", "is_pass_module", "layer_kind", "fans", "weight_layers",
           "Follow", "follow", "following_activations", "hf_conv1d", "is_weight_layer", "layer_fans",
           "weight_view", "attention_projections", "tied_parameters", "residual_blocks", "block_width", "residual_outputs",
           "output_layer", "call"]

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


def hf_conv1d() -> type | None:
    """Hugging Face's ``Conv1D`` class (GPT-2's linear layer: y = x·W + b, W stored as (in, out)), or
    None when ``transformers`` was never imported (then no model can hold one)."""
    mod = sys.modules.get("transformers.pytorch_utils")
    return getattr(mod, "Conv1D", None)


def is_weight_layer(m: nn.Module) -> bool:
    """Linear, Conv (any dims, transposed) or Hugging Face ``Conv1D``."""
    if isinstance(m, WEIGHT_LAYERS):
        return True
    c = hf_conv1d()
    return c is not None and isinstance(m, c)


def layer_kind(m: nn.Module) -> tuple[str, bool] | None:
    """``(kind, channels_first)`` of a weight/norm/embedding module: kind ``"linear"``, ``"conv"``,
    ``"norm"`` or ``"embedding"``; ``channels_first`` says whether units sit on dim 1 (conv, BatchNorm)
    rather than the last dim. None for anything else (activations included). Hugging Face ``Conv1D``
    is ``"linear"`` (despite its name it is a dense layer on the last dim)."""
    if isinstance(m, nn.Linear) or (not isinstance(m, CONV_LAYERS) and is_weight_layer(m)):
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


def weight_view(m: nn.Module) -> Tensor:
    """The weight in torch's (out, in, *kernel) layout: ``m.weight`` itself, or for Hugging Face
    ``Conv1D`` (stored (in, out)) its transpose, a view: in-place draws on it set the parameter.

    >>> weight_view(nn.Linear(3, 5)).shape
    torch.Size([5, 3])
    """
    w = m.weight
    c = hf_conv1d()
    return w.t() if c is not None and isinstance(m, c) else w


def layer_fans(m: nn.Module) -> tuple[int | None, int | None]:
    """``(fan_in, fan_out)`` of a layer's weight in torch's layout (:func:`weight_view`): a
    ``Conv1D(nf=out, nx=in)`` has fan_in = in = weight.shape[0]."""
    w = getattr(m, "weight", None)
    return fans(weight_view(m) if isinstance(w, Tensor) else None)


def weight_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """``(name, module)`` of every Linear/Conv/``Conv1D`` layer with an initialized weight parameter."""
    return [(n or type(m).__name__, m) for n, m in model.named_modules()
            if is_weight_layer(m) and isinstance(getattr(m, "weight", None), nn.Parameter)
            and not isinstance(m.weight, nn.parameter.UninitializedParameter)]


@dataclass
class Follow:
    """The activation after a layer: ``activation`` (None: nothing follows, e.g. the output layer),
    ``source`` ("detected" or "assumed") and a ``note`` on how it was found."""

    activation: Activation | None
    source: str
    note: str = ""
    output: bool = False  # the layer's output is the model's output (nothing follows: gain 1)


class _Tracer(torch.fx.Tracer):
    """Keeps Linear/Conv, activations (also initlab's own modules) and pass-through layers as leaves."""

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        if is_weight_layer(m) or is_pass_module(m) or acts.from_module(m) is not None:
            return True
        return super().is_leaf_module(m, qualname)


def _call_activation(node: torch.fx.Node) -> Activation | None:
    kwargs = dict(node.kwargs)
    # positional parameters: F.leaky_relu(x, 0.2), F.elu(x, 1.5), F.softplus(x, 2), F.hardtanh(x, -2, 2),
    # F.rrelu(x, 0.1, 0.3)
    extra = {F.leaky_relu: ("negative_slope",), F.elu: ("alpha",), F.softplus: ("beta",),
             F.hardtanh: ("min_val", "max_val"), F.rrelu: ("lower", "upper")}
    try:
        keys = extra.get(node.target, ())  # type: ignore[call-overload]
    except TypeError:
        keys = ()
    for key, value in zip(keys, node.args[1:]):
        kwargs.setdefault(key, value)
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
        if is_weight_layer(m):
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
                result = Follow(None, "detected", "the model's output", output=True)
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
            if is_weight_layer(m):  # nothing nonlinear in between (exactly so in a Sequential)
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
        found = _follow_order(model, layers, exact=False,
                              why=f"torch.fx could not trace: {type(exc).__name__}")
        out_name, how = output_layer(model)
        if out_name in found:
            found[out_name] = Follow(None, "detected", f"the model's output layer ({how})", output=True)
        return found


def following_activations(model: nn.Module) -> dict[str, Activation | None]:
    """``{layer name: the activation that follows it}`` for every Linear/Conv of ``model`` whose
    activation was *detected* (``None``: detected that none follows, e.g. the output layer).
    Layers where detection could only guess are left out. The probes use this to label layers whose
    activation is a function call (``F.relu``) rather than a module."""
    layers = [(n, m) for n, m in model.named_modules() if is_weight_layer(m)]
    if not layers:
        return {}
    return {n: f.activation for n, f in follow(model, layers).items() if f.source == "detected"}


# --------------------------------------------------------------------------------------------------
# transformers: attention projections, tied parameters, repeated (residual) blocks, the output layer
def attention_projections(m: nn.Module) -> list[tuple[str, str, Tensor]]:
    """``(label, parameter name, weight view)`` of the q, k, v projections of an
    ``nn.MultiheadAttention``: its packed ``in_proj_weight`` (3d, d) sliced into three (d, d) views
    (in-place draws on a view set the parameter), or its separate ``q/k/v_proj_weight``. The output
    projection is the ``out_proj`` Linear child. Empty for any other module.

    >>> [(lab, tuple(w.shape)) for lab, _, w in attention_projections(nn.MultiheadAttention(8, 2))]
    [('q', (8, 8)), ('k', (8, 8)), ('v', (8, 8))]
    """
    if not isinstance(m, nn.MultiheadAttention):
        return []
    if m.in_proj_weight is not None:
        d = m.embed_dim
        return [(lab, "in_proj_weight", m.in_proj_weight[i * d:(i + 1) * d]) for i, lab in enumerate("qkv")]
    return [(lab, f"{lab}_proj_weight", getattr(m, f"{lab}_proj_weight")) for lab in "qkv"]


def tied_parameters(model: nn.Module) -> list[list[str]]:
    """Groups of names that share one parameter (GPT-2's ``lm_head.weight`` is ``transformer.wte.weight``),
    owner first (the first name in registration order).

    >>> m = nn.ModuleDict({"emb": nn.Embedding(10, 4), "head": nn.Linear(4, 10, bias=False)})
    >>> m["head"].weight = m["emb"].weight
    >>> tied_parameters(m)
    [['emb.weight', 'head.weight']]
    """
    groups: dict[int, list[str]] = {}
    for name, p in model.named_parameters(remove_duplicate=False):
        groups.setdefault(id(p), []).append(name)
    return [g for g in groups.values() if len(g) > 1]


def residual_blocks(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """``(name, block)`` of the repeated blocks of a model, in registration order: the children of an
    ``nn.ModuleList``/``nn.Sequential`` with at least two children, all of one class, that hold weight
    layers (GPT-2's ``transformer.h.*``, BERT's ``encoder.layer.*``, ``TransformerEncoder.layers.*``).

    >>> enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(16, 2, 32), 3, enable_nested_tensor=False)
    >>> [n for n, _ in residual_blocks(enc)]
    ['layers.0', 'layers.1', 'layers.2']
    """
    out: list[tuple[str, nn.Module]] = []
    for name, c in model.named_modules():
        if not isinstance(c, (nn.ModuleList, nn.Sequential)):
            continue
        kids = list(c.named_children())
        if len(kids) < 2 or len({type(k) for _, k in kids}) != 1:
            continue
        k0 = kids[0][1]
        if is_weight_layer(k0) or not any(is_weight_layer(x) or isinstance(x, nn.MultiheadAttention)
                                          for x in k0.modules()):
            continue
        if any(name.startswith(n + ".") for n, _ in out):  # nested repeats: the outer blocks only
            continue
        out += [(f"{name}.{k}" if name else k, b) for k, b in kids]
    return out


def block_width(block: nn.Module) -> int | None:
    """The stream width d of a block: fan_in of its first weight layer (or attention projection)."""
    for m in block.modules():
        if isinstance(m, nn.MultiheadAttention):
            return m.embed_dim
        if is_weight_layer(m):
            return layer_fans(m)[0]
    return None


def residual_outputs(model: nn.Module) -> dict[str, list[str]]:
    """``{block name: [names of the layers whose output is added to the residual stream]}``.

    Found by structure, not by tracing: in each repeated block (:func:`residual_blocks`), each direct
    child holding weight layers is a branch (attention, MLP), and its *last* weight layer in
    registration order whose output width is the stream width d (the fan_in of the block's first layer)
    is the branch's output projection (GPT-2's ``attn.c_proj``/``mlp.c_proj``, BERT's
    ``attention.output.dense``/``output.dense``, ``TransformerEncoderLayer``'s ``self_attn.out_proj``,
    ``linear2``). A layer that is itself a direct child of the block is its own branch.
    """
    out: dict[str, list[str]] = {}
    for bname, block in residual_blocks(model):
        d = block_width(block)
        names: list[str] = []
        kids = list(block.named_children())
        for cname, child in kids:
            cands = [(n, m) for n, m in child.named_modules() if is_weight_layer(m) and layer_fans(m)[1] == d]
            if not cands:
                continue
            if is_weight_layer(child):
                # a layer directly in the block: the branch output only if no later sibling layer is
                later = [k for k, m in kids[kids.index((cname, child)) + 1:] if is_weight_layer(m)]
                if later:
                    continue
            n = cands[-1][0]
            names.append(f"{bname}.{cname}" + (f".{n}" if n else ""))
        out[bname] = names
    return out


def output_layer(model: nn.Module) -> tuple[str | None, str]:
    """``(name, how)`` of the layer whose output is the model's output, where structure tells:
    Hugging Face's ``get_output_embeddings()`` (the LM head), else the last registered module with
    parameters when it is a weight layer (nothing with parameters registered after it)."""
    names = {id(m): n for n, m in model.named_modules()}
    get = getattr(model, "get_output_embeddings", None)
    if callable(get):
        try:
            head = get()
        except Exception:  # noqa: BLE001 - a model may define it and not support it
            head = None
        if isinstance(head, nn.Module) and id(head) in names and is_weight_layer(head):
            return names[id(head)], "Hugging Face get_output_embeddings()"
    last = None
    for n, m in model.named_modules():
        if any(True for _ in m.parameters(recurse=False)):
            last = (n, m)
    if last is not None and is_weight_layer(last[1]):
        return last[0], "the last module with parameters"
    return None, ""


def call(model: nn.Module, inputs: Any) -> Any:
    """``model(**inputs)`` for a mapping (a Hugging Face batch), ``model(*inputs)`` for a tuple/list,
    else ``model(inputs)``: how initlab calls a model on the inputs a user hands it."""
    if isinstance(inputs, Mapping):
        return model(**inputs)
    if isinstance(inputs, (tuple, list)):
        return model(*inputs)
    return model(inputs)
