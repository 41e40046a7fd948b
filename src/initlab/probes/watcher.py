r"""Watching training: per-step, per-layer statistics at a few percent of the step time.

>>> import torch, initlab as il
>>> model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 1))
>>> opt = torch.optim.SGD(model.parameters(), lr=0.01)
>>> with il.watch(model, hist_every=5) as w:
...     for _ in range(10):
...         opt.zero_grad()
...         model(torch.randn(32, 8)).pow(2).mean().backward()
...         opt.step()
...         w.step()
>>> a = w.arrays()
>>> a["std"].shape, a["layers"].tolist(), a["hist_counts"].shape
((10, 3), ['0', '1', '2'], (2, 3, 30))

How it stays cheap. Inside the hooks each output tensor is reduced to three numbers (Σx, ‖x‖₂,
Σ|x|) and each δ = ∂L/∂output to two, on the tensor's device; parameter gradients are reduced with
one ``torch._foreach_norm``. At ``w.step()`` all of a step's scalars are stacked and written into one
row of a preallocated device buffer of ``flush_every`` rows. Nothing reads a value back (no ``.item()``,
``.cpu()``, ``.tolist()``) until the buffer is full or the history is read: a *flush* then copies the
buffer to the host once and derives the statistics in float64. Extended statistics (min/max,
histograms, zero/positive/saturated fractions, dead and distinct units, sign coherence) run only every
``hist_every`` steps. The update ratio ‖ΔW‖/‖W‖ needs the weights before ``opt.step()``: at the step
boundary before each recorded step, at most ``UPDATE_ROWS`` = 64 evenly spaced rows (units) of each
weight are copied into one preallocated snapshot, and the ratio is measured on those rows (exact for
layers with ≤ 64 units; ``update_ratio=False`` turns it off).

Protocol: ``loss.backward(); opt.step(); w.step()`` — weight gradients are read at ``w.step()``, so call
``zero_grad()`` at the start of the next iteration, not before ``w.step()``. Forward passes under
``torch.no_grad()`` (validation) are not recorded.

History file (``w.save(path)``, ``.npz``, ``format_version`` 1; layout in docs/CONTRACTS.md):
``steps`` (S,), ``layers`` (L,), one (S, L) float64 array per statistic (NaN where not recorded),
``hist_steps`` (H,), ``hist_counts`` (H, L, B), ``hist_edges`` (H, L, B+1), and per-layer metadata
``layer_kind``, ``layer_module_type``, ``layer_activation``, ``layer_fan_in``, ``layer_fan_out``.
With ``max_history`` the oldest rows are thinned (every second one dropped) to keep at most that many.
"""
from __future__ import annotations

import math
import os
from typing import Any, Mapping, NamedTuple

import numpy as np
import torch
from torch import Tensor, nn

from ..formats import HTMLReportMixin
from .findings import Finding, Thresholds, diagnose
from .hooks import Recorder
from .inspection import attach_activations
from .records import LayerStats, layer_stats
from .stats import derive, sign_coherence

__all__ = ["watch", "Watcher", "StepRecord", "STATS", "FORMAT_VERSION"]

FORMAT_VERSION = 1
# raw device columns per layer slot (per-module ones live in the slot of the module's first call)
_RAW = ("sum", "sq", "l1", "gsum", "gsq", "min", "max", "zero", "pos", "sat", "dead", "distinct", "in_pos",
        "wgrad", "bgrad", "wnorm", "update", "coh")
_RI = {k: i for i, k in enumerate(_RAW)}
UPDATE_ROWS = 64  # ‖ΔW‖/‖W‖ uses at most this many evenly spaced units (rows) per weight
_NAN_MARK = float(torch.finfo(torch.float32).min)  # a recorded NaN in the device buffer
# statistics kept in the history, named as in LayerStats (the first 14 are the CONTRACTS list)
STATS = ("mean", "std", "abs_mean", "grad_norm", "weight_grad_norm", "bias_grad_norm", "update_ratio",
         "dead_fraction", "saturated_fraction", "distinct_units", "sign_coherence", "min", "max",
         "zero_fraction", "grad_std", "positive_fraction", "input_positive_fraction",
         "nonfinite_forward", "nonfinite_backward")
