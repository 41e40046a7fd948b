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
* ``pretrained``: load a state_dict by name and shape (option ``checkpoint``);
* transformer schemes (:mod:`initlab.initialize.transformer`): ``gpt2`` (N(0, 0.02²), residual output
  projections ÷√(2L)), ``small_init`` (N(0, 2/(5d))), ``ds_init`` (Xavier·α/√l in block l); they also
  set embeddings, norms and ``nn.MultiheadAttention``'s q/k/v slices, one record per parameter.

Hugging Face ``Conv1D`` (GPT-2's dense layer, weight stored (in, out)) is drawn through its transposed
view, so its fans are right. A weight shared with an embedding (a tied LM head) is never re-initialized
through the head: it is reported as tied.

>>> import torch, initlab as il
>>> model = il.models.mlp([20, 30, 30, 5], "tanh", init=None)
>>> report = il.initialize(model, "auto", generator=torch.Generator().manual_seed(0))
>>> [round(r.gain, 4) for r in report.layers]
[1.5925, 1.5925, 1.0]
"""
from __future__ import annotations

import inspect
import sys
import types
from typing import Any

import torch
from torch import nn

from .. import activations as _acts
from .. import init as _init
from ..structure import follow as _follow_layers, weight_layers
from ..validate import check as _check_option
from ..validate import is_number
from .draw import init_layer
from .untouched import untouched
from .lsuv import LSUV_DONE, rescale_lsuv
from .pretrained import load_pretrained
from .records import InitReport, LayerInit
from .transformer import TRANSFORMER_SCHEMES, init_transformer

__all__ = ["initialize", "InitReport", "LayerInit", "schemes", "aliases"]

# the records keep the public path they have always had (repr, pickles, docs)
InitReport.__module__ = LayerInit.__module__ = __name__

# ---------------------------------------------------------------------------------------------------
# scheme names
_PLAIN = ("zeros", "constant", "normal", "uniform_fan_in", "xavier_uniform", "xavier_normal",
          "he_uniform", "he_normal", "lecun_normal", "orthogonal", "delta_orthogonal")
_SCHEMES = (*_PLAIN, "auto", "lsuv", "pretrained", *TRANSFORMER_SCHEMES)
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
    "gpt2": {"std", "n_layers"}, "small_init": {"d"}, "ds_init": {"alpha", "n_layers"},
}
_NO_GAIN = ("zeros", "constant", "normal", "uniform_fan_in", "auto", "pretrained", *TRANSFORMER_SCHEMES)
# "auto" where the activation after a layer cannot be detected: identity (gain 1). Every activation
# initlab knows has a forward gain >= 1 (identity and SELU 1, ReLU √2, tanh ≈ 1.59, ...), so gain 1 can
# only under-scale: the signal may shrink layer by layer (visible to the probes, undone by the norm
# layers most untraceable models have, harmless on residual branches, where small is the regime
# Fixup/ReZero start from) but never grow, and growth is the failure that cannot be undone
# (overflow, saturated softmax/tanh, diverging first steps). Assuming ReLU on a linear/GELU-less
# path would double the variance per layer.
DEFAULT_ASSUME = "identity"


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
# validation
def _validate(scheme: str, options: dict, data: Any) -> None:
    if scheme == "constant" and "value" in options:
        _check_option("value", options["value"], is_number(options["value"]), "a finite number")
    if scheme == "normal" and "std" in options:
        _check_option("std", options["std"], is_number(options["std"]) and options["std"] >= 0,
                      "a finite number >= 0")
    if scheme.startswith("he_"):
        if "mode" in options:
            _check_option("mode", options["mode"], options["mode"] in _init.MODES, f"one of {_init.MODES}")
        if "a" in options:
            _init.check_slope(options["a"])
        if "nonlinearity" in options:
            _init.check_nonlinearity(options["nonlinearity"])
    if scheme == "lsuv":
        if data is None:
            raise ValueError("data: scheme 'lsuv' needs a batch of inputs (a tensor, a tuple of "
                             "positional inputs or a dict of keyword inputs), got None")
        tol, it = options.get("tol", 0.1), options.get("max_iter", 10)
        _check_option("tol", tol, is_number(tol) and 0 < tol < 1, "a number in (0, 1)")
        _check_option("max_iter", it, isinstance(it, int) and not isinstance(it, bool) and it >= 1, "an int >= 1")
        r = options.get("reinit")
        _check_option("reinit", r, r is None or isinstance(r, bool), "None, True or False")
    for key in ("std", "alpha", "d", "n_layers"):
        if scheme in TRANSFORMER_SCHEMES and key in options:
            v = options[key]
            _check_option(key, v, is_number(v) and v > 0 and (key in ("std", "alpha") or float(v).is_integer()),
                          "a positive number" if key in ("std", "alpha") else "a positive int")
    if scheme == "pretrained":
        if options.get("checkpoint") is None:
            raise ValueError("checkpoint: scheme 'pretrained' needs checkpoint= (a path or a state_dict), got None")
        fb = options.get("fallback")
        if fb is not None and (not isinstance(fb, str) or _canonical(fb) not in _PLAIN + ("auto",)):
            raise ValueError(f"fallback must be None or one of {list(_PLAIN) + ['auto']}, got {fb!r}")


# ---------------------------------------------------------------------------------------------------
# the public entry point
def initialize(model: nn.Module, scheme: str = "auto", *, bias_init: str | float = "zeros",
               bias_std: float | None = None, gain: float | None = None, data: Any = None,
               generator: torch.Generator | None = None, layers: list[str] | None = None,
               **options: Any) -> InitReport:
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
        layers: names (or name prefixes) of the modules to initialize; every other parameter is left
            as it is and listed as untouched ("not selected"). None: all.
        **options: scheme options —

            * ``constant``: ``value`` (default 0); ``normal``: ``std`` (default 0.01);
            * ``he_*``: ``a`` (slope; default: the slope of the leaky ReLU after the layer, else 0),
              ``mode`` (``"fan_in"``/``"fan_out"``), ``nonlinearity`` (default ``"leaky_relu"``);
            * all: ``assume`` — the activation (name) assumed where the one after a layer cannot be
              detected (default ``"identity"``, gain 1: the assumption that errs on the safe side,
              see ``DEFAULT_ASSUME``); reported with ``activation_source="assumed"``;
            * ``gpt2``: ``std`` (0.02), ``n_layers`` (L, default the number of repeated blocks);
              ``small_init``: ``d`` (default the embedding width); ``ds_init``: ``alpha`` (1), ``n_layers``;
            * ``lsuv``: ``tol`` (0.1), ``max_iter`` (10), ``reinit`` (see below);
            * ``pretrained``: ``checkpoint`` (path or state_dict), ``strip_prefix`` (str or list),
              ``freeze`` (list of module-name prefixes), ``fallback`` (a plain scheme for Linear/Conv
              layers whose weight was not loaded; default ``None`` leaves them as they were).

    Activation detection: modules of an ``nn.Sequential`` are taken in order; other models are traced
    with ``torch.fx``; if tracing fails, registration order is used as a guess (reported as
    "assumed"). Norm, dropout, pooling and reshape layers are looked through. A layer whose output
    is the model output gets activation ``"none"`` (gain 1 in ``auto``), also when tracing fails and
    structure tells it (Hugging Face ``get_output_embeddings()``, or the last module with parameters).

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
        _init.check_gain(gain)
    if bias_std is not None:
        _check_option("bias_std", bias_std, is_number(bias_std) and bias_std >= 0, "a finite number >= 0")
    if not (isinstance(bias_init, str) and bias_init in ("zeros", "uniform_fan_in", "keep")) \
            and not is_number(bias_init):
        raise ValueError(f"bias_init must be 'zeros', 'uniform_fan_in', 'keep' or a number, got {bias_init!r}")
    assume = _acts.get(options.get("assume", DEFAULT_ASSUME))
    _validate(scheme, options, data)
    if layers is not None and (isinstance(layers, str) or not all(isinstance(x, str) for x in layers)):
        raise ValueError(f"layers must be None or a list of module names, got {layers!r}")
    selected = _selector(layers)
    if scheme in TRANSFORMER_SCHEMES:
        keep = _snapshot(model, selected)
        report = init_transformer(model, scheme, options, generator)
        _restore(keep, report)
        LSUV_DONE.discard(model)
        return report

    owner = _tied_heads(model)
    all_layers = weight_layers(model)
    layers_ = [(n, m) for n, m in all_layers if selected(n) and f"{n}.weight" not in owner]
    follow = _follow_layers(model, all_layers)
    layers = layers_
    if scheme == "pretrained":
        fallback = options.get("fallback")
        fb = _canonical(fallback) if fallback is not None else None
        report = load_pretrained(model, layers, follow, options, fb, bias_init, bias_std, gain, generator, assume)
    else:
        draw_scheme = "orthogonal" if scheme == "lsuv" else scheme
        reinit = True
        if scheme == "lsuv":
            reinit = options.get("reinit")
            reinit = (model not in LSUV_DONE) if reinit is None else bool(reinit)
        records = [init_layer(name, m, draw_scheme if reinit else None, follow[name], gain, options,
                               bias_init, bias_std, generator, assume) for name, m in layers]
        report = InitReport(scheme, records, options=dict(options))
        if scheme == "lsuv":
            for r in records:  # the final scale depends on the data, not on a formula
                r.scheme, r.gain, r.expected_std = "lsuv", None, None
            report.notes.append("orthogonal pre-init" if reinit else
                                "no pre-init (already LSUV-initialized or reinit=False): re-checked and rescaled")
            rescale_lsuv(model, layers, records, data, float(options.get("tol", 0.1)),
                  int(options.get("max_iter", 10)), report)
    handled = {id(p) for _, m in layers for p in (m.weight, getattr(m, "bias", None)) if p is not None}
    report.untouched = [(k, "not selected (layers=...)" if not selected(k.rpartition(".")[0]) else why)
                        for k, why in untouched(model, handled)]
    report.untouched += [(k, f"tied to {o}: one parameter, never re-initialized through this layer")
                         for k, o in owner.items()]
    for name, f in follow.items():
        if not selected(name):
            continue
        if f.source == "assumed":
            report.notes.append(f"{name}: activation after it not detected ({f.note or 'unknown'}); "
                                f"assumed {assume.name if f.activation is None else f.activation.name}")
    if scheme == "lsuv":
        LSUV_DONE.add(model)
    else:
        LSUV_DONE.discard(model)
    return report


def _selector(layers: list[str] | None):
    if layers is None:
        return lambda name: True
    pre = list(layers)
    return lambda name: any(name == p or name.startswith(p + ".") for p in pre)


def _snapshot(model: nn.Module, selected) -> list[tuple[str, torch.Tensor, torch.Tensor]]:
    """Copies of the parameters outside the selection (restored after a whole-model scheme)."""
    out = []
    for mname, m in model.named_modules():
        if selected(mname):
            continue
        for pname, p in m.named_parameters(recurse=False):
            out.append((f"{mname}.{pname}" if mname else pname, p, p.detach().clone()))
    return out


def _restore(keep: list, report: InitReport) -> None:
    if not keep:
        return
    with torch.no_grad():
        for _, p, saved in keep:
            p.copy_(saved)
    names = {k for k, _, _ in keep}
    mods = {k.rpartition(".")[0] for k in names}
    report.layers = [r for r in report.layers if r.name.split(".in_proj_weight[")[0].split(".q_proj")[0] not in mods]
    report.untouched = [(k, why) for k, why in report.untouched if k not in names] + \
        [(k, "not selected (layers=...)") for k in sorted(names)]


def _tied_heads(model: nn.Module) -> dict[str, str]:
    """``{parameter name: owner name}`` for every name of a parameter shared with an earlier module
    (a tied LM head): set once, by its owner, never re-initialized through the later name."""
    first: dict[int, str] = {}
    owner = {}
    for name, p in model.named_parameters(remove_duplicate=False):
        if id(p) in first:
            owner[name] = first[id(p)]
        else:
            first[id(p)] = name
    return owner


# ---------------------------------------------------------------------------------------------------
# ``initlab.initialize`` is both this module and the function: importing the submodule binds the
# name on the package, shadowing the facade's lazy lookup of the function. Making the module callable
# keeps ``il.initialize(model, ...)`` and ``il.initialize.schemes()`` both working.
class _CallableModule(types.ModuleType):
    def __call__(self, *args: Any, **kwargs: Any) -> InitReport:
        return initialize(*args, **kwargs)


__signature__ = inspect.signature(initialize)
sys.modules[__name__].__class__ = _CallableModule
