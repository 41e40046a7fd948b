r"""Model-level initialization: apply a scheme to every Linear/Conv weight of any ``nn.Module``.

:func:`initialize` walks the model, finds the activation that follows each Linear/Conv layer (module
order in ``nn.Sequential``, ``torch.fx`` tracing otherwise, looking through norm/dropout/pooling
layers), draws its weights and biases, and returns an :class:`InitReport` that says, per layer, what
was done and why, and which parameters were left alone.

Schemes (:func:`schemes`; aliases in :func:`aliases`):

* the tensor-level initializers of :mod:`initlab.init` by name without ``_``: ``zeros``, ``constant``
  (option ``value``), ``normal`` (option ``std``, default 0.01), ``uniform_fan_in``,
  ``xavier_uniform``, ``xavier_normal``, ``he_uniform``, ``he_normal`` (options ``a``, ``mode``,
  ``nonlinearity``), ``lecun_normal``, ``orthogonal``, ``delta_orthogonal``;
* ``auto``: :math:`W \sim \mathcal N(0, g^2/\text{fan\_in})`, g = ``gain("forward")`` of the
  activation after the layer (√2 ReLU, ≈1.593 tanh, 1 SELU; 1 when nothing follows);
* ``lsuv``: layer-sequential unit variance (Mishkin & Matas 2016), needs ``data``;
* ``pretrained``: load a state_dict by name and shape (option ``checkpoint``).

>>> import torch, initlab as il
>>> model = il.models.mlp([20, 30, 30, 5], "tanh", init=None)
>>> report = il.initialize(model, "auto", generator=torch.Generator().manual_seed(0))
>>> [round(r.gain, 4) for r in report.layers]
[1.5925, 1.5925, 1.0]
"""
from __future__ import annotations

import inspect
import math
import os
import pickle
import sys
import types
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import activations as _acts
from . import init as _init
from .activations import Activation

__all__ = ["initialize", "InitReport", "LayerInit", "schemes", "aliases"]

# ---------------------------------------------------------------------------------------------------
# scheme names
_PLAIN = ("zeros", "constant", "normal", "uniform_fan_in", "xavier_uniform", "xavier_normal",
          "he_uniform", "he_normal", "lecun_normal", "orthogonal", "delta_orthogonal")
_SCHEMES = (*_PLAIN, "auto", "lsuv", "pretrained")
_ALIASES = {
    "he": "he_normal", "kaiming": "he_normal", "kaiming_normal": "he_normal",
    "kaiming_uniform": "he_uniform", "glorot": "xavier_uniform", "glorot_uniform": "xavier_uniform",
    "xavier": "xavier_uniform", "glorot_normal": "xavier_normal", "lecun": "lecun_normal",
    "zero": "zeros", "small_random": "normal", "uniform": "uniform_fan_in",
    "ortho": "orthogonal", "delta": "delta_orthogonal",
}
# options each scheme accepts (besides the keyword arguments of initialize)
_COMMON_OPTIONS = {"assume"}
_OPTIONS: dict[str, set[str]] = {
    "constant": {"value"}, "normal": {"std"},
    "he_uniform": {"a", "mode", "nonlinearity"}, "he_normal": {"a", "mode", "nonlinearity"},
    "lsuv": {"tol", "max_iter", "reinit"},
    "pretrained": {"checkpoint", "strip_prefix", "freeze", "fallback"},
}
_NO_GAIN = ("zeros", "constant", "normal", "uniform_fan_in", "auto", "pretrained")


def schemes() -> list[str]:
    """The canonical scheme names :func:`initialize` accepts (aliases: :func:`aliases`)."""
    return list(_SCHEMES)


def aliases() -> dict[str, str]:
    """Alias → canonical scheme name (``"he"``/``"kaiming"`` → ``"he_normal"``, ``"glorot"`` → …)."""
    return dict(_ALIASES)


