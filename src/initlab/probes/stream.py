r"""``watch``'s residual stream: per repeated block, at the steps the Watcher records, the variances of
the stream entering the block (:math:`x_l`), leaving it (:math:`x_{l+1}`) and of the branch update
:math:`u_l = x_{l+1} - x_l`, kept on the model's device until the Watcher flushes.

The same quantities as :class:`~initlab.probes.residual.ResidualProbe` (``inspect``), from which

.. math:: \text{stream std}_l = \sqrt{\mathrm{Var}(x_{l+1})}, \qquad
          r_l = \sqrt{\mathrm{Var}(u_l) / \mathrm{Var}(x_l)}

(population variances over every element of the block's output). Cost per block call on a recorded
step: three ``var`` reductions and one subtraction on the device, no host synchronization; one stack
of a (blocks, 3) tensor per recorded step; one ``.cpu()`` per flush. A block called several times in
one step (several forward passes) gets the mean of its calls' variances. The stream gradient and
attention entropy stay ``inspect``-only (a backward hook per block, B·H·T² weights).

Under DDP (:attr:`StreamRecorder.moments`, set by the Watcher) each call keeps its means and entry
count too, (mean x, mean y, mean u, Var x, Var y, Var u, n), so that the Watcher's flush can pool each
call over the ranks (:func:`initlab.probes.distributed.merge_stream`); :meth:`StreamRecorder.take` hands
it the pending rows and :meth:`StreamRecorder.append` takes the merged variances back.

>>> import torch
>>> blocks = torch.nn.Sequential(*[torch.nn.Sequential(torch.nn.Linear(8, 8)) for _ in range(3)])
>>> rec = StreamRecorder(blocks); rec.install()
>>> rec.active = True; _ = blocks(torch.randn(16, 8)); rec.record(0); rec.flush()
>>> rec.names, rec.arrays()["stream_std"].shape
(['0', '1', '2'], (1, 3))
>>> rec.remove()
"""
from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
import torch
from torch import Tensor, nn

from ..structure import residual_blocks
from .hooks import first_tensor
from .residual import BlockStats, block_input

__all__ = ["StreamRecorder", "STREAM_STATS", "STREAM_KEYS", "block_stats"]

STREAM_STATS = ("stream_input_std", "stream_std", "branch_ratio")
STREAM_KEYS = ("stream_steps", "stream_blocks") + STREAM_STATS  # the arrays a Watcher adds


