"""TensorBoard: the events written by ``integrations.tensorboard.log`` read back with TensorBoard's own
EventAccumulator equal the Watcher's arrays, and the first step equals an independent ``il.inspect``."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

import initlab as il

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402
from torch.utils.tensorboard import SummaryWriter  # noqa: E402

from initlab.integrations import tensorboard as tb  # noqa: E402


def _train(steps: int = 6, hist_every: int = 3):
    g = torch.Generator().manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, 12), torch.nn.Tanh(), torch.nn.Linear(12, 3))
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)
    model0 = copy.deepcopy(model)
    xs = [torch.randn(20, 6, generator=g) for _ in range(steps)]
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with il.watch(model, hist_every=hist_every, bins=10) as w:
        for x in xs:
            opt.zero_grad()
            model(x).pow(2).mean().backward()
            opt.step()
            w.step()
    return w, model0, xs[0]


def _read(d) -> EventAccumulator:
    acc = EventAccumulator(str(d), size_guidance={"scalars": 0, "histograms": 0, "tensors": 0})
    acc.Reload()
    return acc


def test_scalars_and_histograms_read_back(tmp_path):
    w, model0, x0 = _train()
    with SummaryWriter(tmp_path) as writer:
        assert tb.log(w, writer) == 5
    acc = _read(tmp_path)
    a = w.arrays()
    tags = set(acc.Tags()["scalars"])
    for j, name in enumerate(a["layers"]):
        for k in ("mean", "std", "grad_norm", "weight_grad_norm", "update_ratio"):
            tag = f"{name}/{k}"
            if not np.isfinite(a[k][:, j]).any():
                assert tag not in tags
                continue
            ev = acc.Scalars(tag)
            steps = [e.step for e in ev]
            assert steps == [int(s) for s, v in zip(a["steps"], a[k][:, j]) if np.isfinite(v)]
            want = a[k][:, j][np.isfinite(a[k][:, j])]
            np.testing.assert_allclose([e.value for e in ev], want, rtol=1e-6)  # TB stores float32
    # an independent reference: step 0 equals il.inspect on the initial weights and first batch
    ins = il.inspect(model0, x0, loss_fn=lambda y: y.pow(2).mean())
    assert [r.name for r in ins.layers] == list(a["layers"])
    for rec in ins.layers:
        got = acc.Scalars(f"{rec.name}/std")[0]
        assert got.step == 0
        assert got.value == pytest.approx(rec.std, rel=1e-5)
        assert acc.Scalars(f"{rec.name}/grad_norm")[0].value == pytest.approx(rec.grad_norm, rel=1e-5)
    # histograms: the device counts and edges, bucket limits = right edges
    assert list(a["hist_steps"]) == [0, 3]
    for j, name in enumerate(a["layers"]):
        hs = acc.Histograms(f"{name}/output")
        assert [h.step for h in hs] == [0, 3]
        for h, counts, edges in zip(hs, a["hist_counts"][:, j], a["hist_edges"][:, j]):
            v = h.histogram_value
            np.testing.assert_allclose(v.bucket, counts)
            np.testing.assert_allclose(v.bucket_limit, edges[1:], rtol=1e-6)
            assert v.num == counts.sum() == 20 * (12 if name != "2" else 3)
            assert v.min == pytest.approx(edges[0]) and v.max == pytest.approx(edges[-1])


def test_incremental_and_one_step(tmp_path):
    w, _, _ = _train(steps=4, hist_every=2)
    with SummaryWriter(tmp_path / "a") as writer:
        last = tb.log(w, writer, since=1)
        assert last == 3 and tb.log(w, writer, since=last) == 3  # nothing new
    assert [e.step for e in _read(tmp_path / "a").Scalars("0/std")] == [2, 3]
    with SummaryWriter(tmp_path / "b") as writer:
        assert tb.log(w, writer, step=2, histograms=False) == 2
    acc = _read(tmp_path / "b")
    assert [e.step for e in acc.Scalars("0/std")] == [2] and not acc.Tags()["histograms"]


def test_bad_arguments():
    w, _, _ = _train(steps=2)
    with pytest.raises(ValueError, match="stats.*'nope'"):
        tb.log(w, object(), stats=("std", "nope"))
    with pytest.raises(ValueError, match="step or since"):
        tb.log(w, object(), step=1, since=0)


class _Spy:
    """A SummaryWriter stand-in that records what it receives, to see *when* values arrive."""

    def __init__(self):
        self.scalars, self.hists = [], []

    def add_scalar(self, tag, value, global_step):
        self.scalars.append((tag, value, global_step))

    def add_histogram_raw(self, tag, **kw):
        self.hists.append((tag, kw["global_step"]))


def test_watch_tensorboard_option_writes_at_each_flush(tmp_path):
    """``watch(..., tensorboard=writer)``: values arrive at each flush (not before), and the event
    file holds exactly what ``tb.log`` writes from the finished history."""
    g = torch.Generator().manual_seed(1)
    model = torch.nn.Sequential(torch.nn.Linear(6, 12), torch.nn.ReLU(), torch.nn.Linear(12, 3))
    xs = [torch.randn(20, 6, generator=g) for _ in range(5)]
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    spy = _Spy()
    with il.watch(model, hist_every=2, flush_every=2, bins=8, tensorboard=spy) as w:
        for i, x in enumerate(xs):
            opt.zero_grad()
            model(x).pow(2).mean().backward()
            opt.step()
            w.step()
            # rows reach the writer when a flush happens (every 2 recorded steps), never earlier
            assert {s for _, _, s in spy.scalars} == set(range(2 * ((i + 1) // 2)))
    assert {s for _, _, s in spy.scalars} == set(range(5))  # close() flushed the last row
    assert sorted({s for _, s in spy.hists}) == [0, 2, 4]
    # the same rows through a real SummaryWriter equal tb.log's output of the finished history
    model2 = copy.deepcopy(model)
    with SummaryWriter(tmp_path / "live") as writer, il.watch(model2, hist_every=2, flush_every=2,
                                                              tensorboard=writer) as w2:
        opt2 = torch.optim.SGD(model2.parameters(), lr=0.1)
        for x in xs:
            opt2.zero_grad()
            model2(x).pow(2).mean().backward()
            opt2.step()
            w2.step()
    with SummaryWriter(tmp_path / "after") as writer:
        tb.log(w2, writer)
    live, after = _read(tmp_path / "live"), _read(tmp_path / "after")
    assert set(live.Tags()["scalars"]) == set(after.Tags()["scalars"]) != set()
    for tag in live.Tags()["scalars"]:
        assert [(e.step, e.value) for e in live.Scalars(tag)] == [(e.step, e.value) for e in after.Scalars(tag)]
    assert set(live.Tags()["histograms"]) == set(after.Tags()["histograms"]) != set()
    for tag in live.Tags()["histograms"]:
        for h1, h2 in zip(live.Histograms(tag), after.Histograms(tag), strict=True):
            assert h1.step == h2.step and list(h1.histogram_value.bucket) == list(h2.histogram_value.bucket)


def test_watch_tensorboard_option_rejects_non_writer():
    model = torch.nn.Sequential(torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="tensorboard must be a SummaryWriter.*str"):
        il.watch(model, tensorboard="runs/x")
    with pytest.raises(ValueError, match="fn must be callable"):
        il.watch(model).add_listener(3)
