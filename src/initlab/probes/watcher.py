r"""Watching training: per-step, per-layer statistics at a few percent of the step time.

>>> import torch, initlab as il
>>> model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 1))
>>> opt = torch.optim.SGD(model.parameters(), lr=0.01)
>>> with il.watch(model, every=1, hist_every=5) as w:  # every step (the default: every 5th)
...     for _ in range(10):
...         opt.zero_grad()
...         model(torch.randn(32, 8)).pow(2).mean().backward()
...         opt.step()
...         w.step()
>>> a = w.arrays()
>>> a["std"].shape, a["layers"].tolist(), a["hist_counts"].shape
((10, 3), ['0', '1', '2'], (2, 3, 30))

How it stays cheap. Inside the hooks each output tensor is reduced to four numbers (a shift c =
its first entry, Σ(x − c), Σ(x − c)², Σ|x|) and each δ = ∂L/∂output to three, on the tensor's
device (the shift keeps std exact when |mean| ≫ std: see :mod:`initlab.probes.stats`). The shift
costs one more pass, so it is *planned*: from the first recorded step's row, every
``SHIFT_PLAN_EVERY`` recorded rows and at each flush, the sums (outputs, δ) of layers with |mean| ≤
``SHIFT_RATIO``·std skip it (Σx, Σx² only; c = 0) until a later plan sees a drift and shifts them
again (an unshifted variance that lost its digits reads as |mean|/std ≳ 10³). A plan reads one row:
on CPU directly, on CUDA by a non-blocking copy applied when it has arrived (never a wait; other
devices plan at flushes only). Σ|x| costs no pass where it follows from
sums taken anyway: Σ|x| = Σx for non-negative outputs (ReLU, sigmoid, …), and Σ|y| = 2·Σrelu(y) − Σy
for a linear/conv output that its ``nn.Sequential`` hands to an ``nn.ReLU`` (see
:func:`initlab.probes.specs.classify`); parameter gradients are reduced with one
``torch._foreach_norm``. At ``w.step()`` all of a step's scalars are
stacked into one row of a device buffer, in the order recorded (their places in the
(layer, statistic) grid are kept on the host). Apart from the plans' rows, nothing reads a value back (no ``.item()``,
``.cpu()``, ``.tolist()``) until ``flush_every`` rows are recorded or the history is read: a *flush*
then copies the rows to the host once and derives the statistics in float64 into the
:class:`~initlab.probes.history.History`. The buffer grows in chunks of at most ``CHUNK_ROWS`` rows
as steps are recorded, so its memory follows the recorded steps, not ``flush_every``
(``flush_every=10**9`` means "flush when I read"). Extended statistics (min/max, histograms,
zero/positive/saturated fractions, dead and distinct units, sign coherence) run only every
``hist_every`` steps. Weight/bias gradient norms and the update ratio ‖ΔW‖/‖W‖ (on at most
``UPDATE_ROWS`` = 64 sampled rows per weight; ``update_ratio=False`` turns it off) come from
:class:`~initlab.probes.params.ParamStats` at the step boundary. Steps that record
nothing cost only the hooks' calls (each returns at its first check).

Protocol: ``loss.backward(); opt.step(); w.step()`` — weight gradients are read at ``w.step()``, so call
``zero_grad()`` at the start of the next iteration, not before ``w.step()``. Forward passes under
``torch.no_grad()`` (validation) are not recorded.

The history (``w.arrays()``, ``w.save(path)``, ``Watcher.load``) is described in
:mod:`initlab.probes.history` and docs/CONTRACTS.md.

A model with repeated blocks (a transformer's layers, :func:`initlab.structure.residual_blocks`) also
gets its residual stream on the recorded steps (:class:`~initlab.probes.stream.StreamRecorder`: three
``var`` reductions per block on the device, copied at each flush): ``arrays()`` adds ``stream_steps``,
``stream_blocks``, ``stream_input_std``, ``stream_std`` and ``branch_ratio`` ((S, blocks)), and
:meth:`Watcher.findings` adds ``residual_growth`` read from the last recorded step. Attention entropy
and the stream gradient stay ``inspect``-only.

Under float16 AMP pass the loop's ``torch.amp.GradScaler`` (``grad_scaler=``): δ statistics are then
those of the unscaled loss (the scale each backward used is copied on the device at its first δ and
divided out at the flush).

Under DDP (``torch.distributed`` initialized, world size W > 1; ``distributed=`` overrides) the records
are those of one process over the global batch, merged by :mod:`initlab.probes.distributed` (δ of the
loss (1/W)·Σ_r L_r that DDP descends). Flushes and extended steps are collectives: ``w.step()``,
``w.flush()``, ``close()`` run on every rank in lockstep (out of step: a RuntimeError at the flush).
Reading (``arrays``, ``history``, ``summary``, ``findings``, ``save``) does not flush under DDP: it
returns what the last flush merged, on any rank, without waiting; ``save`` writes on rank 0 only.
"""
from __future__ import annotations

