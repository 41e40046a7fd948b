r"""``watch`` under data parallelism (DDP): the ranks' records merged into those of one process that saw
the global batch.

Each rank keeps its partial sums on its device exactly as in one process (no collective inside the
hooks). The ranks meet only at *flushes* (one small all_gather of a header that checks they are in
step, then ONE all_gather of a flat float64 tensor packing every raw row, the per-row element counts,
the histogram rows and the residual-stream rows), and, under DDP, once per *extended* step (one
all_gather at ``w.step()`` of the output ranges and per-unit vectors, see :class:`ExtendedSync`).
Every rank merges the gathered rows on the host in float64 (so every rank holds the same history).

**Moments (Chan et al., 1979).** Rank r reports, for n_r entries, a shift c_r and the sums
s_r = Σ(x − c_r), q_r = Σ(x − c_r)². Its mean and centred second moment are

.. math:: \bar x_r = c_r + s_r/n_r, \qquad M_r = q_r - s_r^2/n_r = \sum (x - \bar x_r)^2,

and the pooled ones, exact whatever the shifts,

.. math:: n = \sum_r n_r,\quad \bar x = \frac{1}{n}\sum_r n_r \bar x_r,\quad
          M = \sum_r M_r + \sum_r n_r (\bar x_r - \bar x)^2 .

Σ|x|, zero/positive/saturated counts and n add; min/max are the min/max over ranks; histogram
counts add (the ranks binned on shared edges); parameter-gradient norms, the update ratio and sign
coherence are identical on every rank after DDP's all-reduce (rank 0's are kept).

**Backward convention.** DDP averages parameter gradients over the W ranks, so the loss it descends
is L = (1/W) Σ_r L_r and the δ of that loss is δ_r / W. The records use it: the δ shift and sum are
divided by W and the centred second moment by W². With a mean loss and equal shards this equals a
single process on the global batch (each rank's own δ is W times larger); with unequal shards it is
the δ of (1/W) Σ_r mean(shard r), the loss DDP actually optimizes.

**Batch-free outputs.** An output with no batch dimension (leading dimension 1 while the step's
other outputs have more: BERT's position embeddings, (1, T, H)) is the same on every rank: its
forward statistics and histogram are rank 0's (not W copies pooled), and its δ is the mean of the
ranks' δ tensors, not their concatenation. Those δ's are kept on the device (copies) until the flush,
which all-reduces them once, after the header check (so ranks out of step still fail clearly); a
flush comes early when they pass ``DELTA_BYTES`` (64 MiB). Which outputs are batch-free is decided at
the first backward, so every rank keeps the same ones even when a later batch has one example.

**Per-unit statistics.** A unit is dead when it is ≤ 0 on every example of every rank: the ranks'
per-unit alive masks are combined by a max. Distinct units hash each unit's concatenated vector over
the global batch: rank r projects its part on its own random direction p_r and the partial hashes
add, Σ_r u_r·p_r = u·p with p = (p_0, …, p_{W−1}) (the count equals one process's with probability
1; 1-d outputs keep rank 0's local value).

>>> import numpy as np
>>> x = np.array([1.0, 2.0, 3.0, 10.0, 20.0])
>>> m, M, n = chan(np.array([2.0, 15.0]), np.array([2.0, 50.0]), np.array([3.0, 2.0]))
>>> round(float(m), 12), round(float(M / n), 12), round(float(x.mean()), 12), round(float(x.var()), 12)
(7.2, 50.96, 7.2, 50.96)
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from . import stats as S

__all__ = ["Dist", "world", "unwrap", "chan", "merge_raw", "merge_stream", "combine", "ExtendedSync",
           "fingerprint"]

MOMENTS = 7  # a residual-stream call under DDP: (mean x, mean y, mean u, Var x, Var y, Var u, n)


@dataclass(frozen=True)
class Dist:
    """This process's place in the process group: rank, world size, the device collectives use."""

    rank: int
    world: int
    device: torch.device


def world(enabled: bool | None = None) -> Dist | None:
    """The process group to merge over: None when not distributed (``enabled`` None: automatic when
    ``torch.distributed`` is initialized with world size > 1; False: never; True: required)."""
    if enabled is False:
        return None
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        if enabled:
            raise ValueError("distributed=True needs torch.distributed initialized (init_process_group)")
        return None
    w = dist.get_world_size()
    if w < 2 and not enabled:
        return None
    dev = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")
    return Dist(dist.get_rank(), w, dev)