_CORE = ("mean", "std", "abs_mean", "grad_norm", "grad_std", "weight_grad_norm", "bias_grad_norm", "update_ratio")
_META = ("layer_kind", "layer_module_type", "layer_activation", "layer_fan_in", "layer_fan_out")


class StepRecord(NamedTuple):
    """One recorded step of :attr:`Watcher.history`."""

    step: int
    layers: list[LayerStats]


def _pos_int(name: str, v: Any, allow_none: bool = False) -> int | None:
    if v is None and allow_none:
        return None
    if not isinstance(v, int) or isinstance(v, bool) or v < 1:
        raise ValueError(f"{name} must be a positive int{' or None' if allow_none else ''}, got {v!r}")
    return v


class Watcher(HTMLReportMixin):
    """Records layer statistics over training; use through :func:`watch` as a context manager."""

    def __init__(self, model: nn.Module | None, *, every: int = 1, hist_every: int | None = 50,
                 flush_every: int = 100, max_history: int | None = None, bins: int = 30,
                 saturation_margin: float = 0.01, update_ratio: bool = True):
        self.every = _pos_int("every", every)
        self.hist_every = _pos_int("hist_every", hist_every, allow_none=True)
        self.flush_every = _pos_int("flush_every", flush_every)
        self.max_history = _pos_int("max_history", max_history, allow_none=True)
        if self.max_history is not None and self.max_history < 2:
            raise ValueError(f"max_history must be at least 2, got {max_history!r}")
        self.bins = _pos_int("bins", bins)
        self.model = model
        self.step_count = 0
        self._rec = (Recorder(model, bins=bins, saturation_margin=saturation_margin, grad_mode_only=True)
                     if model is not None else None)
        self._update = bool(update_ratio)
        self._inside = False
        # layer columns, discovered in forward order
        self._cols: dict[tuple[int, int], int] = {}
        self._labels: list[str] = []
        self._meta: dict[str, list[Any]] = {k: [] for k in _META}
        # device buffers
        self._buf: Tensor | None = None
        self._hbuf: Tensor | None = None
        self._rows: list[tuple[int, dict[int, int], dict[int, int], int]] = []  # (step, numel, input numel, batch)
        self._hrows: list[tuple[int, int]] = []  # (step, row in the current buffer)
        self._idx_cache: dict[tuple[int, ...], Tensor] = {}
        self._snap: list[Tensor] | None = None
        self._snap_norms: list[Tensor] | None = None
        self._wspecs: list[Any] = [sp for sp in self._rec.specs if sp.weight is not None
                                   and sp.weight.requires_grad] if self._rec is not None else []
        # host history
        self._steps = np.zeros(0, np.int64)
        self._batch = np.zeros(0, np.int64)
        self._host: dict[str, np.ndarray] = {k: np.zeros((0, 0)) for k in STATS}
        self._hsteps = np.zeros(0, np.int64)
        self._hcounts = np.zeros((0, 0, self.bins))
        self._hedges = np.zeros((0, 0, self.bins + 1))

    # --- context manager -------------------------------------------------------------------------
    def __enter__(self) -> "Watcher":
        if self._rec is None:
            raise ValueError("this Watcher was loaded from a file; it has no model to watch")
        if self._inside:
            raise ValueError("this Watcher is already active")
        self._rec.install()
        self._inside = True
        self._arm(self.step_count)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Remove the hooks and flush (also called on leaving the ``with`` block, even on error)."""
        if self._rec is not None:
            self._rec.remove()
        self._inside = False
        self._snap = self._snap_norms = None
        self.flush()

    def _arm(self, s: int) -> None:
        """Decide whether step ``s`` (the next forward/backward) is recorded; snapshot if so."""
        rec = self._rec
        ext = self.hist_every is not None and s % self.hist_every == 0
        rec.extended = ext
        rec.active = ext or s % self.every == 0
        if rec.active and self._update and self._wspecs:
            ws = self._update_rows()
            if self._snap is None:
                self._snap = [w.clone() for w in ws]
            else:
                torch._foreach_copy_(self._snap, ws)
            self._snap_norms = list(torch._foreach_norm(ws, 2, dtype=torch.float32))

    def _update_rows(self) -> list[Tensor]:
        """Views of at most ``UPDATE_ROWS`` evenly spaced rows (units) of each weight.

        ‖ΔW‖/‖W‖ is estimated on these rows (exact for layers with ≤ ``UPDATE_ROWS`` units), which
        cuts the snapshot's copy and the two extra passes by rows/``UPDATE_ROWS``.
        """
        out = []
        for sp in self._wspecs:
            w = sp.weight.detach()
            out.append(w[::-(-w.shape[0] // UPDATE_ROWS)] if w.dim() >= 2 and w.shape[0] > UPDATE_ROWS else w)
        return out

    # --- recording --------------------------------------------------------------------------------
    def step(self) -> None:
        """Mark the end of a training step (after ``opt.step()``)."""
        if not self._inside:
            raise ValueError("call w.step() inside `with il.watch(model) as w:`")
        rec = self._rec
        if rec.active and rec.slots:
            self._record(self.step_count, rec.extended)
        rec.new_frame()
        self.step_count += 1
        self._arm(self.step_count)

    def _add_columns(self) -> None:
        rec = self._rec
        new = [sl for sl in rec.slots if sl not in self._cols]
        for sl in new:
            spec = rec.specs[sl[0]]
            self._cols[sl] = len(self._labels)
            self._labels.append(spec.name if sl[1] == 0 else f"{spec.name}#{sl[1]}")
            for k, v in zip(_META, (spec.kind, spec.module_type, spec.activation or "",
                                    spec.fan_in or 0, spec.fan_out or 0)):
                self._meta[k].append(v)
        if new and self._buf is not None and self._buf.shape[1] < len(self._labels):
            self._grow(len(self._labels))

    def _grow(self, n: int) -> None:
        cap = max(2 * self._buf.shape[1], n)
        buf = self._buf.new_full((self._buf.shape[0], cap, len(_RAW)), math.nan)
        buf[:, :self._buf.shape[1]] = self._buf
        hbuf = self._hbuf.new_full((self._hbuf.shape[0], cap, self.bins), math.nan)
        hbuf[:, :self._hbuf.shape[1]] = self._hbuf
        self._buf, self._hbuf = buf, hbuf

    def _record(self, s: int, extended: bool) -> None:
        rec = self._rec
        self._add_columns()
        vals, keys = list(rec.vals), list(rec.keys)
        self._param_stats(vals, keys, extended)
        if not vals:
            return
        dev = vals[0].device
        if self._buf is None:
            cap = max(16, 2 * len(self._labels))
            self._buf = torch.full((self.flush_every, cap, len(_RAW)), math.nan, dtype=torch.float32, device=dev)
            hrows = self.flush_every // self.hist_every + 1 if self.hist_every else 1
            self._hbuf = torch.full((hrows, cap, self.bins), math.nan, dtype=torch.float32, device=dev)
        cols, K = self._cols, len(_RAW)
        idx = self._index(tuple(cols[sl] * K + _RI[k] for sl, k in keys), dev)
        r = len(self._rows)
        row = self._buf[r].view(-1)
        row.fill_(math.nan)
        # one stack (it promotes the int64 counts and any float64 values), one cast; a recorded NaN
        # becomes _NAN_MARK, so that the row's NaN fill means "not recorded"
        row.index_copy_(0, idx, torch.stack(vals).to(torch.float32).nan_to_num_(_NAN_MARK, math.inf, -math.inf))
        numel = {cols[sl]: m[0] for sl, m in rec.meta.items()}
        in_n = {cols[sl]: n for sl, n in rec.input_numel.items()}
        batch = rec.meta[rec.slots[0]][1]
        self._rows.append((s, numel, in_n, batch))
        if extended and rec.hists:
            h = len(self._hrows)
            hrow = self._hbuf[h]
            hrow.fill_(math.nan)
            hidx = self._index(tuple(cols[sl] for sl, _ in rec.hists), dev)
            hrow.index_copy_(0, hidx, torch.stack([c for _, c in rec.hists]))
            self._hrows.append((s, r))
        if len(self._rows) >= self.flush_every or len(self._hrows) >= self._hbuf.shape[0]:
            self.flush()

    def _index(self, pos: tuple[int, ...], dev: torch.device) -> Tensor:
        """A cached device index tensor (the layout repeats, so the host→device copy happens once)."""
        idx = self._idx_cache.get(pos)
        if idx is None:
            if len(self._idx_cache) > 32:
                self._idx_cache.clear()
            idx = self._idx_cache[pos] = torch.tensor(pos, dtype=torch.long).to(dev)
        return idx

    def _param_stats(self, vals: list[Tensor], keys: list, extended: bool) -> None:
        specs = self._wspecs
        if not specs:
            return
        cols = self._cols
        with torch.no_grad():
            wg = [(sp, sp.weight.grad) for sp in specs if sp.weight.grad is not None and (sp.index, 0) in cols]
            bg = [(sp, sp.bias.grad) for sp in specs
                  if sp.bias is not None and sp.bias.grad is not None and (sp.index, 0) in cols]
            tensors = [g for _, g in wg] + [g for _, g in bg]
            keys += [((sp.index, 0), "wgrad") for sp, _ in wg] + [((sp.index, 0), "bgrad") for sp, _ in bg]
            upd = self._update and self._snap is not None
            if upd:
                torch._foreach_sub_(self._snap, self._update_rows())  # W_before − W_after (sampled rows)
                tensors += self._snap
            if tensors:  # one _foreach_norm for ‖∇W‖, ‖∇b‖ and ‖ΔW‖ of every layer
                norms = torch._foreach_norm(tensors, 2, dtype=torch.float32)
                vals += norms[:len(wg) + len(bg)]
            if upd:
                for sp, d, wn in zip(specs, norms[len(wg) + len(bg):], self._snap_norms):
                    if (sp.index, 0) in cols:
                        vals += (d, wn)
                        keys += (((sp.index, 0), "update"), ((sp.index, 0), "wnorm"))
            if extended:
                for sp, g in wg:
                    if sp.kind in ("linear", "conv") and g.dim() >= 2:
                        vals.append(sign_coherence(g))
                        keys.append(((sp.index, 0), "coh"))

    # --- host side --------------------------------------------------------------------------------
    def flush(self) -> None:
        """Copy the device buffer to the host history (the only place values are read back)."""
        if not self._rows:
            return
        R, L, B = len(self._rows), len(self._labels), self.bins
        data = self._buf[:R, :L].cpu().numpy().astype(np.float64)  # (R, L, K)
        n = np.full((R, L), np.nan)
        in_n = np.full((R, L), np.nan)
        for i, (_, nd, ind, _) in enumerate(self._rows):
            for c, v in nd.items():
                n[i, c] = v
            for c, v in ind.items():
                in_n[i, c] = v
        present = ~np.isnan(data)
        data[data == _NAN_MARK] = np.nan
        raw = {k: data[..., _RI[k]] for k in _RAW}
        nonneg = np.array([self._rec.specs[sl[0]].nonneg if self._rec else False for sl in self._cols], bool)
        raw["l1"] = np.where(nonneg[None, :L] & present[..., _RI["sum"]], raw["sum"], raw["l1"])  # Σ|y| = Σy
        st = derive(raw, n, in_n, present[..., _RI["sum"]], present[..., _RI["gsq"]])
        with np.errstate(invalid="ignore", divide="ignore"):
            st["weight_grad_norm"] = raw["wgrad"]
            st["bias_grad_norm"] = raw["bgrad"]
            st["update_ratio"] = raw["update"] / raw["wnorm"]
            st["sign_coherence"] = raw["coh"]
        self._append_rows(np.array([r[0] for r in self._rows], np.int64),
                          np.array([r[3] for r in self._rows], np.int64), {k: st[k] for k in STATS})
        if self._hrows:
            H = len(self._hrows)
            counts = self._hbuf[:H, :L].cpu().numpy().astype(np.float64)
            rows = [r for _, r in self._hrows]
            lo, hi = st["min"][rows], st["max"][rows]  # (H, L)
            with np.errstate(invalid="ignore"):
                edges = lo[..., None] + (hi - lo)[..., None] * np.linspace(0.0, 1.0, B + 1)
            self._append_hists(np.array([s for s, _ in self._hrows], np.int64), counts, edges)
        self._rows, self._hrows = [], []

    def _pad(self, a: np.ndarray, L: int) -> np.ndarray:
        if a.shape[1] == L:
            return a
        pad = [(0, 0), (0, L - a.shape[1])] + [(0, 0)] * (a.ndim - 2)
        return np.pad(a, pad, constant_values=np.nan)

    def _append_rows(self, steps: np.ndarray, batch: np.ndarray, st: dict[str, np.ndarray]) -> None:
        L = len(self._labels)
        self._steps = np.concatenate([self._steps, steps])
        self._batch = np.concatenate([self._batch, batch])
        for k in STATS:
            self._host[k] = np.concatenate([self._pad(self._host[k], L),
                                            self._pad(st[k], L)])
        keep = self._thin(len(self._steps))
        if keep is not None:
            self._steps, self._batch = self._steps[keep], self._batch[keep]
            self._host = {k: v[keep] for k, v in self._host.items()}

    def _append_hists(self, steps: np.ndarray, counts: np.ndarray, edges: np.ndarray) -> None:
        L = len(self._labels)
        self._hsteps = np.concatenate([self._hsteps, steps])
        self._hcounts = np.concatenate([self._pad(self._hcounts, L), self._pad(counts, L)])
        self._hedges = np.concatenate([self._pad(self._hedges, L), self._pad(edges, L)])
        keep = self._thin(len(self._hsteps))
        if keep is not None:
            self._hsteps, self._hcounts, self._hedges = self._hsteps[keep], self._hcounts[keep], self._hedges[keep]

    def _thin(self, S: int) -> np.ndarray | None:
        """Indices to keep so that at most ``max_history`` rows remain: halve the oldest rows."""
        m = self.max_history
        if m is None or S <= m:
            return None
        idx = np.arange(S)
        while len(idx) > m:
            old = len(idx) - m // 2  # the recent m/2 rows stay dense
            idx = np.concatenate([idx[:old:2], idx[old:]])
        return idx

    # --- reading ----------------------------------------------------------------------------------
    @property
    def layers(self) -> list[str]:
        """Layer labels (``name`` or ``name#k`` for a module's k-th call in a step), forward order."""
        return list(self._labels)

    def arrays(self) -> dict[str, np.ndarray]:
        """The history as the CONTRACTS npz arrays (experiments store them under ``"{variant}/"``)."""
        self.flush()
        L = len(self._labels)
        out: dict[str, np.ndarray] = {
            "format_version": np.array(FORMAT_VERSION, dtype=np.int64),
            "steps": self._steps.copy(),
            "layers": np.array(self._labels, dtype=str) if L else np.zeros(0, dtype="<U1"),
            "batch_size": self._batch.copy(),
        }
        for k in STATS:
            out[k] = self._pad(self._host[k], L).copy()
        out["hist_steps"] = self._hsteps.copy()
        out["hist_counts"] = self._pad(self._hcounts, L).copy()
        out["hist_edges"] = self._pad(self._hedges, L).copy()
        for k in _META:
            v = self._meta[k]
            out[k] = np.array(v, dtype=np.int64) if k in ("layer_fan_in", "layer_fan_out") else np.array(v, dtype=str)
        return out

    def save(self, path: str | os.PathLike) -> str:
        """Write :meth:`arrays` to an ``.npz`` file (``.npz`` is appended if missing); returns the path."""
        p = os.fspath(path)
        if not p.endswith(".npz"):
            p += ".npz"
        np.savez(p, **self.arrays())
        return p

    @classmethod
    def load(cls, path: str | os.PathLike, prefix: str = "") -> "Watcher":
        """A detached Watcher (no model) holding the history saved by :meth:`save`.

        ``prefix`` selects one variant of a run's ``history.npz`` (e.g. ``"he/"``).
        """
        try:
            with np.load(os.fspath(path), allow_pickle=False) as z:
                a = {k: z[k] for k in z.files}
        except (OSError, ValueError) as e:
            raise ValueError(f"cannot read a Watcher history from {os.fspath(path)!r}: {e}") from e
        return cls.from_arrays(a, prefix)

    @classmethod
    def from_arrays(cls, a: Mapping[str, np.ndarray], prefix: str = "") -> "Watcher":
        """A detached Watcher from :meth:`arrays` (keys starting with ``prefix``, which is removed)."""
        if prefix:
            a = {k[len(prefix):]: v for k, v in a.items() if k.startswith(prefix)}
            if not a:
                raise ValueError(f"no arrays with prefix {prefix!r}")
        missing = [k for k in ("format_version", "steps", "layers", "std") if k not in a]
        if missing:
            raise ValueError(f"not a Watcher history: missing arrays {missing}")
        if int(a["format_version"]) != FORMAT_VERSION:
            raise ValueError(f"unsupported Watcher history format_version {int(a['format_version'])}; "
                             f"this initlab reads {FORMAT_VERSION}")
        hc = a.get("hist_counts", np.zeros((0, len(a["layers"]), 30)))
        w = cls(None, bins=max(int(hc.shape[-1]), 1))
        w._labels = [str(x) for x in a["layers"]]
        L = len(w._labels)
        w._steps = np.asarray(a["steps"], np.int64)
        S = len(w._steps)
        w._batch = np.asarray(a.get("batch_size", np.zeros(S)), np.int64)
        w._host = {k: np.asarray(a[k], np.float64) if k in a else np.full((S, L), np.nan) for k in STATS}
        w._hsteps = np.asarray(a.get("hist_steps", np.zeros(0)), np.int64)
        w._hcounts = np.asarray(hc, np.float64)
        w._hedges = np.asarray(a.get("hist_edges", np.zeros(hc.shape[:2] + (hc.shape[-1] + 1,))), np.float64)
        for k in _META:
            w._meta[k] = list(a[k]) if k in a else ([0] * L if "fan" in k else ["other" if k == "layer_kind" else ""] * L)
        w.step_count = int(w._steps[-1]) + 1 if S else 0
        return w

    def _layer_stats(self, i: int, j: int, vals: Mapping[str, float]) -> LayerStats:
        name = self._labels[j]
        base, _, call = name.partition("#")
        act = str(self._meta["layer_activation"][j]) or None
        kind = str(self._meta["layer_kind"][j])
        fi, fo = int(self._meta["layer_fan_in"][j]) or None, int(self._meta["layer_fan_out"][j]) or None
        clean = {k: (None if v is None or np.isnan(v) else float(v)) for k, v in vals.items()}
        return layer_stats(base, kind, str(self._meta["layer_module_type"][j]), int(call or 0), fi, fo, act,
                           batch_size=int(self._batch[i]) if 0 <= i < len(self._batch) else None, **clean)

    @property
    def history(self) -> list[StepRecord]:
        """Per-step, per-layer records (``None`` where a statistic was not recorded that step)."""
        self.flush()
        out = []
        for i, s in enumerate(self._steps):
            layers = [self._layer_stats(i, j, {k: self._host[k][i, j] for k in STATS})
                      for j in range(len(self._labels))]
            attach_activations(layers)
            out.append(StepRecord(int(s), layers))
        return out

    def summary(self, window: int = 20) -> list[LayerStats]:
        """One record per layer over the window: medians of the core statistics over the last
        ``window`` recorded steps, the latest values of the extended ones, and the non-finite flags
        of the first step where any value was NaN/Inf."""
        self.flush()
        S, L = len(self._steps), len(self._labels)
        if S == 0:
            return []
        h = self._host
        lo = max(0, S - window)
        nf = np.nan_to_num(h["nonfinite_forward"]) + np.nan_to_num(h["nonfinite_backward"])
        bad = np.flatnonzero(nf.sum(axis=1) > 0)
        out = []
        for j in range(L):
            vals: dict[str, float] = {}
            for k in STATS:
                col = h[k][:, j]
                if k.startswith("nonfinite"):
                    vals[k] = col[bad[0]] if len(bad) else (np.nanmax(col) if np.isfinite(col).any() else np.nan)
                    continue
                fin = np.where(np.isfinite(col), col, np.nan)
                if k in _CORE:
                    w = fin[lo:]
                    vals[k] = float(np.nanmedian(w)) if np.isfinite(w).any() else np.nan
                else:
                    idx = np.flatnonzero(np.isfinite(fin))
                    vals[k] = fin[idx[-1]] if len(idx) else np.nan
            out.append(self._layer_stats(S - 1, j, vals))
        attach_activations(out)
        return out

    def findings(self, thresholds: Thresholds | Mapping[str, float] | None = None,
                 window: int = 20) -> list[Finding]:
        """The diagnosis over the window (see :meth:`summary`), plus the first non-finite step."""
        layers = self.summary(window)
        found = diagnose(layers, thresholds)
        h = self._host
        if len(self._steps):
            nf = np.nan_to_num(h["nonfinite_forward"]) + np.nan_to_num(h["nonfinite_backward"])
            bad = np.flatnonzero(nf.sum(axis=1) > 0)
            for f in found:
                if f.kind == "nonfinite" and len(bad):
                    step = int(self._steps[bad[0]])
                    f.evidence["step"] = float(step)
                    f.message = f"At step {step}: " + f.message[0].lower() + f.message[1:]
        return found

    def __repr__(self) -> str:
        return (f"Watcher(layers={len(self._labels)}, steps_recorded={len(self._steps) + len(self._rows)}, "
                f"every={self.every}, hist_every={self.hist_every}, flush_every={self.flush_every})")


def watch(model: nn.Module, *, every: int = 1, hist_every: int | None = 50, flush_every: int = 100,
          max_history: int | None = None, bins: int = 30, saturation_margin: float = 0.01,
          update_ratio: bool = True) -> Watcher:
    """A :class:`Watcher` on ``model``: ``with il.watch(model) as w: …; opt.step(); w.step()``.

    Args:
        every: record the core statistics every ``every`` steps.
        hist_every: record the extended statistics (and histograms) every ``hist_every`` steps (None: never).
        flush_every: device buffer rows; values are copied to the host when it is full.
        max_history: keep at most this many host rows (the oldest are thinned); None keeps all.
        bins: histogram bins.
        saturation_margin: see :func:`initlab.probes.inspect`.
        update_ratio: record ‖ΔW‖/‖W‖ (costs one copy of the weights on recorded steps).
    """
    return Watcher(model, every=every, hist_every=hist_every, flush_every=flush_every,
                   max_history=max_history, bins=bins, saturation_margin=saturation_margin,
                   update_ratio=update_ratio)