def _canonical(scheme: str) -> str:
    if not isinstance(scheme, str):
        raise ValueError(f"scheme must be one of {list(_SCHEMES)} (or an alias {sorted(_ALIASES)}), "
                         f"got {scheme!r}")
    key = scheme.strip().lower().replace("-", "_")
    key = _ALIASES.get(key, key)
    if key not in _SCHEMES:
        raise ValueError(f"scheme must be one of {list(_SCHEMES)} (or an alias {sorted(_ALIASES)}), "
                         f"got {scheme!r}")
    return key


# ---------------------------------------------------------------------------------------------------
# the report
@dataclass
class LayerInit:
    """What :func:`initialize` did to one Linear/Conv layer."""

    name: str
    type: str
    fan_in: int
    fan_out: int
    scheme: str
    gain: float | None  # the scheme's gain (He: √(2/(1+a²)), auto: gain("forward"), ...); None if n/a
    activation: str  # name of the activation after the layer; "none" when nothing follows
    activation_source: str  # "detected" or "assumed"
    expected_std: float | None  # std of the distribution drawn from (None: loaded/kept)
    weight_std: float  # measured std of the weight after initialization
    bias: str  # how the bias was set ("zeros", "N(0, 0.1²)", "none" when the layer has none, …)
    activation_params: dict[str, float] = field(default_factory=dict)
    note: str = ""
    output_var: float | None = None  # LSUV: variance of the layer output on the data
    iterations: int | None = None  # LSUV: rescaling steps taken


@dataclass
class InitReport:
    """Per-layer record of :func:`initialize` plus the parameters it did not touch and why.

    ``report["fc1"]`` gives one :class:`LayerInit`; ``str(report)`` an aligned table;
    ``to_dict()`` plain data. For ``"pretrained"``: ``loaded`` (state_dict keys copied), ``skipped``
    ((key, reason): missing, shape mismatch, unexpected) and ``frozen``.
    """

    scheme: str
    layers: list[LayerInit]
    untouched: list[tuple[str, str]] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)
    loaded: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    frozen: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def __getitem__(self, name: str) -> LayerInit:
        for rec in self.layers:
            if rec.name == name:
                return rec
        raise KeyError(f"no Linear/Conv layer named {name!r}; layers: {[r.name for r in self.layers]}")

    def __iter__(self):
        return iter(self.layers)

    def __len__(self) -> int:
        return len(self.layers)

    @property
    def gains(self) -> dict[str, float | None]:
        """Layer name → gain."""
        return {r.name: r.gain for r in self.layers}

    def to_dict(self) -> dict[str, Any]:
        """Plain data (JSON-serializable except for option values the caller passed)."""
        opts = {k: (v if isinstance(v, (int, float, str, bool, type(None), list, tuple)) else repr(v))
                for k, v in self.options.items()}
        return {"scheme": self.scheme, "options": opts, "layers": [asdict(r) for r in self.layers],
                "untouched": [list(u) for u in self.untouched], "loaded": list(self.loaded),
                "skipped": [list(s) for s in self.skipped], "frozen": list(self.frozen),
                "notes": list(self.notes)}

    def __str__(self) -> str:
        def num(v: float | None, fmt: str = ".4g") -> str:
            return "-" if v is None else format(v, fmt)

        def act(r: LayerInit) -> str:
            p = ",".join(f"{k}={v:g}" for k, v in r.activation_params.items())
            return r.activation + (f"({p})" if p else "") + ("*" if r.activation_source == "assumed" else "")

        lsuv = any(r.output_var is not None for r in self.layers)
        head = ["layer", "type", "fan_in", "fan_out", "scheme", "activation", "gain", "std(expected)",
                "std(weight)", "bias"] + (["out var", "iters"] if lsuv else [])
        rows = [[r.name, r.type, str(r.fan_in), str(r.fan_out), r.scheme, act(r), num(r.gain),
                 num(r.expected_std), num(r.weight_std), r.bias]
                + ([num(r.output_var), num(r.iterations, "d")] if lsuv else []) for r in self.layers]
        widths = [max([len(h)] + [len(row[i]) for row in rows]) for i, h in enumerate(head)]
        lines = [f"InitReport(scheme={self.scheme!r})",
                 "  ".join(h.ljust(w) for h, w in zip(head, widths)).rstrip(),
                 "  ".join("-" * w for w in widths)]
        lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
        if any(r.activation_source == "assumed" for r in self.layers):
            lines.append("* activation not detected; assumed (see notes)")
        for r in self.layers:
            if r.note:
                lines.append(f"{r.name}: {r.note}")
        if self.loaded or self.skipped:
            lines.append(f"loaded ({len(self.loaded)}): {', '.join(self.loaded) or '-'}")
            lines += [f"skipped {k}: {why}" for k, why in self.skipped]
        if self.frozen:
            lines.append(f"frozen ({len(self.frozen)}): {', '.join(self.frozen)}")
        if self.untouched:
            lines.append("not touched:")
            lines += [f"  {k}: {why}" for k, why in self.untouched]
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------
# which layers, which activation follows each
_WEIGHT_LAYERS = (nn.Linear, nn.modules.conv._ConvNd)
_NORMS: tuple[type, ...] = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm,
                            nn.LocalResponseNorm) + ((nn.RMSNorm,) if hasattr(nn, "RMSNorm") else ())
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
_RELU_FAMILY = ("relu", "leaky_relu", "prelu", "rrelu", "noisy_relu")


