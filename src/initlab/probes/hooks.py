"""Forward/gradient hooks that reduce each module call to a few device scalars.

:func:`~initlab.probes.specs.classify` finds the modules to probe (Linear, Conv, norm layers,
activation modules, Embedding, ``nn.MultiheadAttention`` as a whole: its ``out_proj`` is never called as
a module); a :class:`Recorder` hooks them and, while ``active``, appends for every call the raw
reductions of :mod:`initlab.probes.stats` to one flat list of 0-d tensors (``vals``) with their
``(slot, stat)`` keys, where ``slot = (module index, call index)``. δ = ∂L/∂output comes from a tensor
hook registered on the output during the forward pass (it sees δ of the value the module returned,
even when an in-place activation modifies that tensor afterwards; when that output is a view, whose
hooks an in-place op would drop, a forward pre-hook of the in-place module moves the hook to the
view's base first). In precise mode (inspection) a forward pre-hook also records Caffe's *bottom
diff*, ∂L/∂input through this module alone. Nothing here reads a value back from the device; the owner (:func:`~initlab.probes.inspection.inspect`,
:class:`~initlab.probes.watcher.Watcher`) stacks ``vals`` once per step.

Watching (not precise), a linear/conv output y that its ``nn.Sequential`` passes to an out-of-place
``nn.ReLU`` (``ModuleSpec.relu_next``) gets Σ|y| = 2·Σrelu(y) − Σy from the ReLU's hook, which sums
relu(y) anyway: one pass less per such layer. It applies only while that Sequential runs and both sums
are unshifted, on core steps (never under ``torch.compile``); when another hook comes first, y's own abs pass
runs then (y unmodified since, by its version counter), and the owner calls :meth:`Recorder.finish`
before reading ``vals``.

Hooks are always removed by :meth:`Recorder.remove` (the owners call it in ``finally``).
"""
from __future__ import annotations

import weakref
from contextlib import contextmanager
from functools import partial
from typing import Any, Iterator

import torch
from torch import Tensor, nn

from . import stats as S
from .specs import ModuleSpec, classify, first_tensor

__all__ = ["ModuleSpec", "Recorder", "classify", "first_tensor"]