import math
import os
from functools import partial
from types import SimpleNamespace
from typing import Any, Callable, Mapping

import numpy as np
import torch
from torch import Tensor, nn

from ..formats import FORMAT_VERSION, STATS, HTMLReportMixin, write_npz
from . import distributed as D
from .buffers import RowStore
from .findings import Finding, Thresholds
from .history import History, StepRecord
from .hooks import Recorder
from .params import ParamStats
from .records import LayerStats
from .tensorboard import DEFAULT_STATS, write as tb_write
from .stream import STREAM_KEYS, StreamRecorder, block_stats
from .transformer_findings import diagnose_transformer
from .stats import derive, moments

__all__ = ["watch", "Watcher", "StepRecord", "STATS", "FORMAT_VERSION", "DEFAULT_EVERY", "DEFAULT_HIST_EVERY"]

# the defaults: core statistics every 5th step, extended ones every 50th (a multiple of 5, so every
# extended step is also a core step): ~1.02× the step time of the benchmark MLP on CPU, where
# every=1 costs ~1.05–1.09× (benchmarks/overhead.py); pass every=1 for a record of every step
DEFAULT_EVERY = 5
DEFAULT_HIST_EVERY = 50

# raw device columns per layer slot (per-module ones live in the slot of the module's first call)
_RAW = ("shift", "sum", "sq", "l1", "gshift", "gsum", "gsq", "min", "max", "zero", "pos", "sat", "dead",
        "distinct", "in_pos", "wgrad", "bgrad", "wnorm", "update", "coh", "gscale")
_RI = {k: i for i, k in enumerate(_RAW)}
CHUNK_ROWS = 128  # the device buffer grows by chunks of at most this many rows
SHIFT_RATIO = 10.0  # a layer whose |mean| ≤ this · std (at a plan) skips the shift until the next plan
DELTA_BYTES = 64 << 20  # DDP: a flush comes early once the kept δ's of batch-free outputs pass this
SHIFT_PLAN_EVERY = 16  # the shift is planned from the first recorded row, every this many rows, each flush
_NAN_MARK = float(torch.finfo(torch.float32).min)  # a recorded NaN in the host rows
_SUMS = {"shift": 0, "sum": 1, "sq": 2, "gshift": 0, "gsum": 1, "gsq": 2}


