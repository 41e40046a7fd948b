"""Forward/gradient hooks that reduce each module call to a few device scalars.

:func:`classify` finds the modules to probe (Linear, Conv, norm layers, activation modules,
Embedding, ``nn.MultiheadAttention`` as a whole: its ``out_proj`` is never called as a module); a :class:`Recorder` hooks them and, while ``active``, appends for every call the raw
reductions of :mod:`initlab.probes.stats` to one flat list of 0-d tensors (``vals``) with their
``(slot, stat)`` keys, where ``slot = (module index, call index)``. δ = ∂L/∂output comes from a tensor
hook registered on the output during the forward pass (it sees δ of the value the module returned,
even when an in-place activation modifies that tensor afterwards; when that output is a view, whose
hooks an in-place op would drop, a forward pre-hook of the in-place module moves the hook to the
view's base first). In precise mode (inspection) a forward pre-hook also records Caffe's *bottom
diff*, ∂L/∂input through this module alone. Nothing here reads a value back from the device; the owner (:func:`~initlab.probes.inspection.inspect`,
:class:`~initlab.probes.watcher.Watcher`) stacks ``vals`` once per step.

Hooks are always removed by :meth:`Recorder.remove` (the owners call it in ``finally``).
"""
from __future__ import annotations

import weakref
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator

import torch
from torch import Tensor, nn

from .. import activations as _acts
from ..activations import Activation
from ..structure import hf_conv1d, layer_fans, following_activations, layer_kind
from . import stats as S

__all__ = ["ModuleSpec", "Recorder", "classify", "first_tensor"]


_EXCLUSIVE: list["Recorder | None"] = [None]  # a recorder that silences all others while set


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
    return specs


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