def unwrap(model: Any) -> Any:
    """The module a ``DistributedDataParallel`` wrapper holds (layer names then match one process)."""
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def fingerprint(labels: Sequence[str]) -> int:
    """A 31-bit checksum of the layer labels (ranks must record the same layers)."""
    return zlib.crc32("\n".join(labels).encode()) & 0x7FFFFFFF


def chan(mean: np.ndarray, m2: np.ndarray, n: np.ndarray, axis: int = 0) -> tuple[np.ndarray, ...]:
    """Pooled (mean, M, n) of groups along ``axis`` with means ``mean``, centred sums of squares ``m2``
    and counts ``n`` (Chan et al.'s parallel formula; see the module docs)."""
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        tot = n.sum(axis)
        mu = (n * mean).sum(axis) / tot
        return mu, m2.sum(axis) + (n * (mean - np.expand_dims(mu, axis)) ** 2).sum(axis), tot


def _moments(c: np.ndarray, s: np.ndarray, q: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean, centred Σ) of one group from its shifted sums: c + s/n and q − s²/n (≥ 0)."""
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        return c + s / n, np.maximum(q - s * s / n, 0.0)


def merge_raw(data: np.ndarray, n: np.ndarray, keys: Sequence[str], mark: float,
              free: Sequence[int] = ()) -> np.ndarray:
    """Merge the ranks' raw rows ``data`` (W, R, L, K) with entry counts ``n`` (W, R, L) into (R, L, K).

    The merged moments come back as shift = pooled mean, sum = 0 (NaN when not finite), sq = M, so that
    :func:`initlab.probes.stats.derive` reads them unchanged; δ's are scaled to the loss (1/W) Σ_r L_r.
    ``mark`` stands for a recorded NaN (NaN itself: not recorded); the present entries are rank 0's.
    ``free`` columns (batch-free outputs, the same on every rank; their δ averaged over the ranks at the
    step by :meth:`ExtendedSync.finish_deltas`) keep rank 0's values.
    """
    W, idx = data.shape[0], {k: i for i, k in enumerate(keys)}
    present = ~np.isnan(data[0])
    d = np.where(data == mark, np.nan, data)
    out = d[0].copy()  # per-unit (merged at the step) and parameter statistics: rank 0's
    with np.errstate(invalid="ignore", over="ignore"):
        for p, scale in (("", 1.0), ("g", 1.0 / W)):
            mean, m2 = _moments(*(d[..., idx[p + k]] for k in ("shift", "sum", "sq")), n)
            mu, M, _ = chan(mean * scale, m2 * scale * scale, n)
            out[..., idx[p + "shift"]], out[..., idx[p + "sum"]], out[..., idx[p + "sq"]] = mu, mu - mu, M
        for k in ("l1", "zero", "pos", "sat", "in_pos"):
            out[..., idx[k]] = d[..., idx[k]].sum(0)
        out[..., idx["min"]], out[..., idx["max"]] = d[..., idx["min"]].min(0), d[..., idx["max"]].max(0)
    free = list(free)
    out[:, free] = d[0][:, free]
    out[present & np.isnan(out)] = mark
    return out


def merge_stream(rows: np.ndarray) -> np.ndarray:
    """Residual stream: the ranks' per-call moments (W, S, B, C, 7) → (S, B, 3) variances (Var x, Var y,
    Var u), each call pooled over the ranks by :func:`chan`, then averaged over the block's calls."""
    n = rows[..., 6]
    called = ~np.isnan(n[0])  # (S, B, C)
    out = []
    for j in range(3):
        _, M, tot = chan(rows[..., j], rows[..., 3 + j] * n, n)
        with np.errstate(invalid="ignore", divide="ignore"):
            out.append(np.where(called, M / tot, 0.0).sum(-1) / called.sum(-1))
    return np.stack(out, -1)


def _gather(dist: Dist, t: Tensor) -> Tensor:
    """all_gather of one tensor → (W, *t.shape) on the host."""
    import torch.distributed as tdist

    t = t.to(dist.device)
    parts = [torch.empty_like(t) for _ in range(dist.world)]
    tdist.all_gather(parts, t)
    return torch.stack(parts).cpu()


