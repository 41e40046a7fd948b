"""Device buffers for the Watcher's rows: memory that grows with the rows actually recorded.

A :class:`DeviceRows` holds rows of (columns, depth) float32 values (or of ``columns`` values: ``depth=None``)
on one device in chunks of
``chunk`` rows, allocated (NaN-filled, asynchronously) the first time one of their rows is written,
so that ``flush_every=10**9`` costs what the recorded steps need, not 10⁹ rows. Columns (layers)
can be added later (:meth:`DeviceRows.widen`). :meth:`DeviceRows.read` is the one copy back to the
host, at a flush.

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

__all__ = ["DeviceRows"]


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