class Recorder:
    """Hooks on the probed modules of ``model``; records one *frame* (a step) at a time.

    ``precise`` (inspection) works on a float64 copy and adds the two-pass std and Σ|δ|;
    ``grad_mode_only`` (watching) ignores forward passes run under ``torch.no_grad()``.
    """

    def __init__(self, model: nn.Module, *, bins: int = 30, saturation_margin: float = 0.01,
                 precise: bool = False, grad_mode_only: bool = False):
        if not isinstance(model, nn.Module):
            raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        if not (isinstance(bins, int) and bins >= 1):
            raise ValueError(f"bins must be a positive int, got {bins!r}")
        if not (0 < saturation_margin < 1):
            raise ValueError(f"saturation_margin must be in (0, 1), got {saturation_margin!r}")
        self.specs = classify(model, saturation_margin)
        if not self.specs:
            found = sorted({type(m).__name__ for m in model.modules()})
            raise ValueError(
                "model has no supported layers to probe (expected nn.Linear, nn.Conv*, norm layers, "
                f"nn.Embedding or activation modules such as nn.ReLU); found modules: {found}")
        self.bins, self.precise, self.grad_mode_only = bins, precise, grad_mode_only
        self._inplace = any(sp.inplace for sp in self.specs)
        # slots (forward) and (slot, "g") (backward) whose sums may skip the shift: set by the owner
        # from statistics it has read back (the Watcher: |mean| ≤ 10·std at its last flush)
        self.unshifted: set = set()
        # DDP (set by the Watcher): a distributed.ExtendedSync that takes the histograms and per-unit
        # statistics, merged over the ranks at the step
        self.shared: Any = None
        self.acc = torch.float64 if precise else S.ACC
        self.active = False
        self.extended = False
        self.backward = True
        self.handles: list[Any] = []
        self.gen = 0
        self.new_frame()

    # --- lifecycle ------------------------------------------------------------------------------
    def install(self) -> None:
        for spec in self.specs:
            self.handles.append(spec.module.register_forward_hook(self._make_hook(spec)))
            # before the call: Caffe's bottom diffs (precise), and δ hooks an in-place module would lose
            if self.precise or spec.inplace:
                self.handles.append(spec.module.register_forward_pre_hook(self._make_pre_hook(spec)))

    def remove(self) -> None:
        for h in self.handles:
            h.remove()
        self.handles.clear()
        self.active = False
        self.gen += 1  # gradient hooks still in a live graph become no-ops

    def new_frame(self) -> None:
        self.gen += 1
        self.calls: dict[int, int] = {}
        self.slots: list[tuple[int, int]] = []              # forward order of this frame
        self.meta: dict[tuple[int, int], tuple[int, int, int]] = {}  # slot -> (numel, batch, units)
        self.vals: list[Tensor] = []                        # 0-d tensors
        self.keys: list[tuple[tuple[int, int], str]] = []   # (slot, stat) of each val
        self.hists: list[tuple[tuple[int, int], Tensor]] = []
        self.input_numel: dict[tuple[int, int], int] = {}
        self._positive: dict[int, tuple[Any, int, Tensor]] = {}  # id(output) -> (weakref, version, count)
        # precise mode: the bottom (input) of each call, for Caffe's backward lines
        self.bottoms: dict[tuple[int, int], tuple[str | None, int]] = {}  # slot -> (source label, numel)
        self._tops: dict[int, tuple[Any, int, str]] = {}  # id(output) -> (weakref, version, label)
        self._pending: dict[int, tuple[list, str | None, int]] = {}  # spec index -> (slot cell, source, numel)
        # with in-place modules: id(output) -> (weakref, slot, gen, fired cell) of its δ hook
        self._grad_hooks: dict[int, tuple[Any, tuple[int, int], int, list]] = {}
        self._cf = False

    def _make_hook(self, spec: ModuleSpec):
        def hook(module: nn.Module, args: tuple, output: Any) -> None:
            if self._recording():
                if self.extended:  # histograms/unit counts have data-dependent shapes: run them eagerly
                    _forward_eager(self, spec, args, output)
                else:
                    self._forward(spec, args, output)
        return hook

    def recording(self) -> bool:
        """Whether a forward pass now would be recorded (active, not silenced by an exclusive recorder,
        grad mode when ``grad_mode_only``)."""
        return self._recording()

    def _recording(self) -> bool:
        return (self.active and (_EXCLUSIVE[0] is None or _EXCLUSIVE[0] is self)
                and (not self.grad_mode_only or torch.is_grad_enabled()))

    def _make_pre_hook(self, spec: ModuleSpec):
        def pre_hook(module: nn.Module, args: tuple) -> tuple | None:
            if not (self.backward and self._recording() and args and isinstance(args[0], Tensor)):
                return None
            x = args[0]
            if not (x.is_floating_point() and x.requires_grad):
                return None
            if spec.inplace:
                self._keep_grad_hook(x)
            # a net input (a leaf) gets no diff in Caffe (its bottom does not need backward)
            if self.precise and x.grad_fn is not None:
                return self._bottom_hook(spec, args)
            return None
        return pre_hook

    @staticmethod
    def _pre_inplace_target(x: Tensor) -> Tensor | None:
        """Where a hook sees ∂L/∂x before an in-place op on x: x itself, or the base of a view of its
        whole base (an in-place op on a view drops the view's grad_fn, and hooks with it)."""
        if not x._is_view():
            return x
        base = x._base
        return base if base.numel() == x.numel() and base.requires_grad else None

    def _keep_grad_hook(self, x: Tensor) -> None:
        """x (a recorded output) is about to be modified in place: move its δ hook off a view."""
        entry = self._grad_hooks.get(id(x))
        if entry is None or entry[0]() is not x or not x._is_view():
            return
        target = self._pre_inplace_target(x)
        if target is not None:
            _, slot, gen, fired = entry
            target.register_hook(lambda g: self._backward(slot, gen, g, fired))

    def _bottom_hook(self, spec: ModuleSpec, args: tuple) -> tuple | None:
        x = args[0]
        top = self._tops.get(id(x))
        source = top[2] if top is not None and top[0]() is x and top[1] == x._version else None
        cell, gen = [None], self.gen
        if spec.inplace:  # the hook must sit on x as it is before the module overwrites it
            target, out = self._pre_inplace_target(x), None
            if target is None:
                return None
        else:
            # a fresh alias that only this module consumes: its gradient is this module's share of
            # ∂L/∂x (what Caffe's split layers give)
            target = alias = x.view_as(x)
            out = (alias,)
        target.register_hook(lambda g: self._bottom(cell, gen, g))
        self._pending[spec.index] = (cell, source, x.numel())
        return None if out is None else out + tuple(args[1:])

    def _bottom(self, cell: list, gen: int, g: Tensor) -> None:
        if gen != self.gen or cell[0] is None or g is None:
            return
        self.vals.append(g.detach().to(self.acc).abs().sum())
        self.keys.append((cell[0], "bl1"))

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Only this recorder records inside the block (an inspection of a model being watched)."""
        prev = _EXCLUSIVE[0]
        _EXCLUSIVE[0] = self
        try:
            yield
        finally:
            _EXCLUSIVE[0] = prev

    # --- recording ------------------------------------------------------------------------------
    def _forward(self, spec: ModuleSpec, args: tuple, output: Any) -> None:
        pending = self._pending.pop(spec.index, None)
        y = first_tensor(output)
        if y is None or not y.is_floating_point() or y.numel() == 0:
            return
        k = self.calls.get(spec.index, 0)
        self.calls[spec.index] = k + 1
        slot = (spec.index, k)
        self.slots.append(slot)
        if pending is not None:
            pending[0][0] = slot
            self.bottoms[slot] = pending[1:]
        if self.precise:
            self._tops[id(y)] = (weakref.ref(y), y._version, spec.name if k == 0 else f"{spec.name}#{k}")
        yd = y.detach()
        if spec.channels_first is None:
            cf = self._cf
        else:
            cf = self._cf = spec.channels_first
        ud = S.unit_dim(yd, cf)
        self.meta[slot] = (yd.numel(), yd.shape[0] if yd.dim() > 1 else 1, yd.shape[ud] if yd.dim() else 1)
        vals, keys, acc = self.vals, self.keys, self.acc
        if self.precise:  # one float64 copy; exact two-pass std
            yd = yd.to(acc)
            vals.append(yd.std(correction=0) if yd.numel() > 1 else yd.new_zeros(()))
            keys.append((slot, "std"))
        shift = slot not in self.unshifted
        if spec.nonneg and not self.precise:  # |y| = y: skip the abs pass (Σ|y| = n·mean)
            vals += S.grad_core(yd, acc, shift)
            keys += ((slot, "shift"), (slot, "sum"), (slot, "sq"))
        else:
            vals += S.core(yd, acc, shift)
            keys += ((slot, "shift"), (slot, "sum"), (slot, "sq"), (slot, "l1"))
        if self.extended:
            self._extended(spec, slot, yd, ud, args, y)
        if self.backward and y.requires_grad:
            gen, fired = self.gen, [False]
            y.register_hook(lambda g: self._backward(slot, gen, g, fired))
            if self._inplace:  # an in-place module may overwrite y next: see _keep_grad_hook
                self._grad_hooks[id(y)] = (weakref.ref(y), slot, gen, fired)

    def _extended(self, spec: ModuleSpec, slot: tuple[int, int], yd: Tensor, ud: int, args: tuple,
                  y: Tensor | None = None) -> None:
        # counts are exact int64 0-d tensors (count_nonzero is ~3× faster than sum(dtype=float32));
        # the owner converts them when it stacks the step's values
        vals, keys, acc = self.vals, self.keys, self.acc
        lo, hi = S.minmax(yd)
        positive = yd > 0
        pos = torch.count_nonzero(positive)
        vals += (lo.to(acc), hi.to(acc), pos, yd.numel() - pos if spec.nonneg else torch.count_nonzero(yd == 0))
        keys += ((slot, "min"), (slot, "max"), (slot, "pos"), (slot, "zero"))
        if y is not None:  # the positive count of the next layer's input, when that input is y
            self._positive[id(y)] = (weakref.ref(y), y._version, pos)
        shared = self.shared
        if shared is None:
            self.hists.append((slot, S.histogram(yd, lo, hi, self.bins)))
        else:  # DDP: binned at the step on the range shared by the ranks
            shared.defer_histogram(slot, yd, lo, hi)
            shared = shared if yd.dim() > 1 else None  # 1-d: per-unit statistics stay rank-local
        if spec.sat is not None:
            vals.append(S.saturated(yd, *spec.sat))
            keys.append((slot, "sat"))
        if spec.dead and shared is not None:
            shared.defer_dead(slot, positive, ud)
        elif spec.dead:
            vals.append(S.dead_units(yd, ud, positive).to(acc))
            keys.append((slot, "dead"))
        if spec.kind in ("linear", "conv", "activation") and yd.dim() >= 1:
            if shared is not None:
                shared.defer_distinct(slot, yd, ud)
            else:
                vals.append(S.distinct_units(yd, ud).to(acc))
                keys.append((slot, "distinct"))
        if spec.kind in ("linear", "conv"):
            x = first_tensor(args)
            if x is not None and x.is_floating_point() and x.numel():
                # the input is often an output recorded just before (same tensor, unmodified since)
                seen = self._positive.get(id(x))
                if seen is not None and seen[0]() is x and seen[1] == x._version:
                    vals.append(seen[2])
                else:
                    vals.append(torch.count_nonzero(x.detach() > 0))
                keys.append((slot, "in_pos"))
                self.input_numel[slot] = x.numel()

    def _backward(self, slot: tuple[int, int], gen: int, g: Tensor, fired: list) -> None:
        if gen != self.gen or g is None or fired[0]:
            return
        fired[0] = True
        if self.precise:  # one float64 copy; exact two-pass std and Σ|δ|
            g = g.to(self.acc)
            self.vals += (g.abs().sum(), g.std(correction=0) if g.numel() > 1 else g.new_zeros(()))
            self.keys += ((slot, "gl1"), (slot, "gstd"))
        self.vals += S.grad_core(g, self.acc, (slot, "g") not in self.unshifted)
        self.keys += ((slot, "gshift"), (slot, "gsum"), (slot, "gsq"))


# Under torch.compile the extended statistics would graph-break inside the hook (bincount, sort with a
# generator) and Dynamo would then compile ``_forward`` as a frame of its own, guarded on the length of
# the growing value lists: one recompile per call until its recompile limit. Running extended steps'
# hooks eagerly costs one graph break per hook on those steps only; core steps are traced into the graph.
_forward_eager = torch.compiler.disable(Recorder._forward, recursive=True)