def _moderate(mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """|mean| ≤ SHIFT_RATIO·std (NaN/inf: False): then mean²/var ≤ 100 and float32 keeps ≥ 5 digits of
    the variance without the shift."""
    with np.errstate(invalid="ignore"):
        return np.abs(mean) <= SHIFT_RATIO * std


def _loss_scale(scaler: Any) -> Tensor | None:
    """The loss scale a GradScaler applies now, as its device tensor (``get_scale()`` would copy it to
    the host: a sync); None when the scaler is disabled or has not scaled yet."""
    if not scaler.is_enabled():
        return None
    scale = getattr(scaler, "_scale", None)
    return scale if isinstance(scale, Tensor) else None


def _pos_int(name: str, v: Any, allow_none: bool = False) -> int | None:
    if v is None and allow_none:
        return None
    if not isinstance(v, int) or isinstance(v, bool) or v < 1:
        raise ValueError(f"{name} must be a positive int{' or None' if allow_none else ''}, got {v!r}")
    return v


class Watcher(HTMLReportMixin):
    """Records layer statistics over training; use through :func:`watch` as a context manager.

    Recording (hooks, device buffers, flushes) lives here; the host history, its file and its
    reading (:meth:`arrays`, :meth:`save`, :meth:`load`, :attr:`history`, :meth:`summary`,
    :meth:`findings`) live in :class:`~initlab.probes.history.History` (``self.store``).
    """

    def __init__(self, model: nn.Module | None, *, every: int = DEFAULT_EVERY,
                 hist_every: int | None = DEFAULT_HIST_EVERY, flush_every: int = 100,
                 max_history: int | None = None, bins: int = 30, saturation_margin: float = 0.01,
                 update_ratio: bool = True, tensorboard: Any = None, distributed: bool | None = None,
                 grad_scaler: Any = None):
        model = D.unwrap(model)
        self._distributed, self._dist = distributed, None
        self.every = _pos_int("every", every)
        self.hist_every = _pos_int("hist_every", hist_every, allow_none=True)
        self.flush_every = _pos_int("flush_every", flush_every)
        self.max_history = _pos_int("max_history", max_history, allow_none=True)
        if self.max_history is not None and self.max_history < 2:
            raise ValueError(f"max_history must be at least 2, got {max_history!r}")
        self.bins = _pos_int("bins", bins)
        self.model = model
        self.step_count = 0
        self.store = History(bins=self.bins, max_history=self.max_history)
        self._rec = (Recorder(model, bins=bins, saturation_margin=saturation_margin, grad_mode_only=True)
                     if model is not None else None)
        self._params = ParamStats(self._rec.specs, update_ratio) if model is not None else None
        self._inside = False
        self._cols: dict[tuple[int, int], int] = {}  # slot -> layer column, in forward order
        self._rows = RowStore(_RAW, self.bins, min(self.flush_every, CHUNK_ROWS))  # until the next flush
        self._planned = 0  # rows recorded since the last shift plan
        self._plan_read: tuple | None = None  # a plan's row on its way to the host (CUDA)
        self._plan_host: Tensor | None = None  # its pinned host buffer
        self._stream = StreamRecorder(model, gate=self._rec.recording) if model is not None else None
        self._stream_loaded: dict[str, np.ndarray] = {}  # a loaded Watcher's stream arrays
        self._listeners: list[Callable[[dict[str, np.ndarray]], Any]] = []
        if tensorboard is not None:
            if not (callable(getattr(tensorboard, "add_scalar", None))
                    and callable(getattr(tensorboard, "add_histogram_raw", None))):
                raise ValueError("tensorboard must be a SummaryWriter (anything with add_scalar and "
                                 f"add_histogram_raw), got {type(tensorboard).__name__}")
            self.add_listener(lambda rows: tb_write(tensorboard, rows, stats=DEFAULT_STATS))
        if grad_scaler is not None:
            if not (callable(getattr(grad_scaler, "scale", None)) and callable(getattr(grad_scaler, "is_enabled", None))):
                raise ValueError("grad_scaler must be a torch.amp.GradScaler (anything with scale() and "
                                 f"is_enabled()), got {type(grad_scaler).__name__}")
            if self._rec is not None:
                self._rec.grad_scale = partial(_loss_scale, grad_scaler)

    def add_listener(self, fn: Callable[[dict[str, np.ndarray]], Any]) -> None:
        """Call ``fn(rows)`` after each flush with the rows just flushed: a dict with the keys of
        :meth:`arrays` (``layers``, ``steps``, ``batch_size``, every statistic, ``hist_steps``,
        ``hist_counts``, ``hist_edges``) holding only the new rows (before ``max_history`` thinning).
        This is how ``watch(..., tensorboard=writer)`` logs while training. Under DDP: the merged rows,
        on rank 0 only."""
        if not callable(fn):
            raise ValueError(f"fn must be callable, got {type(fn).__name__}")
        self._listeners.append(fn)

    # --- context manager -------------------------------------------------------------------------
    def __enter__(self) -> "Watcher":
        if self._rec is None:
            raise ValueError("this Watcher was loaded from a file; it has no model to watch")
        if self._inside:
            raise ValueError("this Watcher is already active")
        self._dist = D.world(self._distributed)
        if self._dist is not None:
            self._rec.shared = D.ExtendedSync(self._dist)
            self._stream.moments = True
        self._rec.install()
        self._stream.install()
        self._params.refresh(self._layer_keys())
        self._inside = True
        self._arm(self.step_count)
        return self

    def __exit__(self, exc_type: Any, *exc: Any) -> None:
        self.close(flush=exc_type is None or self._dist is None)

    def close(self, flush: bool = True) -> None:
        """Remove the hooks and flush (also called on leaving the ``with`` block, even on error; under
        DDP not on error, where the flush would wait for the other ranks)."""
        if self._rec is not None:
            self._rec.remove()
            self._stream.remove()
        self._inside = False
        if self._params is not None:
            self._params.reset()
        if flush:
            self.flush()

    def _records(self, s: int) -> tuple[bool, bool]:
        """(recorded, extended) for step ``s``."""
        ext = self.hist_every is not None and s % self.hist_every == 0
        return ext or s % self.every == 0, ext

    def _arm(self, s: int) -> None:
        """Decide whether step ``s`` (the next forward/backward) is recorded; snapshot if so."""
        rec = self._rec
        rec.active, rec.extended = self._records(s)
        self._stream.active = rec.active
        if rec.active:
            self._params.snapshot()

    def _layer_keys(self) -> dict[int, dict[str, tuple]]:
        """Spec index → the keys of its first call's slot, for the layers that have a column."""
        kts = self._rec.slot_keys
        return {sl[0]: kts(sl) for sl in self._cols if sl[1] == 0}

    # --- recording --------------------------------------------------------------------------------
    def step(self) -> None:
        """Mark the end of a training step (after ``opt.step()``)."""
        if not self._inside:
            raise ValueError("call w.step() inside `with il.watch(model) as w:`")
        rec = self._rec
        if rec.active and rec.slots:
            rec.finish()
            if rec.extended and rec.shared is not None:
                rec.shared.finish(rec)  # DDP: the extended step's one collective
            self._record(self.step_count, rec.extended)
        if rec.active:
            self._stream.record(self.step_count)
            rec.new_frame()  # an inactive step records nothing: its frame stays empty
        if rec.shared is not None:
            rec.shared.clear()
        self.step_count += 1
        self._arm(self.step_count)

    def _add_columns(self) -> None:
        rec, cols = self._rec, self._cols
        if len(rec.slots) <= len(cols) and all(sl in cols for sl in rec.slots):
            return
        for sl in rec.slots:
            if sl not in cols:
                spec = rec.specs[sl[0]]
                cols[sl] = self.store.add_layer(spec.name if sl[1] == 0 else f"{spec.name}#{sl[1]}",
                                                spec.kind, spec.module_type, spec.activation,
                                                spec.fan_in, spec.fan_out, spec.activation_spec)
        self._params.refresh(self._layer_keys())

    def _record(self, s: int, extended: bool) -> None:
        rec, cols = self._rec, self._cols
        self._add_columns()
        vals, keys = rec.vals, rec.keys  # the frame's lists (new_frame replaces them next)
        self._params.record(vals, keys, extended, ahead=self._records(s + 1)[0])
        if not vals:
            return
        row = self._rows.add(s, vals, keys, cols, rec.meta, rec.input_numel, rec.meta[rec.slots[0]][1],
                             rec.hists if extended else None)
        self._plan_from(row, keys, rec.meta)
        shared = rec.shared
        if shared is not None:  # DDP: batch-free δ's wait for the flush (which comes sooner past DELTA_BYTES)
            shared.keep_deltas(len(self._rows) - 1)
        if len(self._rows) >= self.flush_every or (shared is not None and shared.pending_bytes > DELTA_BYTES):
            self.flush()

    def _plan_from(self, row: Tensor, keys: list, meta: Mapping) -> None:
        """Plan the shift from the first recorded row and every ``SHIFT_PLAN_EVERY`` rows: a read of
        one row on CPU; on CUDA a non-blocking copy, applied once it has arrived (never a wait); on
        other devices only the flushes plan."""
        pending = self._plan_read
        if pending is not None and pending[0].query():  # CUDA: the row asked for earlier is here
            self._plan_read = None
            self._plan_row(pending[1].numpy(), pending[2], pending[3])
        self._planned += 1
        if self._planned != 1 and self._planned <= SHIFT_PLAN_EVERY:
            return
        self._planned = 1
        if row.device.type == "cpu":  # reading host memory waits for nothing
            self._plan_row(row.numpy(), keys, meta)
        elif row.device.type == "cuda" and self._plan_read is None:
            if self._plan_host is None or self._plan_host.numel() < row.numel():  # pinned once, reused
                self._plan_host = torch.empty(2 * row.numel(), dtype=row.dtype, pin_memory=True)
            host = self._plan_host[:row.numel()]
            host.copy_(row, non_blocking=True)
            event = torch.cuda.Event()
            event.record()
            self._plan_read = (event, host, keys, meta)

    def _plan_row(self, v: np.ndarray, keys: list, meta: Mapping) -> None:
        """Which sums skip the shift from now on: those (outputs, δ) of the row's layers whose
        |mean| ≤ ``SHIFT_RATIO``·std (then mean²/var ≤ 100 and float32 keeps ≥ 5 digits of the
        variance); the others are shifted."""
        sums: dict[Any, list[float]] = {}  # slot (outputs) or (slot, "g") (δ) → (c, Σ(x − c), Σ(x − c)²)
        for x, (sl, k) in zip(v.tolist(), keys):
            j = _SUMS.get(k)
            if j is not None:
                sums.setdefault((sl, "g") if k[0] == "g" else sl, [0.0, math.nan, math.nan])[j] = x
        names = list(sums)
        c, t, q = np.array([sums[k] for k in names], np.float64).reshape(-1, 3).T
        n = np.array([meta[k[0] if k[1] == "g" else k][0] for k in names], np.float64)
        mean, var = moments(c, t, q, n)
        self._rec.unshifted = {k for k, ok in zip(names, _moderate(mean, np.sqrt(var))) if ok}

    # --- host side --------------------------------------------------------------------------------
    def flush(self) -> None:
        """Copy the recorded rows to the host history (the only place values are read back). Under DDP
        a collective that merges the ranks' rows: call it on every rank at the same point."""
        if self._inside:
            self._params.refresh(self._layer_keys())  # (the parameters are looked up again at each flush)
        if self._dist is None:
            if self._stream is not None:
                self._stream.flush()
            if self._rows:
                self._commit(self._take())
            return
        p = self._take()
        p["ssteps"], p["stream"] = self._stream.take()
        steps = p["steps"]
        shared = self._rec.shared
        header = (len(steps), len(self._cols), len(p["hsteps"]), len(p["ssteps"]), p["stream"].shape[2],
                  steps[0] if len(steps) else -1, steps[-1] if len(steps) else -1, D.fingerprint(self.store.labels),
                  shared.pending_numel)
        free = sorted(self._cols[sl] for sl in shared.free or () if sl in self._cols)
        p = D.combine(self._dist, p, header, _RAW, _NAN_MARK, free,
                      checked=lambda q: shared.merge_deltas(q["data"], self._cols, _RI))
        if len(p["ssteps"]):
            self._stream.append(p["ssteps"], p["stream"])
        if len(steps):
            self._commit(p)

    def _take(self) -> dict[str, np.ndarray]:
        """The rows recorded since the last flush, on the host (:meth:`RowStore.take`), the shift of
        unshifted sums (left out by the hooks) filled in as 0."""
        p = self._rows.take(len(self._cols), _NAN_MARK)
        data = p["data"]
        for c, s in (("shift", "sum"), ("gshift", "gsum")):
            shift = data[..., _RI[c]]
            shift[np.isnan(shift) & ~np.isnan(data[..., _RI[s]])] = 0.0
        scale = data[..., _RI["gscale"]]  # AMP: the loss scale of each row's backward, in one column
        if (~np.isnan(scale)).any():
            s = np.where(np.isnan(scale) | (scale == _NAN_MARK), -np.inf, scale).max(axis=1, keepdims=True)
            s = np.where(np.isfinite(s) & (s > 0), s, 1.0)
            for k, power in (("gshift", 1), ("gsum", 1), ("gsq", 2)):
                v = data[..., _RI[k]]
                ok = ~np.isnan(v) & (v != _NAN_MARK)
                v[ok] = (v / s ** power)[ok]  # δ of the unscaled loss
        return p

    def _commit(self, p: Mapping[str, Any]) -> None:
        """Derive the statistics of :meth:`_take`'s rows (merged over the ranks under DDP) into the history."""
        data, n, in_n, L, B = p["data"], p["n"], p["in_n"], len(self._cols), self.bins
        present = ~np.isnan(data)
        data[data == _NAN_MARK] = np.nan
        raw = {k: data[..., _RI[k]] for k in _RAW}
        nonneg = np.zeros(L, bool)
        for sl, c in self._cols.items():
            nonneg[c] = self._rec.specs[sl[0]].nonneg
        # Σ|y| = Σy = n·c + Σ(y − c) where the hooks skipped the abs pass
        raw["l1"] = np.where(nonneg[None, :] & present[..., _RI["sum"]], n * raw["shift"] + raw["sum"], raw["l1"])
        st = derive(raw, n, in_n, present[..., _RI["sum"]], present[..., _RI["gsq"]])
        with np.errstate(invalid="ignore", divide="ignore"):
            st["weight_grad_norm"] = raw["wgrad"]
            st["bias_grad_norm"] = raw["bgrad"]
            st["update_ratio"] = raw["update"] / raw["wnorm"]
            st["sign_coherence"] = raw["coh"]
        self._plan_shifts(st)
        new = {"layers": np.array(self.store.labels, dtype=str), "steps": p["steps"],
               "batch_size": np.asarray(p["batch"]).astype(np.int64), **{k: st[k] for k in STATS},
               "hist_steps": np.zeros(0, np.int64)}
        self.store.append(new["steps"], new["batch_size"], {k: st[k] for k in STATS})
        if len(p["hsteps"]):
            lo, hi = st["min"][p["hrows"]], st["max"][p["hrows"]]  # (H, L)
            with np.errstate(invalid="ignore"):
                edges = lo[..., None] + (hi - lo)[..., None] * np.linspace(0.0, 1.0, B + 1)
            new.update(hist_steps=p["hsteps"], hist_counts=p["counts"], hist_edges=edges)
            self.store.append_hists(p["hsteps"], p["counts"], edges)
        if self._dist is None or self._dist.rank == 0:  # under DDP only rank 0 writes
            for fn in self._listeners:
                fn(new)

    def _plan_shifts(self, st: Mapping[str, np.ndarray]) -> None:
        """Which sums skip the shift until the next plan: those of layers (outputs, δ) that are
        :func:`_moderate` on every row just flushed (a drift shows here, where an unshifted variance that
        lost its digits reads as |mean|/std ≳ 10³ and turns the shift on)."""
        def moderate(mean: np.ndarray, std: np.ndarray) -> np.ndarray:
            rec = ~np.isnan(mean)
            return (_moderate(mean, std) | ~rec).all(axis=0) & rec.any(axis=0)

        fwd, bwd = moderate(st["mean"], st["std"]), moderate(st["grad_mean"], st["grad_std"])
        self._rec.unshifted = ({sl for sl, c in self._cols.items() if fwd[c]}
                               | {(sl, "g") for sl, c in self._cols.items() if bwd[c]})

    @property
    def buffer_bytes(self) -> int:
        """Bytes of device memory the row buffers hold now (they grow with the recorded steps)."""
        return self._rows.nbytes

    # --- reading (the History, flushed first) -----------------------------------------------------
    def _read(self) -> None:
        """Flush before a read, except under DDP (a flush is a collective there; reads see what the
        last collective flush merged)."""
        if self._dist is None:
            self.flush()

    @property
    def layers(self) -> list[str]:
        """Layer labels (``name`` or ``name#k`` for a module's k-th call in a step), forward order."""
        return self.store.layers

    def arrays(self) -> dict[str, np.ndarray]:
        """The history as the CONTRACTS npz arrays (experiments store them under ``"{variant}/"``),
        plus the residual stream's arrays when the model has repeated blocks."""
        self._read()
        return {**self.store.arrays(), **self.stream_arrays()}

    def stream_arrays(self) -> dict[str, np.ndarray]:
        """The residual stream per recorded step and block ({} without repeated blocks)."""
        if self._stream is not None and self._stream.blocks:
            return self._stream.arrays()
        return dict(self._stream_loaded)

    def save(self, path: str | os.PathLike) -> str:
        """Write :meth:`arrays` to an ``.npz`` file, atomically (``.npz`` is appended if missing);
        returns the path. Under DDP only rank 0 writes (the others return the path)."""
        p = os.fspath(path)
        p = p if p.endswith(".npz") else p + ".npz"
        if self._dist is None or self._dist.rank == 0:
            write_npz(p, self.arrays())
        return p

    @classmethod
    def load(cls, path: str | os.PathLike, prefix: str = "") -> "Watcher":
        """A detached Watcher (no model) holding the history saved by :meth:`save`.

        ``prefix`` selects one variant of a run's ``history.npz`` (e.g. ``"he/"``).
        """
        return cls.from_arrays(History.read(path), prefix)

    @classmethod
    def from_arrays(cls, a: Mapping[str, np.ndarray], prefix: str = "") -> "Watcher":
        """A detached Watcher from :meth:`arrays` (keys starting with ``prefix``, which is removed)."""
        store = History.from_arrays(a, prefix)
        w = cls(None, bins=store.bins)
        w.store = store
        w._stream_loaded = {k: np.asarray(a[prefix + k]) for k in STREAM_KEYS if prefix + k in a}
        w.step_count = int(store.steps[-1]) + 1 if len(store.steps) else 0
        return w

    @property
    def history(self) -> list[StepRecord]:
        """Per-step, per-layer records (``None`` where a statistic was not recorded that step)."""
        self._read()
        return self.store.records()

    def summary(self, window: int = 20) -> list[LayerStats]:
        """Per-layer records over the last ``window`` steps (:meth:`History.summary`)."""
        self._read()
        return self.store.summary(window)

    def findings(self, thresholds: Thresholds | Mapping[str, float] | None = None,
                 window: int = 20) -> list[Finding]:
        """The diagnosis over the window (see :meth:`summary`), plus the first non-finite step, plus
        ``residual_growth`` from the residual stream of the last recorded step."""
        self._read()
        blocks = block_stats(self.stream_arrays())
        return self.store.findings(thresholds, window, blocks) + [  # (no attention or logits here)
            f for f in diagnose_transformer(SimpleNamespace(blocks=blocks), thresholds) if f.kind == "residual_growth"]

    def __repr__(self) -> str:
        return (f"Watcher(layers={len(self.store.labels)}, "
                f"steps_recorded={len(self.store.steps) + len(self._rows)}, every={self.every}, "
                f"hist_every={self.hist_every}, flush_every={self.flush_every})")


def watch(model: nn.Module, *, every: int = DEFAULT_EVERY, hist_every: int | None = DEFAULT_HIST_EVERY,
          flush_every: int = 100, max_history: int | None = None, bins: int = 30, saturation_margin: float = 0.01,
          update_ratio: bool = True, tensorboard: Any = None, distributed: bool | None = None,
          grad_scaler: Any = None) -> Watcher:
    """A :class:`Watcher` on ``model``: ``with il.watch(model) as w: …; opt.step(); w.step()``.

    Args:
        every: record the core statistics every ``every`` steps (steps 0, every, 2·every, …; default
            5: ``every=1`` records every step at a few times the cost, see :data:`DEFAULT_EVERY`).
        hist_every: record the extended statistics (and histograms) every ``hist_every`` steps (None:
            never); an extended step is recorded whatever ``every`` says.
        flush_every: copy the recorded rows to the host after this many recorded steps (the device
            buffer grows with the rows actually recorded; ``10**9``: only when the history is read).
        max_history: keep at most this many host rows (the oldest are thinned); None keeps all.
        bins: histogram bins.
        saturation_margin: see :func:`initlab.probes.inspect`.
        update_ratio: record ‖ΔW‖/‖W‖ (costs one copy of the weights on recorded steps).
        tensorboard: a ``torch.utils.tensorboard.SummaryWriter``: at each flush, the new rows' per-layer
            scalars (``layer/stat`` tags, :data:`initlab.probes.tensorboard.DEFAULT_STATS`) and output
            histograms (``add_histogram_raw`` from the device-computed counts) are written to it
            (:mod:`initlab.probes.tensorboard`); nothing is read back between flushes, so the plots
            advance every ``flush_every`` recorded steps (lower it to see them sooner).
        distributed: merge the records of the ranks of a data-parallel run (None: when
            ``torch.distributed`` is initialized with world size > 1; see the module docs).
        grad_scaler: the ``torch.amp.GradScaler`` of a float16 mixed-precision loop: δ is then that of
            the unscaled loss (each recorded step's δ statistics divided by the scale its backward
            used, read on the device at the step's first δ; without it they carry the scale).
    """
    return Watcher(model, every=every, hist_every=hist_every, flush_every=flush_every,
                   max_history=max_history, bins=bins, saturation_margin=saturation_margin,
                   update_ratio=update_ratio, tensorboard=tensorboard,
                   distributed=distributed, grad_scaler=grad_scaler)