class StreamRecorder:
    """Forward hooks on the repeated blocks of ``model`` that, while :attr:`active`, add each call's
    (Var x, Var y, Var u) to a device accumulator; :meth:`record` closes a step, :meth:`flush` moves the
    recorded steps to the host (one copy). ``gate()``, when given, must also be true for a call to count
    (the Watcher passes its recorder's: no ``torch.no_grad()`` forwards, nothing while ``inspect`` runs)."""

    def __init__(self, model: nn.Module, gate: Callable[[], bool] | None = None):
        self.blocks = residual_blocks(model)
        self.names = [n for n, _ in self.blocks]
        self.active = False
        self.gate = gate
        self.moments = False  # DDP: per-call moments, merged over the ranks by the Watcher
        self._calls_m: list[list[Tensor]] = [[] for _ in self.blocks]
        self.handles: list[Any] = []
        self._acc: list[Tensor | None] = [None] * len(self.blocks)  # per block: (3,) sum of variances
        self._calls = [0] * len(self.blocks)
        self._rows: list[tuple[int, Tensor]] = []  # (step, (blocks, 3) device tensor), not yet flushed
        self.steps: list[int] = []
        self._host: list[np.ndarray] = []  # flushed (blocks, 3) rows

    def install(self) -> None:
        for i, (_, block) in enumerate(self.blocks):
            self.handles.append(block.register_forward_hook(self._hook(i), with_kwargs=True))

    def remove(self) -> None:
        for h in self.handles:
            h.remove()
        self.handles.clear()

    def _hook(self, index: int):
        def hook(module: nn.Module, args: tuple, kwargs: dict, out: Any) -> None:
            if not self.active or (self.gate is not None and not self.gate()):
                return
            x, y = block_input(args, kwargs), first_tensor(out)
            if y is None or not y.is_floating_point() or x is None or x.shape != y.shape:
                return
            with torch.no_grad():
                xd, yd = x.detach().float(), y.detach().float()
                u = yd - xd
                if self.moments:
                    self._calls_m[index].append(torch.stack([
                        xd.mean(), yd.mean(), u.mean(), xd.var(correction=0), yd.var(correction=0),
                        u.var(correction=0), xd.new_full((), xd.numel())]))  # a fill: no host→device copy
                    return
                v = torch.stack([xd.var(correction=0), yd.var(correction=0), u.var(correction=0)])
            acc = self._acc[index]
            self._acc[index] = v if acc is None else acc + v.to(acc.device)
            self._calls[index] += 1
        return hook

    def record(self, step: int) -> None:
        """Close step ``step``: one (blocks, 3) row of mean variances on the device (NaN: block not called);
        with :attr:`moments`, one (blocks, calls, 7) row of per-call moments (NaN: no such call)."""
        if self.moments:
            calls = max((len(c) for c in self._calls_m), default=0)
            if calls:
                dev = next(c[0].device for c in self._calls_m if c)
                pad = torch.full((calls, 7), math.nan, device=dev)
                self._rows.append((step, torch.stack([
                    torch.cat([torch.stack(c).to(dev), pad[len(c):]]) if c else pad for c in self._calls_m])))
            self._calls_m = [[] for _ in self.blocks]
            return
        if not self.blocks or not any(self._calls):
            self._acc, self._calls = [None] * len(self.blocks), [0] * len(self.blocks)
            return
        dev = next(a.device for a in self._acc if a is not None)
        nan = torch.full((3,), math.nan, device=dev)
        row = torch.stack([a.to(dev) / c if a is not None else nan for a, c in zip(self._acc, self._calls)])
        self._rows.append((step, row))
        self._acc, self._calls = [None] * len(self.blocks), [0] * len(self.blocks)

    def flush(self) -> None:
        """Copy the recorded rows to the host (the one synchronization; with :attr:`moments` the
        Watcher's flush does it)."""
        if not self._rows or self.moments:
            return
        rows = torch.stack([r for _, r in self._rows]).double().cpu().numpy()
        self.steps += [s for s, _ in self._rows]
        self._host += list(rows)
        self._rows = []

    def take(self) -> tuple[list[int], np.ndarray]:
        """(steps, (S, blocks, C, 7) float64 per-call moments) of the pending rows (C: the most calls of a
        block in one step, NaN-padded), removed from the recorder (:attr:`moments` mode)."""
        rows, self._rows = self._rows, []
        calls = max((r.shape[1] for _, r in rows), default=0)
        out = np.full((len(rows), len(self.blocks), calls, 7), np.nan)
        for i, (_, r) in enumerate(rows):
            out[i, :, :r.shape[1]] = r.double().cpu().numpy()
        return [s for s, _ in rows], out

    def append(self, steps: list[int], var: np.ndarray) -> None:
        """Add host rows: ``var`` (S, blocks, 3) variances (Var x, Var y, Var u) of ``steps``."""
        self.steps += list(steps)
        self._host += list(var)

    def arrays(self) -> dict[str, np.ndarray]:
        """``stream_steps`` (S,), ``stream_blocks`` (B,) names, and per :data:`STREAM_STATS` an (S, B)
        float64 array: the stream std before and after each block and the branch/stream ratio."""
        self.flush()
        v = np.stack(self._host) if self._host else np.zeros((0, len(self.names), 3))
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.sqrt(v[..., 2] / v[..., 0])
        return {"stream_steps": np.array(self.steps, np.int64), "stream_blocks": np.array(self.names, dtype=str),
                "stream_input_std": np.sqrt(v[..., 0]), "stream_std": np.sqrt(v[..., 1]), "branch_ratio": ratio}


def block_stats(arrays: dict[str, np.ndarray], row: int = -1) -> list[BlockStats]:
    """The :class:`BlockStats` of one recorded step (default the last) of :meth:`StreamRecorder.arrays`
    (or a Watcher's saved arrays): what :func:`~initlab.probes.transformer_findings.diagnose_transformer`
    reads."""
    steps = arrays.get("stream_steps")
    if steps is None or len(steps) == 0:
        return []
    names = [str(n) for n in arrays["stream_blocks"]]
    return [BlockStats(n, i, 0, input_std=float(arrays["stream_input_std"][row, i]),
                       std=float(arrays["stream_std"][row, i]), branch_ratio=float(arrays["branch_ratio"][row, i]),
                       nonfinite=not math.isfinite(float(arrays["stream_std"][row, i])))
            for i, n in enumerate(names)]
