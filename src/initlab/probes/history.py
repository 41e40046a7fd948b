r"""The history a :class:`~initlab.probes.watcher.Watcher` records: host arrays, their file, their reading.

A :class:`History` holds, for S recorded steps and L layer columns, one (S, L) float64 array per
statistic of :data:`initlab.formats.STATS` (NaN where not recorded), the steps and batch sizes, the
histograms of the extended steps, and per-layer metadata. It knows nothing of models or devices:
the Watcher appends rows to it; :meth:`History.from_arrays` and :meth:`History.load` rebuild one
from :meth:`History.arrays` or a file.

File (``.npz``, ``format_version`` 1, layout in docs/CONTRACTS.md): ``steps`` (S,), ``layers`` (L,),
one (S, L) array per statistic, ``hist_steps`` (H,), ``hist_counts`` (H, L, B), ``hist_edges``
(H, L, B+1), ``batch_size`` (S,) and ``layer_kind``, ``layer_module_type``, ``layer_activation``,
``layer_fan_in``, ``layer_fan_out``, ``layer_activation_spec`` (L,; "" where none or in files written
before it existed). :meth:`History.save` writes it atomically
(:func:`initlab.formats.write_npz`).

With ``max_history`` the oldest rows are thinned (every second one dropped, repeatedly) so that at
most that many remain and the most recent half stays dense.

>>> import numpy as np
>>> h = History(bins=2)
>>> h.add_layer("fc", "linear", "Linear", "relu", 4, 8)
0
>>> h.append(np.array([0, 1]), np.array([32, 32]), {"std": np.array([[1.0], [0.5]])})
>>> a = h.arrays()
>>> a["std"][:, 0].tolist(), bool(np.isnan(a["mean"]).all()), History.from_arrays(a).layers
([1.0, 0.5], True, ['fc'])
"""
from __future__ import annotations

import os
from typing import Any, Mapping, NamedTuple, Sequence

import numpy as np

from ..formats import FORMAT_VERSION, SUPPORTED_FORMATS, STATS, write_npz
from .findings import Finding, Thresholds, diagnose
from .inspection import attach_activations
from .records import LayerStats, layer_stats

__all__ = ["History", "StepRecord", "CORE", "META"]

# the statistics recorded on every recorded step (the others only on extended steps)
CORE = ("mean", "std", "abs_mean", "grad_norm", "grad_std", "weight_grad_norm", "bias_grad_norm", "update_ratio")
# per-layer metadata arrays
META = ("layer_kind", "layer_module_type", "layer_activation", "layer_fan_in", "layer_fan_out",
        "layer_activation_spec")


class StepRecord(NamedTuple):
    """One recorded step of :attr:`Watcher.history <initlab.probes.watcher.Watcher.history>`."""

    step: int
    layers: list[LayerStats]


def _pad(a: np.ndarray, L: int) -> np.ndarray:
    """``a`` with its second axis NaN-padded to L columns."""
    if a.shape[1] == L:
        return a
    return np.pad(a, [(0, 0), (0, L - a.shape[1])] + [(0, 0)] * (a.ndim - 2), constant_values=np.nan)