@dataclass
class _Follow:
    activation: Activation | None  # None: nothing follows (output)
    source: str  # "detected" | "assumed"
    note: str = ""


def _weight_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    return [(n or type(m).__name__, m) for n, m in model.named_modules()
            if isinstance(m, _WEIGHT_LAYERS) and isinstance(getattr(m, "weight", None), nn.Parameter)
            and not isinstance(m.weight, nn.parameter.UninitializedParameter)]


def _is_pass_module(m: nn.Module) -> bool:
    return isinstance(m, _PASS_MODULES)


def _module_activation(m: nn.Module) -> Activation | None:
    if _is_pass_module(m):
        return None
    return _acts.from_module(m)


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


def _slope(a: Activation) -> float:
    """Negative slope of a ReLU-family activation: φ(-1) = -a."""
    return float(-a.numpy(np.array([-1.0]))[0])


# ---------------------------------------------------------------------------------------------------
# drawing
def _check_option(name: str, value: Any, ok: bool, valid: str) -> Any:
    if not ok:
        raise ValueError(f"{name} must be {valid}, got {value!r}")
    return value


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


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
        _init._with_generator(b, generator, lambda t, g: nn.init.uniform_(t, -bound, bound, generator=g))
        return "U(±1/√fan_in)"
    if _is_number(bias_init):
        _init.constant_(b, float(bias_init))
        return f"constant {float(bias_init):g}"
    raise ValueError(f"bias_init must be 'zeros', 'uniform_fan_in', 'keep' or a number, got {bias_init!r}")