_HEADER = ("rows", "layers", "hist rows", "stream rows", "stream calls", "first step", "last step", "labels",
           "batch-free δ entries")


def combine(dist: Dist, local: dict[str, np.ndarray], header: Sequence[int], keys: Sequence[str],
            mark: float, free: Sequence[int] = (), checked: Any = None) -> dict[str, np.ndarray]:
    """The flush under DDP, on every rank: check the ranks' ``header`` (one small all_gather: ranks out
    of step raise here, on every rank, instead of hanging in the next collective), gather the packed
    rows (one all_gather) and merge them (:func:`merge_raw`, counts add, :func:`merge_stream`)."""
    h = _gather(dist, torch.tensor(list(header), dtype=torch.int64)).numpy()
    if (h != h[0]).any():
        bad = [f"{name}: {h[:, i].tolist()}" for i, name in enumerate(_HEADER) if (h[:, i] != h[0, i]).any()]
        raise RuntimeError("il.watch under DDP: the ranks are out of step at a flush (per rank, "
                           + "; ".join(bad) + "). Flushes are collectives: every rank must record the same "
                           "steps and call w.step(), w.flush() and close() at the same points.")
    if checked is not None:  # collectives that need the ranks in step (batch-free δ's)
        checked(local)
    names = ("data", "n", "in_n", "batch", "counts", "stream")
    flat = np.concatenate([np.asarray(local[k], np.float64).reshape(-1) for k in names])
    if flat.size == 0:
        return {**local, "stream": np.zeros(local["stream"].shape[:2] + (3,))}
    g = _gather(dist, torch.from_numpy(flat)).numpy()
    parts, o = {}, 0
    for k in names:
        size = local[k].size
        parts[k] = g[:, o:o + size].reshape((dist.world,) + local[k].shape)
        o += size
    free = list(free)  # batch-free columns: one copy's counts, not W
    added = {}
    for k in ("n", "in_n", "counts"):
        added[k] = parts[k].sum(0)
        added[k][:, free] = parts[k][0][:, free]
    return {**local, "data": merge_raw(parts["data"], parts["n"], keys, mark, free), **added,
            "batch": parts["batch"].sum(0), "stream": merge_stream(parts["stream"])}