class History:
    """Per-step, per-layer statistics on the host (see the module docs)."""

    def __init__(self, bins: int = 30, max_history: int | None = None):
        self.bins, self.max_history = bins, max_history
        self.labels: list[str] = []
        self.meta: dict[str, list[Any]] = {k: [] for k in META}
        self.steps = np.zeros(0, np.int64)
        self.batch = np.zeros(0, np.int64)
        self.stats: dict[str, np.ndarray] = {k: np.zeros((0, 0)) for k in STATS}
        self.hist_steps = np.zeros(0, np.int64)
        self.hist_counts = np.zeros((0, 0, bins))
        self.hist_edges = np.zeros((0, 0, bins + 1))

    # --- writing -----------------------------------------------------------------------------------
    def add_layer(self, label: str, kind: str, module_type: str, activation: str | None,
                  fan_in: int | None, fan_out: int | None, activation_spec: str | None = None) -> int:
        """Append a layer column; returns its index. ``activation_spec`` is the exact activation
        (:attr:`LayerStats.activation_spec`, e.g. ``"leaky_relu(slope=0.2)"``)."""
        self.labels.append(label)
        for k, v in zip(META, (kind, module_type, activation or "", fan_in or 0, fan_out or 0,
                               activation_spec or "")):
            self.meta[k].append(v)
        return len(self.labels) - 1

    def append(self, steps: np.ndarray, batch: np.ndarray, stats: Mapping[str, np.ndarray]) -> None:
        """Append rows: ``stats[k]`` is (R, ≤ L) for k in STATS (missing statistics are NaN)."""
        L, R = len(self.labels), len(steps)
        self.steps = np.concatenate([self.steps, np.asarray(steps, np.int64)])
        self.batch = np.concatenate([self.batch, np.asarray(batch, np.int64)])
        for k in STATS:
            new = np.asarray(stats[k], np.float64) if k in stats else np.full((R, L), np.nan)
            self.stats[k] = np.concatenate([_pad(self.stats[k], L), _pad(new, L)])
        keep = self._thin(len(self.steps))
        if keep is not None:
            self.steps, self.batch = self.steps[keep], self.batch[keep]
            self.stats = {k: v[keep] for k, v in self.stats.items()}

    def append_hists(self, steps: np.ndarray, counts: np.ndarray, edges: np.ndarray) -> None:
        """Append histograms: counts (H, ≤ L, B), edges (H, ≤ L, B+1)."""
        L = len(self.labels)
        self.hist_steps = np.concatenate([self.hist_steps, np.asarray(steps, np.int64)])
        self.hist_counts = np.concatenate([_pad(self.hist_counts, L), _pad(counts, L)])
        self.hist_edges = np.concatenate([_pad(self.hist_edges, L), _pad(edges, L)])
        keep = self._thin(len(self.hist_steps))
        if keep is not None:
            self.hist_steps, self.hist_counts, self.hist_edges = (
                self.hist_steps[keep], self.hist_counts[keep], self.hist_edges[keep])

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

    # --- the file ----------------------------------------------------------------------------------
    @property
    def layers(self) -> list[str]:
        """Layer labels (``name`` or ``name#k`` for a module's k-th call in a step), forward order."""
        return list(self.labels)

    def arrays(self) -> dict[str, np.ndarray]:
        """The history as the CONTRACTS npz arrays (experiments store them under ``"{variant}/"``)."""
        L = len(self.labels)
        out: dict[str, np.ndarray] = {
            "format_version": np.array(FORMAT_VERSION, dtype=np.int64),
            "steps": self.steps.copy(),
            "layers": np.array(self.labels, dtype=str) if L else np.zeros(0, dtype="<U1"),
            "batch_size": self.batch.copy(),
        }
        for k in STATS:
            out[k] = _pad(self.stats[k], L).copy()
        out["hist_steps"] = self.hist_steps.copy()
        out["hist_counts"] = _pad(self.hist_counts, L).copy()
        out["hist_edges"] = _pad(self.hist_edges, L).copy()
        for k in META:
            out[k] = np.array(self.meta[k], dtype=np.int64 if "fan" in k else str)
        return out

    def save(self, path: str | os.PathLike) -> str:
        """Write :meth:`arrays` to an ``.npz`` file atomically (``.npz`` is appended if missing)."""
        p = os.fspath(path)
        if not p.endswith(".npz"):
            p += ".npz"
        write_npz(p, self.arrays())
        return p

    @staticmethod
    def read(path: str | os.PathLike) -> dict[str, np.ndarray]:
        """The arrays of an ``.npz`` file (a clear ValueError when it cannot be read)."""
        try:
            with np.load(os.fspath(path), allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        except (OSError, ValueError) as e:
            raise ValueError(f"cannot read a Watcher history from {os.fspath(path)!r}: {e}") from e

    @classmethod
    def load(cls, path: str | os.PathLike, prefix: str = "") -> "History":
        """The history saved by :meth:`save` (``prefix`` selects one variant, e.g. ``"he/"``)."""
        return cls.from_arrays(cls.read(path), prefix)

    @classmethod
    def from_arrays(cls, a: Mapping[str, np.ndarray], prefix: str = "") -> "History":
        """A history from :meth:`arrays` (keys starting with ``prefix``, which is removed)."""
        if prefix:
            a = {k[len(prefix):]: v for k, v in a.items() if k.startswith(prefix)}
            if not a:
                raise ValueError(f"no arrays with prefix {prefix!r}")
        missing = [k for k in ("format_version", "steps", "layers", "std") if k not in a]
        if missing:
            raise ValueError(f"not a Watcher history: missing arrays {missing}")
        if int(a["format_version"]) not in SUPPORTED_FORMATS:
            raise ValueError(f"unsupported Watcher history format_version {int(a['format_version'])}; "
                             f"this initlab reads {list(SUPPORTED_FORMATS)}")
        hc = np.asarray(a.get("hist_counts", np.zeros((0, len(a["layers"]), 30))), np.float64)
        h = cls(bins=max(int(hc.shape[-1]), 1))
        h.labels = [str(x) for x in a["layers"]]
        L = len(h.labels)
        h.steps = np.asarray(a["steps"], np.int64)
        S = len(h.steps)
        h.batch = np.asarray(a.get("batch_size", np.zeros(S)), np.int64)
        h.stats = {k: np.asarray(a[k], np.float64) if k in a else np.full((S, L), np.nan) for k in STATS}
        h.hist_steps = np.asarray(a.get("hist_steps", np.zeros(0)), np.int64)
        h.hist_counts = hc
        h.hist_edges = np.asarray(a.get("hist_edges", np.zeros(hc.shape[:2] + (hc.shape[-1] + 1,))), np.float64)
        for k in META:
            default = 0 if "fan" in k else ("other" if k == "layer_kind" else "")
            h.meta[k] = list(a[k]) if k in a else [default] * L
        return h

    # --- reading -----------------------------------------------------------------------------------
    def _layer_stats(self, i: int, j: int, vals: Mapping[str, float]) -> LayerStats:
        base, _, call = self.labels[j].partition("#")
        m = self.meta
        act = str(m["layer_activation"][j]) or None
        fi, fo = int(m["layer_fan_in"][j]) or None, int(m["layer_fan_out"][j]) or None
        clean = {k: (None if v is None or np.isnan(v) else float(v)) for k, v in vals.items()}
        r = layer_stats(base, str(m["layer_kind"][j]), str(m["layer_module_type"][j]), int(call or 0), fi, fo,
                        act, batch_size=int(self.batch[i]) if 0 <= i < len(self.batch) else None, **clean)
        r.activation_spec = str(m["layer_activation_spec"][j]) or None
        return r

    def records(self) -> list[StepRecord]:
        """Per-step, per-layer records (``None`` where a statistic was not recorded that step)."""
        out = []
        for i, s in enumerate(self.steps):
            layers = [self._layer_stats(i, j, {k: self.stats[k][i, j] for k in STATS})
                      for j in range(len(self.labels))]
            attach_activations(layers)
            out.append(StepRecord(int(s), layers))
        return out

    def _first_nonfinite(self) -> int | None:
        """The row of the first step where any layer's output or δ held NaN/Inf."""
        h = self.stats
        nf = np.nan_to_num(h["nonfinite_forward"]) + np.nan_to_num(h["nonfinite_backward"])
        bad = np.flatnonzero(nf.sum(axis=1) > 0) if nf.size else np.zeros(0, np.int64)
        return int(bad[0]) if len(bad) else None

    def summary(self, window: int = 20) -> list[LayerStats]:
        """One record per layer over the window: medians of the core statistics over the last
        ``window`` recorded steps, the latest values of the extended ones, and the non-finite flags
        of the first step where any value was NaN/Inf."""
        S, L = len(self.steps), len(self.labels)
        if S == 0:
            return []
        lo, bad = max(0, S - window), self._first_nonfinite()
        out = []
        for j in range(L):
            vals: dict[str, float] = {}
            for k in STATS:
                col = self.stats[k][:, j]
                if k.startswith("nonfinite"):
                    vals[k] = col[bad] if bad is not None else (np.nanmax(col) if np.isfinite(col).any() else np.nan)
                    continue
                fin = np.where(np.isfinite(col), col, np.nan)
                if k in CORE:
                    w = fin[lo:]
                    vals[k] = float(np.nanmedian(w)) if np.isfinite(w).any() else np.nan
                else:
                    idx = np.flatnonzero(np.isfinite(fin))
                    vals[k] = fin[idx[-1]] if len(idx) else np.nan
            out.append(self._layer_stats(S - 1, j, vals))
        attach_activations(out)
        return out

    def findings(self, thresholds: Thresholds | Mapping[str, float] | None = None,
                 window: int = 20, blocks: Sequence[Any] = ()) -> list[Finding]:
        """The diagnosis over the window (see :meth:`summary`), plus the first non-finite step
        (``blocks``: the residual stream's records, for the main path of the depth trends)."""
        found = diagnose(self.summary(window), thresholds, blocks)
        bad = self._first_nonfinite() if len(self.steps) else None
        if bad is not None:
            step = int(self.steps[bad])
            for f in found:
                if f.kind == "nonfinite":
                    f.evidence["step"] = float(step)
                    f.message = f"At step {step}: " + f.message[0].lower() + f.message[1:]
        return found
