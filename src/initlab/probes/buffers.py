"""Device buffers for the Watcher's rows: memory that grows with the rows actually recorded.

A :class:`DeviceRows` holds rows of (columns, depth) float32 values (or of ``columns`` values: ``depth=None``)
on one device in chunks of
``chunk`` rows, allocated (NaN-filled, asynchronously) the first time one of their rows is written,
so that ``flush_every=10**9`` costs what the recorded steps need, not 10⁹ rows. Columns (layers)
can be added later (:meth:`DeviceRows.widen`). :meth:`DeviceRows.read` is the one copy back to the
host, at a flush. A :class:`RowStore` keeps a Watcher's steps in them.

>>> import torch
>>> b = DeviceRows(columns=2, depth=3, chunk=4, device=torch.device("cpu"))
>>> b.row(5).fill_(1.0).shape, len(b.chunks)
(torch.Size([2, 3]), 2)
>>> b.read(6, 2)[5].tolist()
[[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

__all__ = ["DeviceRows", "RowStore"]


class DeviceRows:
    """Rows of (columns, depth) float32 values on one device, allocated in chunks as rows are used.

    Row r lives in chunk r // ``chunk``; a chunk is allocated (NaN-filled, asynchronously) the first
    time one of its rows is asked for, and kept for reuse after :meth:`read`.
    """

    def __init__(self, columns: int, depth: int | None, chunk: int, device: torch.device):
        self.columns, self.depth, self.chunk, self.device = columns, depth, chunk, device
        self._depth = () if depth is None else (depth,)
        self.chunks: list[Tensor] = []

    def row(self, r: int) -> Tensor:
        """Row r, a (columns, depth) view ((columns,) when ``depth`` is None)."""
        i, j = divmod(r, self.chunk)
        while len(self.chunks) <= i:
            self.chunks.append(torch.full((self.chunk, self.columns, *self._depth), math.nan,
                                          dtype=torch.float32, device=self.device))
        return self.chunks[i][j]

    def widen(self, columns: int) -> None:
        """At least ``columns`` columns (doubling); new columns are NaN."""
        if columns <= self.columns:
            return
        cap = max(2 * self.columns, columns)
        for i, c in enumerate(self.chunks):
            new = c.new_full((self.chunk, cap, *self._depth), math.nan)
            new[:, :self.columns] = c
            self.chunks[i] = new
        self.columns = cap

    def read(self, rows: int, columns: int) -> np.ndarray:
        """The first ``rows`` rows and ``columns`` columns on the host, float64 (one copy back)."""
        n = -(-rows // self.chunk)
        parts = [c[:, :columns] for c in self.chunks[:n]]
        data = parts[0] if n == 1 else torch.cat(parts)
        return data[:rows].cpu().numpy().astype(np.float64)

    @property
    def nbytes(self) -> int:
        return sum(c.numel() * c.element_size() for c in self.chunks)


class RowStore:
    """A Watcher's recorded steps until its next flush, on the model's device.

    Per step (:meth:`add`), the hooks' values (0-d tensors, any float or int dtype) are stacked, in
    the order recorded, into one float32 device row by one ``torch.stack(out=…)``; their positions in
    the (layer, statistic) grid stay on the host, computed once per layout (a step's keys are usually
    the last step's list of the same tuples). Extended steps add a (layers, bins) row of histogram
    counts. :meth:`take` is the one copy back: the grid (R, L, K) with NaN where a statistic was not
    recorded and ``mark`` where a NaN was.

    >>> import torch
    >>> rs = RowStore(("sum", "sq"), bins=2, chunk=4)
    >>> row = rs.add(0, [torch.tensor(3.0), torch.tensor(5)], [((0, 0), "sq"), ((1, 0), "sum")],
    ...              {(0, 0): 0, (1, 0): 1}, {(0, 0): (4, 2, 2), (1, 0): (4, 2, 2)}, {}, 2)
    >>> rs.take(2, mark=-1.0)["data"].tolist()
    [[[nan, 3.0], [5.0, nan]]]
    """

    def __init__(self, stats: tuple[str, ...], bins: int, chunk: int):
        self.stats, self.bins, self.chunk = stats, bins, chunk
        self._si = {k: i for i, k in enumerate(stats)}
        # per row: (step, entries per column, input entries per column, batch, grid positions)
        self.rows: list[tuple[int, dict[int, int], dict[int, int], int, np.ndarray]] = []
        self.hrows: list[tuple[int, int]] = []  # (step, row)
        self._buf: DeviceRows | None = None   # (row, value)
        self._hbuf: DeviceRows | None = None  # (extended row, column, bin)
        self._layouts: list[tuple[list, np.ndarray]] = []  # recent (keys of a step, their grid positions)
        self._idx: dict[tuple[int, ...], torch.Tensor] = {}

    def __len__(self) -> int:
        return len(self.rows)

    def add(self, step: int, vals: list[torch.Tensor], keys: list, cols: dict, meta: dict, input_numel: dict,
            batch: int, hists: list | None = None) -> torch.Tensor:
        """Record one step: ``vals`` with their ``(slot, stat)`` ``keys``, ``cols`` (slot → column),
        ``meta`` (slot → (entries, …)), ``input_numel`` (slot → input entries), ``hists`` ((slot,
        counts) of an extended step). Returns the step's device row (the values, in order)."""
        dev = vals[0].device
        if self._buf is None:
            self._buf = DeviceRows(max(64, 2 * len(vals)), None, self.chunk, dev)
            self._hbuf = DeviceRows(max(16, 2 * len(cols)), self.bins, self.chunk, dev)
        for lay in self._layouts:  # a step's keys are the last step's (same objects: fast ==)
            if lay[0] == keys:
                pos = lay[1]
                break
        else:
            K, si = len(self.stats), self._si
            pos = np.array([cols[sl] * K + si[k] for sl, k in keys], np.int64)
            self._layouts = [(keys, pos)] + self._layouts[:3]
        n, r = len(vals), len(self.rows)
        if n > self._buf.columns:
            self._buf.widen(n)
        row = torch.stack(vals, out=self._buf.row(r)[:n])  # (one cast to float32 as well)
        self.rows.append((step, {cols[sl]: m[0] for sl, m in meta.items()},
                          {cols[sl]: v for sl, v in input_numel.items()}, batch, pos))
        if hists:
            self._hbuf.widen(len(cols))
            hrow = self._hbuf.row(len(self.hrows))
            hrow.fill_(math.nan)
            hrow.index_copy_(0, self._index(tuple(cols[sl] for sl, _ in hists), dev),
                             torch.stack([c for _, c in hists]))
            self.hrows.append((step, r))
        return row

    def _index(self, pos: tuple[int, ...], dev: torch.device) -> torch.Tensor:
        """A cached device index tensor (the layout repeats, so the host→device copy happens once;
        on CUDA it is a non-blocking copy from pinned memory, so not even a cache miss waits)."""
        idx = self._idx.get(pos)
        if idx is None:
            if len(self._idx) > 32:
                self._idx.clear()
            host = torch.tensor(pos, dtype=torch.long)
            if dev.type == "cuda":
                host = host.pin_memory()
            idx = self._idx[pos] = host.to(dev, non_blocking=dev.type == "cuda")
        return idx

    def take(self, columns: int, mark: float) -> dict[str, np.ndarray]:
        """The rows since the last take, on the host, and forgotten here: raw ``data`` (R, L, K) float64
        (NaN: not recorded; ``mark``: a recorded NaN), entry counts ``n`` and ``in_n`` (R, L), ``steps``
        and ``batch`` (R,), histogram ``counts`` (H, L, bins) of ``hsteps`` at rows ``hrows``."""
        R, L, H, K = len(self.rows), columns, len(self.hrows), len(self.stats)
        n, in_n = np.full((R, L), np.nan), np.full((R, L), np.nan)
        data = np.full((R, L * K), np.nan)
        flat = self._buf.read(R, max(len(r[4]) for r in self.rows)) if R else None
        for i, (_, nd, ind, _, pos) in enumerate(self.rows):
            n[i, list(nd)] = list(nd.values())
            in_n[i, list(ind)] = list(ind.values())
            v = flat[i, :len(pos)]
            data[i, pos] = np.where(np.isnan(v), mark, v)
        p = {"data": data.reshape(R, L, K), "n": n, "in_n": in_n,
             "steps": np.array([r[0] for r in self.rows], np.int64),
             "batch": np.array([r[3] for r in self.rows], np.int64),
             "counts": self._hbuf.read(H, L) if H else np.zeros((0, L, self.bins)),
             "hsteps": np.array([s for s, _ in self.hrows], np.int64), "hrows": [r for _, r in self.hrows]}
        self.rows, self.hrows = [], []
        return p

    @property
    def nbytes(self) -> int:
        """Bytes of device memory the buffers hold now (they grow with the recorded steps)."""
        return sum(b.nbytes for b in (self._buf, self._hbuf) if b is not None)