class ExtendedSync:
    """DDP, extended steps: what cannot be reduced inside a hook without the other ranks.

    The hooks defer (``defer_histogram``, ``defer_dead``, ``defer_distinct``) each output (a detached copy, held until ``w.step()``: one activation's
    memory per probed layer on extended steps), its alive mask and its partial hash; :meth:`finish`
    (at ``w.step()``, on every rank) does one all_gather of (min, max, alive masks, partial hashes),
    bins the kept outputs on the shared range [min over ranks, max over ranks] and adds the merged
    ``dead``/``distinct`` values to the recorder's row. On every recorded step the δ of batch-free
    outputs (:meth:`batch_free`) are kept too (:meth:`defer_delta`, :meth:`keep_deltas`) until the
    flush merges them (:meth:`merge_deltas`).
    """

    def __init__(self, dist: Dist):
        self.dist = dist
        self.free: set | None = None  # the batch-free slots, fixed at the first backward
        self.pending: list[tuple[int, list[tuple[Any, Tensor]]]] = []  # (row, its batch-free δ's) until the flush
        self.pending_bytes = 0
        self.clear()

    def clear(self) -> None:
        self.hist: list[tuple[Any, Tensor, Tensor, Tensor]] = []
        self.dead: list[tuple[Any, Tensor]] = []
        self.distinct: list[tuple[Any, Tensor]] = []
        self.deltas: list[tuple[Any, Tensor]] = []

    def batch_free(self, meta: dict) -> set:
        """The slots whose output has no batch dimension (leading dimension 1, ≥ 2-d, while other outputs
        have a larger one: position embeddings (1, T, H)). They are the same on every rank, and their δ
        is the mean of the ranks' δ tensors, not their concatenation. Decided once, at the first backward
        (``meta``: slot → (entries, leading dim, units)), so that every rank defers the same δ's on every
        recorded step even when a rank's later batch has one example."""
        if self.free is None:
            lead = max((m[1] for m in meta.values()), default=1)
            self.free = {sl for sl, m in meta.items() if m[1] == 1 and m[0] != m[2]} if lead > 1 else set()
        return self.free

    def defer_delta(self, slot: Any, g: Tensor) -> None:
        self.deltas.append((slot, g.detach().to(torch.promote_types(g.dtype, torch.float32), copy=True)))

    def keep_deltas(self, row: int) -> None:
        """The step just recorded as ``row``: keep its batch-free δ's on the device until the flush."""
        if self.deltas:
            self.pending.append((row, self.deltas))
            self.pending_bytes += sum(g.numel() * g.element_size() for _, g in self.deltas)
        self.deltas = []

    @property
    def pending_numel(self) -> int:
        return sum(g.numel() for _, ds in self.pending for _, g in ds)

    def merge_deltas(self, data: np.ndarray, col: dict, index: dict) -> None:
        """At the flush (every rank, after the header check): one all_reduce of the kept batch-free δ's,
        averaged over the ranks (the δ of (1/W) Σ_r L_r; divided by the row's ``gscale`` when recorded),
        reduced in float64 on the host into ``data`` (R, L, K: columns ``col[slot]``, statistics
        ``index``) as (gshift, gsum, gsq)."""
        if not self.pending:
            return
        import torch.distributed as tdist

        flat = torch.cat([g.reshape(-1).to(torch.float64) for _, ds in self.pending for _, g in ds]).to(self.dist.device)
        tdist.all_reduce(flat)
        v = flat.cpu().numpy() / self.dist.world
        o = 0
        for row, ds in self.pending:
            scale = data[row, :, index["gscale"]]  # AMP: the row's loss scale (the Watcher's grad_scaler)
            scale = scale[np.isfinite(scale) & (scale > 0)]
            for slot, g in ds:
                d = v[o:o + g.numel()] / (scale[0] if scale.size else 1.0)
                o += g.numel()
                c = float(np.float32(d[0]))  # (a float32 shift, as the hooks record)
                data[row, col[slot], [index["gshift"], index["gsum"], index["gsq"]]] = (c, (d - c).sum(), ((d - c) ** 2).sum())
        self.pending, self.pending_bytes = [], 0

    def defer_histogram(self, slot: Any, y: Tensor, lo: Tensor, hi: Tensor) -> None:
        self.hist.append((slot, y.clone(), lo, hi))

    def defer_dead(self, slot: Any, positive: Tensor, dim: int) -> None:
        self.dead.append((slot, S.alive_units(positive, dim).to(torch.float64)))

    def defer_distinct(self, slot: Any, y: Tensor, dim: int) -> None:
        u = y.movedim(dim, 0).reshape(y.shape[dim], -1).to(torch.float64)
        self.distinct.append((slot, u @ S.projection(u.shape[1], u.device, stream=self.dist.rank)))

    def finish(self, rec: Any) -> None:
        """Merge over the ranks and append to ``rec`` (its ``hists``, ``vals`` and ``keys``)."""
        k = len(self.hist)
        ends = [t.reshape(1) for _, _, t, _ in self.hist] + [t.reshape(1) for _, _, _, t in self.hist]
        parts = [t.to("cpu", torch.float64) for t in ends] + [v.cpu() for _, v in self.dead + self.distinct]
        g = _gather(self.dist, torch.cat(parts) if parts else torch.zeros(0, dtype=torch.float64))  # (W, 2k + Σ units)
        lo, hi = g[:, :k].amin(0), g[:, k:2 * k].amax(0)
        for i, (slot, y, l, h) in enumerate(self.hist):
            rec.hists.append((slot, S.histogram(y, lo[i].to(l), hi[i].to(h), rec.bins)))
        o = 2 * k
        for slot, v in self.dead:
            alive = g[:, o:o + v.numel()].amax(0)
            rec.vals.append((1.0 - alive.mean()).to(v.device, S.ACC))
            rec.keys.append(rec.slot_keys(slot)["dead"])
            o += v.numel()
        for slot, v in self.distinct:
            rec.vals.append(S.count_distinct(g[:, o:o + v.numel()].sum(0)).to(v.device))
            rec.keys.append(rec.slot_keys(slot)["distinct"])
            o += v.numel()
        self.hist, self.dead, self.distinct = [], [], []  # (the step's batch-free δ's stay for keep_deltas)
