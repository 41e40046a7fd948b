"""il.watch under DistributedDataParallel: a 2-process gloo run over a global batch records what one
process records over that batch (forward, backward, histograms, residual stream), and the merge
itself matches numpy on random partitions."""
from __future__ import annotations

import faulthandler
import json
import os

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

import initlab as il
from initlab.probes import distributed as D
from ddp_testlib import BACKWARD, FORWARD, rel as _rel

WORLD, STEPS, SPLIT = 2, 4, (20, 12)  # unequal shards: 20 and 12 examples of a global batch of 32
RTOL = 1e-6


class Block(nn.Module):
    def __init__(self, d: int):
        super().__init__()
        self.lin, self.act = nn.Linear(d, d), nn.Tanh()

    def forward(self, x):
        return x + self.act(self.lin(x))


class Position(nn.Module):
    """Adds a learned (1, 2, 8) table looked up at fixed positions: an output with no batch dimension
    (like BERT's position embeddings), the same on every rank, whose δ is the mean of the ranks' δ."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(2, 8)
        self.register_buffer("idx", torch.tensor([[0, 1]]))

    def forward(self, x):
        return x + self.emb(self.idx).reshape(1, 16)


def _model() -> nn.Module:
    torch.manual_seed(0)
    m = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), Position(), nn.Sequential(Block(16), Block(16), Block(16)),
                      nn.Linear(16, 4), nn.Sigmoid(), nn.Linear(4, 2))
    with torch.no_grad():
        m[0].weight[:3].zero_()  # a few ReLU units dead on part of the batch
        m[6].bias.fill_(100.0)  # |mean| ≫ std: the shifted sums and Chan's between-rank term matter
    return m.double()


def _batch():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(sum(SPLIT), 6, generator=g, dtype=torch.float64)
    x[SPLIT[0]:] = 3.0 + 0.5 * x[SPLIT[0]:]  # the ranks' shards differ in mean (their shifts too)
    return x, torch.randn(sum(SPLIT), 2, generator=g, dtype=torch.float64) + 100.0


def _shard_loss(out, y):
    return ((out - y) ** 2).mean()


def _train(model, w, x, y, shards):
    opt = torch.optim.SGD(model.parameters(), lr=0.02)
    for _ in range(STEPS):
        opt.zero_grad()
        out = model(x)  # one forward over the global batch; the loss DDP descends: the mean over
        loss = sum(_shard_loss(out[a:b], y[a:b]) for a, b in shards) / len(shards)  # ranks of their mean losses
        loss.backward()
        opt.step()
        w.step()


def _bounds():
    edges = np.cumsum((0,) + SPLIT)
    return [(int(edges[r]), int(edges[r + 1])) for r in range(WORLD)]


def _worker(rank: int, init: str, out: str) -> None:
    faulthandler.dump_traceback_later(120, exit=True)  # a stuck rank fails the test instead of hanging the suite
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=WORLD)
    try:
        _ranks_run(rank, out)  # its DDP and Watcher objects are freed before the process group
    finally:
        dist.destroy_process_group()
        faulthandler.cancel_dump_traceback_later()


def _ranks_run(rank: int, out: str) -> None:
    ddp = nn.parallel.DistributedDataParallel(_model())
    x, y = _batch()
    a, b = _bounds()[rank]
    opt = torch.optim.SGD(ddp.parameters(), lr=0.02)
    with il.watch(ddp, every=1, hist_every=2, flush_every=3) as w:
        for _ in range(STEPS):
            opt.zero_grad()
            _shard_loss(ddp(x[a:b]), y[a:b]).backward()
            opt.step()
            w.step()
    w.save(os.path.join(out, "ddp.npz"))  # rank 0 only
    np.savez(os.path.join(out, f"rank{rank}.npz"), **w.arrays())
    # ranks out of step (rank 0 records one more step) fail at the flush, on every rank, clearly
    try:
        with il.watch(ddp.module, every=1, hist_every=None) as w2:  # no DDP: no collective in backward
            for _ in range(2 if rank == 0 else 1):
                ddp.module(x[a:b]).sum().backward()
                w2.step()
        msg = "no error"
    except RuntimeError as e:
        msg = str(e)
    with open(os.path.join(out, f"misuse{rank}.json"), "w") as f:
        json.dump(msg, f)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp")
    mp.spawn(_worker, args=(f"file://{out / 'init'}", str(out)), nprocs=WORLD, join=True)
    model = _model()
    x, y = _batch()
    with il.watch(model, every=1, hist_every=2, flush_every=3) as w:
        _train(model, w, x, y, _bounds())
    return out, w.arrays()


STATS = FORWARD + BACKWARD + ("nonfinite_forward", "nonfinite_backward")


def test_ddp_two_gloo_ranks_equal_one_process_on_the_global_batch(runs):
    out, ref = runs
    got = dict(np.load(out / "ddp.npz"))
    assert got["steps"].tolist() == ref["steps"].tolist() == list(range(STEPS))
    assert got["layers"].tolist() == ref["layers"].tolist()  # the DDP wrapper is unwrapped
    assert got["batch_size"].tolist() == [sum(SPLIT)] * STEPS
    worst = {k: _rel(got[k], ref[k]) for k in STATS}
    # means relative to the spread (a mean near 0 has no relative digits of its own)
    worst["mean"] = _rel(got["mean"], ref["mean"], ref["std"])
    print("max relative difference per statistic:", {k: f"{v:.1e}" for k, v in worst.items()})
    assert max(worst.values()) < RTOL, worst
    # the statistics are not trivially equal: the shards differ, so rank 0 alone would not match
    assert np.nanmax(ref["dead_fraction"]) > 0
    assert np.nanmax(np.abs(ref["mean"])) > 50 * np.nanmax(ref["std"][:, -1])
    # histograms: counts on shared edges add up exactly
    assert got["hist_steps"].tolist() == ref["hist_steps"].tolist() == [0, 2]
    assert np.array_equal(got["hist_counts"], ref["hist_counts"])
    assert _rel(got["hist_edges"], ref["hist_edges"], np.abs(ref["hist_edges"]).max()) < RTOL
    # the residual stream of the three blocks
    assert got["stream_blocks"].tolist() == ["3.0", "3.1", "3.2"]
    assert got["stream_steps"].tolist() == ref["stream_steps"].tolist()
    for k in ("stream_input_std", "stream_std", "branch_ratio"):
        assert _rel(got[k], ref[k]) < RTOL, k
    # every rank holds the merged history; only rank 0 wrote the file
    r1 = np.load(out / "rank1.npz")
    assert np.array_equal(r1["std"], got["std"], equal_nan=True)
    assert sorted(p.name for p in out.glob("ddp*")) == ["ddp.npz"]


def test_ddp_ranks_out_of_step_fail_clearly_on_every_rank(runs):
    out, _ = runs
    for r in range(WORLD):
        msg = json.loads((out / f"misuse{r}.json").read_text())
        assert "out of step" in msg and "rows: [2, 1]" in msg, msg


def _shifted_sums(x: np.ndarray) -> tuple[float, float, float]:
    c = x[0]
    return c, (x - c).sum(), ((x - c) ** 2).sum()


def test_merge_raw_equals_numpy_on_random_partitions():
    rng = np.random.default_rng(0)
    keys = ("shift", "sum", "sq", "l1", "gshift", "gsum", "gsq", "min", "max", "zero", "pos", "sat",
            "dead", "distinct", "in_pos", "wgrad")
    mark = -3e38
    for trial in range(20):
        W = int(rng.integers(2, 6))
        total = int(rng.integers(W * 2, 200))
        cuts = np.sort(rng.choice(np.arange(1, total), W - 1, replace=False))
        x = rng.normal(rng.uniform(-1e3, 1e3), rng.uniform(1e-2, 10), total)
        x[rng.random(total) < 0.2] = 0.0
        g = rng.normal(rng.normal(), 1.0, total)
        data = np.full((W, 1, 1, len(keys)), np.nan)
        n = np.zeros((W, 1, 1))
        for r, part in enumerate(np.split(np.arange(total), cuts)):
            xs, gs = x[part], W * g[part]  # each rank's δ is W × the one of the averaged loss
            vals = dict(zip(("shift", "sum", "sq"), _shifted_sums(xs)))
            vals.update(zip(("gshift", "gsum", "gsq"), _shifted_sums(gs)))
            vals.update(l1=np.abs(xs).sum(), min=xs.min(), max=xs.max(), zero=(xs == 0).sum(),
                        pos=(xs > 0).sum(), sat=(np.abs(xs) > 900).sum(), dead=0.25, distinct=7.0,
                        in_pos=3.0, wgrad=1.5)
            data[r, 0, 0] = [vals[k] for k in keys]
            n[r] = len(part)
        out = D.merge_raw(data, n, keys, mark)[0, 0]
        m = dict(zip(keys, out))
        N = n.sum()
        st = il.probes.stats.derive({k: np.array([v]) for k, v in m.items()}, np.array([N]))
        assert st["mean"][0] == pytest.approx(x.mean(), rel=1e-12, abs=1e-12 * x.std())
        assert st["std"][0] == pytest.approx(x.std(), rel=1e-9)
        assert st["grad_mean"][0] == pytest.approx(g.mean(), abs=1e-12)
        assert st["grad_std"][0] == pytest.approx(g.std(), rel=1e-12)
        assert st["abs_mean"][0] == pytest.approx(np.abs(x).mean(), rel=1e-12)
        assert (m["min"], m["max"]) == (x.min(), x.max())
        assert st["zero_fraction"][0] == pytest.approx((x == 0).mean())
        assert m["pos"] == (x > 0).sum() and m["sat"] == (np.abs(x) > 900).sum() and m["in_pos"] == 3.0 * W
        assert (m["dead"], m["distinct"], m["wgrad"]) == (0.25, 7.0, 1.5)  # rank 0's (identical on every rank)
    # a recorded NaN on one rank stays a recorded NaN; an unrecorded value stays unrecorded
    data[1, 0, 0, keys.index("sq")] = mark
    data[:, 0, 0, keys.index("l1")] = np.nan
    out = D.merge_raw(data, n, keys, mark)[0, 0]
    assert out[keys.index("sq")] == mark and np.isnan(out[keys.index("l1")])


def test_merge_stream_pools_each_call_over_ranks_then_averages_calls():
    rng = np.random.default_rng(1)
    W, calls = 3, 2
    per_call = []
    rows = np.full((W, 1, 2, calls, 7), np.nan)  # block 1 is called once only
    for c in range(calls):
        xs = [rng.normal(r, 1 + r, (5 + r, 4)) for r in range(W)]
        ys = [x * 2 + rng.normal(size=x.shape) for x in xs]
        for r in range(W):
            u = ys[r] - xs[r]
            for b in range(2 if c == 0 else 1):
                rows[r, 0, b, c] = [xs[r].mean(), ys[r].mean(), u.mean(), xs[r].var(), ys[r].var(), u.var(), xs[r].size]
        X, Y = np.concatenate(xs), np.concatenate(ys)
        per_call.append([X.var(), Y.var(), (Y - X).var()])
    v = D.merge_stream(rows)
    assert v.shape == (1, 2, 3)
    np.testing.assert_allclose(v[0, 0], np.mean(per_call, 0), rtol=1e-12)
    np.testing.assert_allclose(v[0, 1], per_call[0], rtol=1e-12)


def test_not_distributed_costs_nothing():
    assert D.world() is None and D.world(False) is None
    with pytest.raises(ValueError, match="distributed=True needs torch.distributed"):
        D.world(True)


def test_batch_free_deltas_are_reduced_and_unscaled_at_the_flush(tmp_path):
    """ExtendedSync.merge_deltas on a one-process gloo group: a kept δ is reduced in float64 into the
    row's (gshift, gsum, gsq), divided by the row's AMP loss scale when one was recorded (the averaging
    over ranks is what the two-rank test's batch-free Position layer checks)."""
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'init'}", rank=0, world_size=1)
    try:
        sync = D.ExtendedSync(D.Dist(0, 1, torch.device("cpu")))
        g = torch.tensor([[3.0, 5.0, 11.0]])
        sync.defer_delta((0, 0), g)
        sync.keep_deltas(0)
        keys = ("gshift", "gsum", "gsq", "gscale")
        idx = {k: i for i, k in enumerate(keys)}
        data = np.full((1, 2, len(keys)), np.nan)
        data[0, 1, idx["gscale"]] = 4.0  # the row's scale, recorded under another layer's column
        sync.merge_deltas(data, {(0, 0): 0}, idx)
        d = g.double().numpy().ravel() / 4.0
        c = d[0]
        assert data[0, 0, :3].tolist() == pytest.approx([c, (d - c).sum(), ((d - c) ** 2).sum()])
        assert sync.pending == [] and sync.pending_bytes == 0
    finally:
        dist.destroy_process_group()