def _draw(w: Tensor, scheme: str, follow: _Follow, gain: float | None, opts: dict,
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
        n = _init._fan(w, mode)
        act = follow.activation
        note = ""
        if "a" in opts:
            a = opts["a"]
        elif act is not None and act.name in _RELU_FAMILY:
            a = _slope(act)
        elif act is None and follow.source == "assumed":
            a = _slope(assume) if assume.name in _RELU_FAMILY else 0.0
        else:
            a = 0.0
            if act is not None and act.name != "identity":
                note = f"He's ReLU formula (a = 0) used although {act.name} follows"
        nonlinearity = opts.get("nonlinearity", "leaky_relu")
        if gain is None:
            (_init.he_normal_ if scheme == "he_normal" else _init.he_uniform_)(
                w, a, mode, nonlinearity, generator=g)
            gg = float(nn.init.calculate_gain(nonlinearity, _init._check_slope(a)))  # type: ignore[arg-type]
        else:
            gg = gain
            std = gg / math.sqrt(n)
            if scheme == "he_normal":
                _init.normal_(w, std, generator=g)
            else:
                b = math.sqrt(3) * std
                _init._with_generator(w, g, lambda t, gen: nn.init.uniform_(t, -b, b, generator=gen))
        return gg, gg / math.sqrt(n), note
    if scheme == "lecun_normal":
        gg = 1.0 if gain is None else gain
        _init.normal_(w, gg / math.sqrt(fan_in), generator=g)
        return gg, gg / math.sqrt(fan_in), ""
    if scheme == "auto":
        act = follow.activation
        if act is None:
            gg = 1.0 if follow.source == "detected" else assume.gain("forward")
        else:
            gg = act.gain("forward")
        _init.normal_(w, gg / math.sqrt(fan_in), generator=g)
        return gg, gg / math.sqrt(fan_in), ""
    raise AssertionError(scheme)  # pragma: no cover - callers pass canonical plain schemes


def _untouched(model: nn.Module, handled: set[int]) -> list[tuple[str, str]]:
    out, seen = [], set(handled)
    for mname, m in model.named_modules():
        for pname, p in m.named_parameters(recurse=False):
            if id(p) in seen:
                continue
            seen.add(id(p))
            full = f"{mname}.{pname}" if mname else pname
            out.append((full, _why_untouched(m, pname, p)))
    return out


def _why_untouched(m: nn.Module, pname: str, p: Tensor) -> str:
    if isinstance(p, nn.parameter.UninitializedParameter):
        return "uninitialized lazy parameter (run one forward pass first)"
    if isinstance(m, (nn.Embedding, nn.EmbeddingBag)):
        return "embedding table: not a Linear/Conv weight (kept; PyTorch draws N(0, 1))"
    if isinstance(m, nn.MultiheadAttention):
        if pname.endswith("proj_weight"):
            return "attention in-projection (kept; PyTorch uses xavier_uniform)"
        return "attention bias (kept)"
    if isinstance(m, nn.RNNBase):
        return "recurrent weight (kept; PyTorch draws U(±1/√hidden_size))"
    if isinstance(m, _NORMS):
        return "norm γ/β (kept; PyTorch sets 1/0)"
    if isinstance(m, nn.PReLU):
        return "PReLU slope (kept)"
    return f"{type(m).__name__} parameter: not a Linear/Conv weight or bias (kept)"


# ---------------------------------------------------------------------------------------------------
# the public entry point
def initialize(model: nn.Module, scheme: str = "auto", *, bias_init: str | float = "zeros",
               bias_std: float | None = None, gain: float | None = None, data: Any = None,
               generator: torch.Generator | None = None, **options: Any) -> InitReport:
    r"""Initialize every Linear/Conv (1d/2d/3d, transposed) weight and bias of ``model`` in place.

    Args:
        model: any ``nn.Module`` (also third-party ones).
        scheme: one of :func:`schemes` or an alias (:func:`aliases`).
        bias_init: ``"zeros"`` (default), a number (constant), ``"uniform_fan_in"`` (PyTorch's default,
            U(±1/√fan_in)) or ``"keep"``. ``"zeros"``/``"constant"`` schemes set biases to the same
            value as the weights.
        bias_std: if given, biases ~ N(0, bias_std²) (overrides ``bias_init``).
        gain: overrides the scheme's gain (xavier/orthogonal/delta_orthogonal/lecun: the gain argument;
            he_*: W's std becomes gain/√fan). Not accepted by schemes without a gain.
        data: a batch (tensor, tuple of positional inputs, or dict of keyword inputs); needed by LSUV.
        generator: every random draw goes through it (same seed → same weights).
        **options: scheme options —

            * ``constant``: ``value`` (default 0); ``normal``: ``std`` (default 0.01);
            * ``he_*``: ``a`` (slope; default: the slope of the leaky ReLU after the layer, else 0),
              ``mode`` (``"fan_in"``/``"fan_out"``), ``nonlinearity`` (default ``"leaky_relu"``);
            * all: ``assume`` — the activation (name) assumed where the one after a layer cannot be
              detected (default ``"relu"``); reported with ``activation_source="assumed"``;
            * ``lsuv``: ``tol`` (0.1), ``max_iter`` (10), ``reinit`` (see below);
            * ``pretrained``: ``checkpoint`` (path or state_dict), ``strip_prefix`` (str or list),
              ``freeze`` (list of module-name prefixes), ``fallback`` (a plain scheme for Linear/Conv
              layers whose weight was not loaded; default ``None`` leaves them as they were).

    Activation detection: modules of an ``nn.Sequential`` are taken in order; other models are traced
    with ``torch.fx``; if tracing fails, registration order is used as a guess (reported as
    "assumed"). Norm, dropout, pooling and reshape layers are looked through. A layer whose output
    is the model output gets activation ``"none"`` (gain 1 in ``auto``).

    He schemes take the slope ``a`` from a ReLU-family activation after the layer (leaky ReLU's
    slope), otherwise ``a = 0`` (ReLU's He init, as in seed 003, also for tanh networks and the
    output layer — like ``torch.nn.init.kaiming_*`` applied to every layer).

    LSUV (Mishkin & Matas, "All you need is a good init", ICLR 2016): orthogonal pre-init (gain 1;
    biases per ``bias_init``), then for each Linear/Conv layer in forward order: run ``data``
    through the model and divide the layer's weight by √Var(output) until
    :math:`|\mathrm{Var}-1| \le` ``tol``, at most ``max_iter`` times. The forward passes run under
    ``no_grad`` with norm layers in *train* mode (BatchNorm normalizes with batch statistics, as in
    training) and dropout/random activations in *eval* mode (deterministic); every buffer
    (BN running_mean/var, num_batches_tracked) is saved before and restored after, and each module's
    train/eval flag is restored; the hooks LSUV adds are removed. ``reinit=None`` (default)
    pre-initializes unless the model's last initialization was LSUV (then it only re-checks and
    rescales); ``True`` always, ``False`` never.

    Pretrained: loads with ``torch.load(path, weights_only=True, map_location="cpu")``; a file
    whose pickle holds anything but tensors/containers (it could run code) is refused with a
    ``ValueError`` and nothing in it runs. Keys are matched by name (after ``strip_prefix``) and
    shape; ``{"state_dict": ...}`` / ``{"model": ...}`` wrappers are unwrapped.

    Returns:
        :class:`InitReport`.
    """
    scheme = _canonical(scheme)
    allowed = _COMMON_OPTIONS | _OPTIONS.get(scheme, set())
    bad = sorted(set(options) - allowed)
    if bad:
        raise ValueError(f"option(s) {bad} not accepted by scheme {scheme!r}; valid options: {sorted(allowed)}")
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if gain is not None:
        if scheme in _NO_GAIN:
            raise ValueError(f"gain is not used by scheme {scheme!r} (schemes with a gain: "
                             f"{[s for s in _SCHEMES if s not in _NO_GAIN]}), got gain={gain!r}")
        _init._check_gain(gain)
    if bias_std is not None:
        _check_option("bias_std", bias_std, _is_number(bias_std) and bias_std >= 0, "a finite number >= 0")
    if not (isinstance(bias_init, str) and bias_init in ("zeros", "uniform_fan_in", "keep")) \
            and not _is_number(bias_init):
        raise ValueError(f"bias_init must be 'zeros', 'uniform_fan_in', 'keep' or a number, got {bias_init!r}")
    assume = _acts.get(options.get("assume", "relu"))
    _validate(scheme, options, data)

    layers = _weight_layers(model)
    follow = _follow(model, layers)
    if scheme == "pretrained":
        report = _pretrained(model, layers, follow, options, bias_init, bias_std, gain, generator, assume)
    else:
        draw_scheme = "orthogonal" if scheme == "lsuv" else scheme
        reinit = True
        if scheme == "lsuv":
            reinit = options.get("reinit")
            reinit = (model not in _LSUV_DONE) if reinit is None else bool(reinit)
        records = [_init_layer(name, m, draw_scheme if reinit else None, follow[name], gain, options,
                               bias_init, bias_std, generator, assume) for name, m in layers]
        report = InitReport(scheme, records, options=dict(options))
        if scheme == "lsuv":
            for r in records:  # the final scale depends on the data, not on a formula
                r.scheme, r.gain, r.expected_std = "lsuv", None, None
            report.notes.append("orthogonal pre-init" if reinit else
                                "no pre-init (already LSUV-initialized or reinit=False): re-checked and rescaled")
            _lsuv(model, layers, records, data, float(options.get("tol", 0.1)),
                  int(options.get("max_iter", 10)), report)
    handled = {id(p) for _, m in layers for p in (m.weight, getattr(m, "bias", None)) if p is not None}
    report.untouched = _untouched(model, handled)
    for name, f in follow.items():
        if f.source == "assumed":
            report.notes.append(f"{name}: activation after it not detected ({f.note or 'unknown'}); "
                                f"assumed {assume.name if f.activation is None else f.activation.name}")
    if scheme == "lsuv":
        _LSUV_DONE.add(model)
    else:
        _LSUV_DONE.discard(model)
    return report


def _validate(scheme: str, options: dict, data: Any) -> None:
    if scheme == "constant" and "value" in options:
        _check_option("value", options["value"], _is_number(options["value"]), "a finite number")
    if scheme == "normal" and "std" in options:
        _check_option("std", options["std"], _is_number(options["std"]) and options["std"] >= 0,
                      "a finite number >= 0")
    if scheme.startswith("he_"):
        if "mode" in options:
            _check_option("mode", options["mode"], options["mode"] in _init._MODES, f"one of {_init._MODES}")
        if "a" in options:
            _init._check_slope(options["a"])
        if "nonlinearity" in options:
            _init._check_nonlinearity(options["nonlinearity"])
    if scheme == "lsuv":
        if data is None:
            raise ValueError("data: scheme 'lsuv' needs a batch of inputs (a tensor, a tuple of "
                             "positional inputs or a dict of keyword inputs), got None")
        tol, it = options.get("tol", 0.1), options.get("max_iter", 10)
        _check_option("tol", tol, _is_number(tol) and 0 < tol < 1, "a number in (0, 1)")
        _check_option("max_iter", it, isinstance(it, int) and not isinstance(it, bool) and it >= 1, "an int >= 1")
        r = options.get("reinit")
        _check_option("reinit", r, r is None or isinstance(r, bool), "None, True or False")
    if scheme == "pretrained":
        if options.get("checkpoint") is None:
            raise ValueError("checkpoint: scheme 'pretrained' needs checkpoint= (a path or a state_dict), got None")
        fb = options.get("fallback")
        if fb is not None and (not isinstance(fb, str) or _canonical(fb) not in _PLAIN + ("auto",)):
            raise ValueError(f"fallback must be None or one of {list(_PLAIN) + ['auto']}, got {fb!r}")


def _init_layer(name: str, m: nn.Module, scheme: str | None, follow: _Follow, gain: float | None,
                opts: dict, bias_init: Any, bias_std: float | None, generator: torch.Generator | None,
                assume: Activation) -> LayerInit:
    """Draw one layer's weight (and bias) with a plain scheme (None: leave as is) and record it."""
    w: Tensor = m.weight
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
    if act is None and follow.source == "assumed":
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


# ---------------------------------------------------------------------------------------------------
# LSUV
_LSUV_DONE: "weakref.WeakSet[nn.Module]" = weakref.WeakSet()


class _Stop(Exception):
    """Raised in a hook to cut a forward pass short once the layer of interest has run."""


def _is_random(m: nn.Module) -> bool:
    if isinstance(m, nn.modules.dropout._DropoutNd):
        return True
    a = _acts.from_module(m) if not _is_pass_module(m) else None
    return bool(a is not None and a.random)


def _call(model: nn.Module, data: Any) -> Any:
    if isinstance(data, Mapping):
        return model(**data)
    if isinstance(data, (tuple, list)):
        return model(*data)
    return model(data)


def _output_vars(model: nn.Module, data: Any, targets: list[nn.Module], stop_at: nn.Module | None
                 ) -> dict[int, float]:
    """Variance of each target's first output on ``data``; stops the pass after ``stop_at``."""
    out: dict[int, float] = {}

    def hook(m: nn.Module, _inp: Any, o: Any) -> None:
        if id(m) not in out and isinstance(o, Tensor):
            out[id(m)] = float(o.detach().double().var()) if o.numel() > 1 else 0.0
        if m is stop_at:
            raise _Stop

    handles = [t.register_forward_hook(hook) for t in targets]
    try:
        _call(model, data)
    except _Stop:
        pass
    finally:
        for h in handles:
            h.remove()
    return out


def _lsuv(model: nn.Module, layers: list[tuple[str, nn.Module]], records: list[LayerInit], data: Any,
          tol: float, max_iter: int, report: InitReport) -> None:
    training = {m: m.training for m in model.modules()}
    buffers = [(b, b.detach().clone()) for b in model.buffers()]
    try:
        model.train()
        for m in model.modules():
            if _is_random(m):
                m.eval()
        with torch.no_grad():
            mods = [m for _, m in layers]
            first = _output_vars(model, data, mods, None)
            order = sorted((i for i, m in enumerate(mods) if id(m) in first),
                           key=lambda i: list(first).index(id(mods[i])))
            for i in range(len(mods)):
                if id(mods[i]) not in first:
                    records[i].note = "not called on data: not rescaled"
            for i in order:
                layer, rec = mods[i], records[i]
                steps = 0
                for _ in range(max_iter):
                    var = _output_vars(model, data, [layer], layer)[id(layer)]
                    if abs(var - 1) <= tol:
                        break
                    if not (math.isfinite(var) and var > 0):
                        rec.note = f"output variance {var:g}: cannot rescale"
                        break
                    layer.weight.mul_(1 / math.sqrt(var))
                    steps += 1
                rec.iterations = steps
            final = _output_vars(model, data, mods, None)
            for i in order:
                rec = records[i]
                rec.output_var = final[id(mods[i])]
                rec.weight_std = float(mods[i].weight.detach().float().std())
                if abs(rec.output_var - 1) > tol and not rec.note:
                    rec.note = f"output variance {rec.output_var:.4g} not within tol={tol} after max_iter={max_iter}"
    finally:
        with torch.no_grad():
            for b, saved in buffers:
                b.copy_(saved)
        for m, flag in training.items():
            m.training = flag
    report.notes.append("LSUV forward passes: norm layers in train mode (batch statistics), dropout and "
                        "random activations in eval mode; buffers and train/eval flags restored")


# ---------------------------------------------------------------------------------------------------
# pretrained
def _load(checkpoint: Any) -> Mapping[str, Any]:
    if isinstance(checkpoint, Mapping):
        obj: Any = checkpoint
    elif isinstance(checkpoint, (str, os.PathLike)):
        path = os.fspath(checkpoint)
        if not os.path.isfile(path):
            raise ValueError(f"checkpoint: no such file {path!r}")
        try:
            obj = torch.load(path, weights_only=True, map_location="cpu")
        except Exception as exc:  # noqa: BLE001 - corrupt files raise KeyError, EOFError, RuntimeError, ...
            msg = str(exc).strip()
            if not (isinstance(exc, pickle.UnpicklingError) and "weights only load failed" in msg.lower()):
                raise ValueError(f"checkpoint {path!r} is not a readable PyTorch checkpoint "
                                 f"({type(exc).__name__}: {msg[:200]})") from None
            lines = [ln.strip() for ln in msg.splitlines() if "Unsupported" in ln or "GLOBAL" in ln]
            first = (lines[0] if lines else msg.splitlines()[0])[:300]
            raise ValueError(
                f"checkpoint {path!r} refused: torch.load(weights_only=True) rejected its pickle, which holds "
                f"something other than tensors and plain containers (loading it unrestricted could run "
                f"code from the file) or is corrupt. Only state_dicts are accepted (torch said: {first})") from None
    else:
        raise ValueError(f"checkpoint must be a path or a state_dict (mapping), got {type(checkpoint).__name__}")
    if not isinstance(obj, Mapping):
        raise ValueError(f"checkpoint must hold a state_dict (a mapping of names to tensors), "
                         f"got {type(obj).__name__}")
    if not any(isinstance(v, Tensor) for v in obj.values()):
        for key in ("state_dict", "model_state_dict", "model"):
            if isinstance(obj.get(key), Mapping):
                return obj[key]
    return obj


def _prefixes(value: Any, name: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, Sequence) and all(isinstance(v, str) for v in value):
        return list(value)
    raise ValueError(f"{name} must be a string or a list of strings, got {value!r}")


def _pretrained(model: nn.Module, layers: list[tuple[str, nn.Module]], follow: dict[str, _Follow],
                options: dict, bias_init: Any, bias_std: float | None, gain: float | None,
                generator: torch.Generator | None, assume: Activation) -> InitReport:
    raw = _load(options["checkpoint"])
    strip = _prefixes(options.get("strip_prefix"), "strip_prefix")
    freeze = _prefixes(options.get("freeze"), "freeze")
    ckpt: dict[str, Any] = {}
    for k, v in raw.items():
        key = str(k)
        for p in strip:
            if key.startswith(p):
                key = key[len(p):]
                break
        ckpt[key] = v
    own = model.state_dict(keep_vars=True)
    loaded, skipped, to_load = [], [], {}
    for key, target in own.items():
        if key not in ckpt:
            skipped.append((key, "missing from checkpoint"))
        elif not isinstance(ckpt[key], Tensor):
            skipped.append((key, f"checkpoint value is a {type(ckpt[key]).__name__}, not a tensor"))
        elif tuple(ckpt[key].shape) != tuple(target.shape):
            skipped.append((key, f"shape mismatch: checkpoint {tuple(ckpt[key].shape)} vs model "
                                 f"{tuple(target.shape)}"))
        else:
            to_load[key] = ckpt[key]
            loaded.append(key)
    skipped += [(k, "unexpected: not in the model") for k in ckpt if k not in own]
    if to_load:
        model.load_state_dict(to_load, strict=False)
    fallback = options.get("fallback")
    fb = _canonical(fallback) if fallback is not None else None
    records = []
    for name, m in layers:
        wkey = f"{name}.weight"
        if wkey in to_load:
            rec = _init_layer(name, m, None, follow[name], None, {}, bias_init, bias_std, generator, assume)
            rec.scheme = "pretrained"
            bkey = f"{name}.bias"
            rec.bias = "none" if getattr(m, "bias", None) is None else ("loaded" if bkey in to_load else "kept")
        else:
            rec = _init_layer(name, m, fb, follow[name], gain, {}, bias_init, bias_std, generator, assume)
            rec.note = (f"weight not loaded; initialized with fallback {fb!r}" if fb
                        else "weight not loaded; kept as it was")
        records.append(rec)
    frozen = []
    if freeze:
        params = dict(model.named_parameters())
        for p in freeze:
            hits = [n for n in params if n == p or n.startswith(p if p.endswith(".") else p + ".")]
            if not hits:
                mods = [n for n, _ in model.named_modules() if n]
                raise ValueError(f"freeze: prefix {p!r} matches no parameter; module names: {mods[:40]}")
            for n in hits:
                params[n].requires_grad_(False)
                if n not in frozen:
                    frozen.append(n)
    opts = {k: v for k, v in options.items() if k != "checkpoint"}
    opts["checkpoint"] = options["checkpoint"] if isinstance(options["checkpoint"], (str, os.PathLike)) \
        else "<state_dict>"
    return InitReport("pretrained", records, options=opts, loaded=loaded, skipped=skipped, frozen=frozen)


# ---------------------------------------------------------------------------------------------------
# ``initlab.initialize`` is both this module and the function: importing the submodule binds the
# name on the package, shadowing the facade's lazy lookup of the function. Making the module callable
# keeps ``il.initialize(model, ...)`` and ``il.initialize.schemes()`` both working.
class _CallableModule(types.ModuleType):
    def __call__(self, *args: Any, **kwargs: Any) -> InitReport:
        return initialize(*args, **kwargs)


__signature__ = inspect.signature(initialize)
sys.modules[__name__].__class__ = _CallableModule