_EXCLUSIVE: list["Recorder | None"] = [None]  # a recorder that silences all others while set
_KEY_NAMES = ("std", "shift", "sum", "sq", "l1", "gshift", "gsum", "gsq", "gl1", "gstd", "bl1", "min", "max",
              "pos", "zero", "sat", "dead", "distinct", "in_pos", "wgrad", "bgrad", "wnorm", "update", "coh", "gscale")


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
        # AMP (set by the Watcher): returns the loss scale of this backward as a device tensor (or None);
        # read once per frame at the first δ, recorded as "gscale" for the owner to divide δ by
        self.grad_scale: Any = None
        self.acc = torch.float64 if precise else S.ACC
        self.active = False
        self.extended = False
        self.backward = True
        self.handles: list[Any] = []
        self.gen = 0
        self._keys: dict[tuple[int, int], dict[str, tuple]] = {}  # slot -> its keys (see slot_keys)
        self.new_frame()

    # --- lifecycle ------------------------------------------------------------------------------
    def install(self) -> None:
        for spec in self.specs:
            self.handles.append(spec.module.register_forward_hook(self._make_hook(spec)))
            # before the call: Caffe's bottom diffs (precise), and δ hooks an in-place module would lose
            if self.precise or spec.inplace:
                self.handles.append(spec.module.register_forward_pre_hook(self._make_pre_hook(spec)))
        if not self.precise:  # which Sequentials with linear/conv → ReLU pairs are running now
            for seq in {id(sp.relu_seq): sp.relu_seq for sp in self.specs if sp.relu_seq is not None}.values():
                self.handles.append(seq.register_forward_pre_hook(partial(self._seq_enter, id(seq), 1)))
                self.handles.append(seq.register_forward_hook(partial(self._seq_enter, id(seq), -1)))

    def _seq_enter(self, key: int, step: int, module: nn.Module, *args: Any) -> None:
        if self.active and not torch.compiler.is_compiling():  # (active is constant during a forward)
            self._running[key] = self._running.get(key, 0) + step

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
        self._last: tuple | None = None  # the last extended output: (weakref, version, y > 0, count, min, max)
        # precise mode: the bottom (input) of each call, for Caffe's backward lines
        self.bottoms: dict[tuple[int, int], tuple[str | None, int]] = {}  # slot -> (source label, numel)
        self._tops: dict[int, tuple[Any, int, str]] = {}  # id(output) -> (weakref, version, label)
        self._pending: dict[int, tuple[list, str | None, int]] = {}  # spec index -> (slot cell, source, numel)
        # with in-place modules: id(output) -> (weakref, slot, gen, fired cell) of its δ hook
        self._grad_hooks: dict[int, tuple[Any, tuple[int, int], int, list]] = {}
        self._cf = False
        self._scaled = False  # the frame's loss scale has been read
        self._running: dict[int, int] = {}  # id(Sequential) -> calls in progress
        # a linear/conv output whose Σ|y| waits for its ReLU: (ReLU index, y, y._version, Σy, key)
        self._deferred: tuple[int | None, Tensor, int, Tensor, tuple] | None = None

    def _make_hook(self, spec: ModuleSpec):
        forward = self._forward

        def hook(module: nn.Module, args: tuple, output: Any) -> None:
            # the checks of recording(), inlined: this runs for every probed module call
            if self.active and (_EXCLUSIVE[0] is None or _EXCLUSIVE[0] is self) and (
                    not self.grad_mode_only or torch.is_grad_enabled()):
                if self.extended or torch.compiler.is_compiling():  # under torch.compile: eagerly
                    _forward_eager(self, spec, args, output)
                else:
                    forward(spec, args, output)
        return hook

    def recording(self) -> bool:
        """Whether a forward pass now would be recorded (active, not silenced by an exclusive recorder,
        grad mode when ``grad_mode_only``)."""
        return (self.active and (_EXCLUSIVE[0] is None or _EXCLUSIVE[0] is self)
                and (not self.grad_mode_only or torch.is_grad_enabled()))

    def _make_pre_hook(self, spec: ModuleSpec):
        def pre_hook(module: nn.Module, args: tuple) -> tuple | None:
            if not (self.backward and self.recording() and args and isinstance(args[0], Tensor)):
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
            target.register_hook(partial(self._backward, slot, gen, fired))

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
    def slot_keys(self, slot: tuple[int, int]) -> dict[str, tuple]:
        """The (slot, stat) keys of ``slot``, made once: the same objects every frame, so that an
        owner comparing a frame's keys with the last frame's compares identities."""
        kt = self._keys.get(slot)
        if kt is None:
            kt = self._keys[slot] = {k: (slot, k) for k in _KEY_NAMES}
            kt["core3"] = (kt["shift"], kt["sum"], kt["sq"])
            kt["sums"] = (kt["sum"], kt["sq"])
            kt["grad"] = (kt["gshift"], kt["gsum"], kt["gsq"])
            kt["gsums"] = (kt["gsum"], kt["gsq"])
        return kt

    def _forward(self, spec: ModuleSpec, args: tuple, output: Any) -> None:
        relu_of = self._settle(spec, args) if self._deferred is not None else None
        pending = self._pending.pop(spec.index, None) if self._pending else None
        y = output if isinstance(output, Tensor) else first_tensor(output)
        if y is None or not y.is_floating_point():
            return
        numel = y.numel()
        if numel == 0:
            return
        i = spec.index
        k = self.calls.get(i, 0)
        self.calls[i] = k + 1
        slot = (i, k)
        kt = self._keys.get(slot) or self.slot_keys(slot)
        self.slots.append(slot)
        if pending is not None:
            pending[0][0] = slot
            self.bottoms[slot] = pending[1:]
        if self.precise:
            self._tops[id(y)] = (weakref.ref(y), y._version, spec.name if k == 0 else f"{spec.name}#{k}")
        yd = y.detach()
        cf = self._cf if spec.channels_first is None else spec.channels_first
        self._cf = cf
        shape = yd.shape
        nd = len(shape)
        ud = S.unit_dim(yd, cf)
        self.meta[slot] = (numel, shape[0] if nd > 1 else 1, shape[ud] if nd else 1)
        vals, keys, acc = self.vals, self.keys, self.acc
        if self.precise:  # one float64 copy; exact two-pass std
            yd = yd.to(acc)
            vals.append(yd.std(correction=0) if numel > 1 else yd.new_zeros(()))
            keys.append(kt["std"])
        shift = slot not in self.unshifted
        if shift:  # (c, Σ(y − c), Σ(y − c)²); unshifted: (Σy, Σy²), the shift left out (c = 0)
            c, s, sq = S.grad_core(yd, acc)
            vals += (c, s, sq)
            keys += kt["core3"]
        else:
            s, sq = S.sums(yd, acc)
            vals += (s, sq)
            keys += kt["sums"]
        if self.precise or not (spec.nonneg or spec.relu_next is not None):
            vals.append(S.abs_sum(yd, acc))
            keys.append(kt["l1"])
        else:
            # nonneg: |y| = y, Σ|y| = n·mean (no abs pass); before an nn.ReLU: Σ|y| = 2·Σrelu(y) − Σy
            if relu_of is not None:  # this is the ReLU of a deferred layer (unshifted: s = Σrelu(y))
                vals.append(torch.lerp(relu_of[0], s, 2.0))  # Σ|y| = Σy + 2·(Σrelu(y) − Σy)
                keys.append(relu_of[1])
            if not spec.nonneg:
                # not on extended steps: under torch.compile their hooks run eagerly (_forward_eager)
                if (shift or self.extended or not self._running.get(id(spec.relu_seq))
                        or torch.compiler.is_compiling()):
                    vals.append(S.abs_sum(yd, acc))
                    keys.append(kt["l1"])
                else:
                    self._deferred = (spec.relu_next, y, y._version, s, kt["l1"])
        if self.extended:
            self._extended(spec, slot, kt, yd, ud, args, y)
        if self.backward and y.requires_grad:
            fired = [False]
            y.register_hook(partial(self._backward, slot, self.gen, fired))
            if self._inplace:  # an in-place module may overwrite y next: see _keep_grad_hook
                self._grad_hooks[id(y)] = (weakref.ref(y), slot, self.gen, fired)

    def _settle(self, spec: ModuleSpec | None, args: tuple = ()) -> tuple[Tensor, tuple] | None:
        """Record Σ|y| of the deferred linear/conv output y (``ModuleSpec.relu_next``; module docs).

        From the ReLU's sums when ``spec`` is its ReLU called on y unmodified and unshifted (the ReLU's
        hook then appends Σrelu(y) and this adds 2·Σrelu(y) − Σy); else from y itself when y is
        unmodified since its hook (another hook came first, or the frame ended); else (y was changed in
        place in between, which a plain Sequential never does) Σ|y| is not recorded for this call.
        """
        target, y, version, s, key = self._deferred
        self._deferred = None
        if y._version != version:
            return None
        if (spec is not None and spec.index == target and args and args[0] is y
                and (spec.index, self.calls.get(spec.index, 0)) in self.unshifted):
            return s, key
        self.vals.append(S.abs_sum(y.detach(), self.acc))
        self.keys.append(key)
        return None

    def finish(self) -> None:
        """Close the frame's pending work (the owner calls it before reading ``vals``)."""
        if self._deferred is not None:
            self._settle(None)

    def _extended(self, spec: ModuleSpec, slot: tuple[int, int], kt: dict[str, tuple], yd: Tensor, ud: int,
                  args: tuple, y: Tensor | None = None) -> None:
        # counts are exact int64 0-d tensors (count_nonzero is ~3× faster than sum(dtype=float32));
        # the owner converts them when it stacks the step's values
        vals, keys, acc = self.vals, self.keys, self.acc
        last, self._last = self._last, None
        x0 = args[0] if args and spec.act is not None and spec.act.name == "relu" else None
        if last is not None and x0 is not None and last[0]() is x0 and last[1] == x0._version:
            # nn.ReLU of the output recorded just before: relu(x) > 0 ⇔ x > 0, min/max = max(·, 0)
            positive, pos, lo, hi = last[2], last[3], last[4].clamp_min(0), last[5].clamp_min(0)
        else:
            lo, hi = S.minmax(yd)
            positive = yd > 0
            pos = torch.count_nonzero(positive)
        # zeros: n − count_nonzero(y) (one pass, no mask: ~3× faster than count_nonzero(y == 0); same
        # semantics: NaN ≠ 0, −0 = 0)
        vals += (lo.to(acc), hi.to(acc), pos, yd.numel() - (pos if spec.nonneg else torch.count_nonzero(yd)))
        keys += (kt["min"], kt["max"], kt["pos"], kt["zero"])
        if y is not None:  # the positive count of the next layer's input, when that input is y
            ref = weakref.ref(y)
            self._positive[id(y)] = (ref, y._version, pos)
            self._last = (ref, y._version, positive, pos, lo, hi)  # for its nn.ReLU
        shared = self.shared
        if shared is None:
            self.hists.append((slot, S.histogram(yd, lo, hi, self.bins)))
        else:  # DDP: binned at the step on the range shared by the ranks
            shared.defer_histogram(slot, yd, lo, hi)
            shared = shared if yd.dim() > 1 else None  # 1-d: per-unit statistics stay rank-local
        if spec.sat is not None:
            vals.append(S.saturated(yd, *spec.sat))
            keys.append(kt["sat"])
        if spec.dead and shared is not None:
            shared.defer_dead(slot, positive, ud)
        elif spec.dead:
            vals.append(S.dead_units(yd, ud, positive).to(acc))
            keys.append(kt["dead"])
        if spec.kind in ("linear", "conv", "activation") and yd.dim() >= 1:
            if shared is not None:
                shared.defer_distinct(slot, yd, ud)
            else:
                vals.append(S.distinct_units(yd, ud).to(acc))
                keys.append(kt["distinct"])
        if spec.kind in ("linear", "conv"):
            x = first_tensor(args)
            if x is not None and x.is_floating_point() and x.numel():
                # the input is often an output recorded just before (same tensor, unmodified since)
                seen = self._positive.get(id(x))
                if seen is not None and seen[0]() is x and seen[1] == x._version:
                    vals.append(seen[2])
                else:
                    vals.append(torch.count_nonzero(x.detach() > 0))
                keys.append(kt["in_pos"])
                self.input_numel[slot] = x.numel()

    def _backward(self, slot: tuple[int, int], gen: int, fired: list, g: Tensor) -> None:
        if gen != self.gen or g is None or fired[0]:
            return
        fired[0] = True
        kt = self._keys[slot]
        if self.grad_scale is not None and not self._scaled:
            self._scaled = True
            scale = self.grad_scale()
            if scale is not None:  # a copy: the scaler updates its tensor in place after the step
                self.vals.append(scale.detach().to(torch.float32, copy=True).reshape(()))
                self.keys.append(kt["gscale"])
        if self.shared is not None and slot in self.shared.batch_free(self.meta):
            self.shared.defer_delta(slot, g)  # DDP: averaged over the ranks at the flush
            return
        if self.precise:  # one float64 copy; exact two-pass std and Σ|δ|
            g = g.to(self.acc)
            self.vals += (g.abs().sum(), g.std(correction=0) if g.numel() > 1 else g.new_zeros(()))
            self.keys += (kt["gl1"], kt["gstd"])
        if (slot, "g") in self.unshifted:
            self.vals += S.sums(g, self.acc)
            self.keys += kt["gsums"]
        else:
            self.vals += S.grad_core(g, self.acc)
            self.keys += kt["grad"]


# Extended steps, and every recorded step under torch.compile, run the hook eagerly. Traced, a graph
# break inside it (the histogram's bincount, a sort with a generator; the δ hook's cell mutated inside
# autograd's hook on ReLU models) made Dynamo compile ``_forward`` as a frame of its own, guarded on the
# length of the growing value lists: one recompile per call until its recompile limit. Eager, it costs
# one graph break per probed module on recorded steps.
_forward_eager = torch.compiler.disable(Recorder._forward, recursive=True)
