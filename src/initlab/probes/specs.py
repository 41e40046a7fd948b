"""Which modules the probes hook, and what each one's statistics need (:class:`ModuleSpec`).

:func:`classify` lists the modules to probe (Linear, Conv, norm layers, activation modules, Embedding,
``nn.MultiheadAttention`` as a whole) in registration order, with their fans, the activation after each linear/conv layer, saturation
bounds, and the ``nn.ReLU`` a Sequential calls right after a linear/conv layer (``relu_next``: the
watch path takes Σ|y| of that layer from the ReLU's sums, see :mod:`initlab.probes.hooks`).

>>> import torch
>>> specs = classify(torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2)))
>>> [(s.name, s.kind, s.relu_next) for s in specs]
[('0', 'linear', 1), ('1', 'activation', None), ('2', 'linear', None)]
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import Tensor, nn

from .. import activations as _acts
from ..activations import Activation
from ..structure import hf_conv1d, layer_fans, following_activations, layer_kind
from . import stats as S

__all__ = ["ModuleSpec", "classify", "first_tensor"]


@dataclass(eq=False)
class ModuleSpec:
    """A probed module: where it sits, what kind it is, and what its statistics need."""

    index: int
    name: str
    module: nn.Module
    kind: str
    module_type: str
    act: Activation | None = None
    channels_first: bool | None = None  # None: an activation inherits it from the layer before it
    sat: tuple[float | None, float | None] | None = None
    dead: bool = False
    fan_in: int | None = None
    fan_out: int | None = None
    nonneg: bool = False  # outputs are never negative (ReLU, sigmoid, softplus): Σ|y| = Σy
    inplace: bool = False  # the module overwrites its input (``nn.ReLU(inplace=True)``)
    follows: Activation | None = None  # linear/conv: the activation detected after it (module or function)
    transposed: bool = False  # weight stored (in, out): Hugging Face Conv1D
    relu_next: int | None = None  # linear/conv: index of the nn.ReLU that a Sequential calls next on its output
    relu_seq: nn.Module | None = None  # ... and that Sequential

    @property
    def activation(self) -> str | None:
        """The activation's name: its own (activation modules) or the one after it (linear/conv)."""
        a = self.act or self.follows
        return a.name if a is not None else None

    @property
    def activation_spec(self) -> str | None:
        """The exact activation (:attr:`initlab.activations.Activation.spec`, parameters included)."""
        a = self.act or self.follows
        return a.spec if a is not None else None

    @property
    def weight(self) -> Tensor | None:
        w = getattr(self.module, "weight", None)
        return w if isinstance(w, Tensor) else None

    @property
    def bias(self) -> Tensor | None:
        b = getattr(self.module, "bias", None)
        return b if isinstance(b, Tensor) else None


def classify(model: nn.Module, saturation_margin: float = 0.01) -> list[ModuleSpec]:
    """The modules to probe, in registration order (identity activations are skipped)."""
    specs: list[ModuleSpec] = []
    for name, m in model.named_modules():
        label = name or type(m).__name__.lower()
        act = None
        found = layer_kind(m)
        if found is not None:
            kind, cf = found
            kind = "other" if kind == "embedding" else kind  # LayerStats.kind (docs/CONTRACTS.md)
        elif isinstance(m, nn.MultiheadAttention):
            # its out_proj Linear is never called as a module: the attention block's output (after
            # out_proj) is seen here, as kind "other"; q/k logits are in probes.attention (inspect)
            kind, cf = "other", False
        else:
            try:
                act = _acts.from_module(m)
            except ValueError:
                act = None
            if act is None or act.name == "identity":
                continue
            kind, cf = "activation", None
        spec = ModuleSpec(len(specs), label, m, kind, type(m).__name__, act, cf,
                          inplace=getattr(m, "inplace", False) is True)
        if kind in ("linear", "conv"):
            spec.fan_in, spec.fan_out = layer_fans(m)
            c = hf_conv1d()
            spec.transposed = c is not None and isinstance(m, c)
        if act is not None:
            low, high = S.saturation_bounds(act, float(saturation_margin))
            spec.sat = None if low is None and high is None else (low, high)
            spec.dead = act.name in S.RELU_FAMILY
            spec.nonneg = act.output_range[0] >= 0 and not act.random
        specs.append(spec)
    _attach_following(model, specs)
    _attach_relu_pairs(model, specs)
    return specs


def _attach_relu_pairs(model: nn.Module, specs: list[ModuleSpec]) -> None:
    """Set ``relu_next`` where an ``nn.Sequential`` calls an out-of-place ``nn.ReLU`` right after a
    linear/conv layer: the ReLU's hook then sees that layer's output r = relu(y) and the layer's
    Σ|y| = 2·Σr − Σy comes from the two sums the hooks take anyway (one pass less per layer). Only
    while that Sequential runs (its own hooks count its calls) does the Recorder rely on it."""
    by_module = {id(s.module): s for s in specs}
    for m in model.modules():
        if not (isinstance(m, nn.Sequential) and type(m).forward is nn.Sequential.forward):
            continue
        kids = list(m.children())
        for a, b in zip(kids, kids[1:]):
            sa, sb = by_module.get(id(a)), by_module.get(id(b))
            if (sa is not None and sb is not None and sa.kind in ("linear", "conv")
                    and type(b) is nn.ReLU and not sb.inplace):
                sa.relu_next, sa.relu_seq = sb.index, m


def _attach_following(model: nn.Module, specs: list[ModuleSpec]) -> None:
    """Set ``follows`` of linear/conv specs (Sequential order, or torch.fx for functional activations)."""
    if not any(s.kind in ("linear", "conv") for s in specs):
        return
    try:
        found = following_activations(model)
    except Exception:  # noqa: BLE001 — labelling is best effort; records fall back to module order
        return
    names = {id(m): n for n, m in model.named_modules()}
    for s in specs:
        if s.kind in ("linear", "conv"):
            s.follows = found.get(names.get(id(s.module), ""))


def first_tensor(out: Any) -> Tensor | None:
    """The module's main output: a tensor, the first tensor of a tuple/list, or of a dict's values."""
    if isinstance(out, Tensor):
        return out
    items = out.values() if isinstance(out, dict) else out if isinstance(out, (tuple, list)) else ()
    for v in items:
        if isinstance(v, Tensor):
            return v
    return None
