"""il.watch: values vs autograd, no host syncs between flushes, save/load, cleanup, thinning, leaks."""
from __future__ import annotations

import copy
import gc
import tracemalloc

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import initlab as il
from probes_testlib import CountOps, cnn_bn, gen, mlp


def _train(model, w, steps, x, y, lr=0.01, opt=None):
    opt = opt or torch.optim.SGD(model.parameters(), lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
        w.step()


def _data(n=32, d=10, k=3, seed=0):
    return torch.randn(n, d, generator=gen(seed)), torch.randint(0, k, (n,), generator=gen(seed + 1))


def test_watch_values_match_autograd_and_update_ratio():
    model = mlp([10, 16, 3], act=nn.Tanh, init="xavier", seed=2)
    x, y = _data()
    w0 = model[0].weight.detach().clone()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with il.watch(model, every=1, hist_every=1) as w:
        opt.zero_grad()
        h = model[0](x)
        h.retain_grad()
        out = model[2](model[1](h))
        F.cross_entropy(out, y).backward()
        g_h, gw, gb = h.grad.clone(), model[0].weight.grad.clone(), model[0].bias.grad.clone()
        opt.step()
        w.step()
    a = w.arrays()
    assert a["layers"].tolist() == ["0", "1", "2"] and a["steps"].tolist() == [0]
    hd = h.detach().double()
    assert a["std"][0, 0] == pytest.approx(float(hd.std(correction=0)), rel=1e-5)
    assert a["mean"][0, 0] == pytest.approx(float(hd.mean()), rel=1e-4, abs=1e-7)
    assert a["abs_mean"][0, 0] == pytest.approx(float(hd.abs().mean()), rel=1e-5)
    assert a["grad_norm"][0, 0] == pytest.approx(float(g_h.norm()), rel=1e-5)
    assert a["weight_grad_norm"][0, 0] == pytest.approx(float(gw.norm()), rel=1e-5)
    assert a["bias_grad_norm"][0, 0] == pytest.approx(float(gb.norm()), rel=1e-5)
    dw = (model[0].weight.detach() - w0).norm() / w0.norm()
    assert a["update_ratio"][0, 0] == pytest.approx(float(dw), rel=1e-4)
    assert a["min"][0, 0] == pytest.approx(float(hd.min())) and a["max"][0, 0] == pytest.approx(float(hd.max()))
    assert a["hist_counts"].shape == (1, 3, 30) and a["hist_counts"][0, 0].sum() == h.numel()
    assert a["hist_edges"][0, 0, 0] == pytest.approx(float(hd.min()))
    assert np.isnan(a["weight_grad_norm"][0, 1])  # an activation has no weights
    rec = w.history[0].layers[0]
    assert rec.name == "0" and rec.activation == "tanh" and rec.std == pytest.approx(a["std"][0, 0])


def _count_steps(model, x, y, watcher=None, steps=12, first=3):
    """Op counts of steps first…steps-1 of an SGD loop (plain when ``watcher`` is None)."""
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    step = watcher.step if watcher is not None else (lambda: None)
    counter = CountOps()
    for i in range(steps):
        if i == first:
            counter.__enter__()
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
        step()
    counter.__exit__(None, None, None)
    return counter.ops


def test_no_host_sync_between_flushes_dispatch_count():
    # every .item()/float()/bool()/int() of a tensor is one aten._local_scalar_dense: between
    # flushes the watched loop makes exactly as many as the plain loop (none)
    model = mlp([10, 32, 32, 3], seed=0)
    x, y = _data()
    plain = _count_steps(copy.deepcopy(model), x, y)
    with il.watch(model, every=1, hist_every=4, flush_every=10**9) as w:
        watched = _count_steps(model, x, y, w)
        assert len(w.store.steps) == 0  # nothing flushed yet
    assert watched["_local_scalar_dense"] == plain["_local_scalar_dense"] == 0
    # the mode sees the hooks' ops (forward and backward: one dot per output and per δ), so a sync
    # in them would be counted
    assert watched["dot"] >= 9 * 2 * 5 and plain["dot"] == 0
    with CountOps() as c:
        float(torch.ones(2).sum())
        bool(torch.ones(()) > 0)
    assert c.ops["_local_scalar_dense"] == 2
    a = w.arrays()
    assert a["std"].shape == (12, 5) and np.isfinite(a["std"]).all()
    assert a["hist_steps"].tolist() == [0, 4, 8]
    assert np.isfinite(a["dead_fraction"][::4, 1]).all() and np.isnan(a["dead_fraction"][1, 1])


@pytest.mark.parametrize("make", ["mlp", "cnn_bn"])
def test_watched_steps_run_on_meta_tensors(make):
    # meta tensors hold no data: any read (.item(), .tolist(), .numpy(), .cpu(), bool()) raises, so
    # steps that complete read nothing back; only the flush at the end does
    model = (mlp([10, 32, 32, 3], seed=0) if make == "mlp" else cnn_bn()).to("meta")
    x = torch.empty((16, 10) if make == "mlp" else (8, 1, 8, 8), device="meta")
    y = torch.zeros(x.shape[0], dtype=torch.long, device="meta")
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    reached = False
    with pytest.raises(NotImplementedError, match="meta"):
        with il.watch(model, every=1, hist_every=3, flush_every=10**9) as w:
            for _ in range(10):
                opt.zero_grad()
                F.cross_entropy(model(x), y).backward()
                opt.step()
                w.step()
            reached = True
            assert "steps_recorded=10" in repr(w)
            with pytest.raises(Exception, match="meta"):  # the check has teeth: a read raises
                torch.ones(1, device="meta").item()
    assert reached
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA: torch.cuda.set_sync_debug_mode")
def test_no_cuda_sync_between_flushes():
    model = mlp([10, 32, 32, 3], seed=0).cuda()
    x, y = (t.cuda() for t in _data())
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    with il.watch(model, every=1, hist_every=3, flush_every=10**9) as w:
        _train(model, w, 3, x, y, opt=opt)  # warm-up: index caches, snapshots, buffers
        torch.cuda.synchronize()
        torch.cuda.set_sync_debug_mode("error")
        try:
            _train(model, w, 40, x, y, opt=opt)  # 2 shift plans (rows 16 and 32, each copied non-blocking)
        finally:
            torch.cuda.set_sync_debug_mode("default")
    assert np.isfinite(w.arrays()["std"]).all()


def test_flush_every_huge_grows_with_recorded_steps():
    # flush_every=10**9 used to preallocate 10**9 rows (1.15 TB); memory now follows the steps
    model = mlp([10, 16, 16, 3], seed=1)
    twin = copy.deepcopy(model)
    x, y = _data()
    with il.watch(model, every=1, hist_every=5, flush_every=10**9) as w:
        _train(model, w, 10, x, y)
        small = w.buffer_bytes
        _train(model, w, 130, x, y)
        large = w.buffer_bytes
        assert len(w.store.steps) == 0  # flushed only when asked
        a = w.arrays()
        assert len(w.store.steps) == 140
    assert 0 < small <= 500_000  # one chunk of 128 rows (and one of histograms)
    assert small < large <= 2 * small  # 140 rows: two chunks of 128 rows (one of 128 histograms)
    with il.watch(twin, every=1, hist_every=5, flush_every=7) as w2:
        _train(twin, w2, 140, x, y)
    b = w2.arrays()
    assert a["steps"].tolist() == list(range(140)) and len(a["hist_steps"]) == 28
    for k in ("dead_fraction", "hist_counts", "weight_grad_norm", "update_ratio"):
        np.testing.assert_array_equal(a[k], b[k])
    # b's flushes switched moderate layers to unshifted sums: equal to float32 rounding (of the std)
    for k in ("std", "grad_norm", "grad_std"):
        np.testing.assert_allclose(a[k], b[k], rtol=1e-5)
    assert np.all(np.abs(a["mean"] - b["mean"]) <= 1e-5 * a["std"])


def test_every_and_hist_every_and_save_load_round_trip(tmp_path):
    model = mlp([10, 16, 16, 3], seed=1)
    x, y = _data()
    with il.watch(model, every=16, hist_every=50, flush_every=4) as w:
        _train(model, w, 101, x, y)
    a = w.arrays()
    assert a["steps"].tolist() == [0, 16, 32, 48, 50, 64, 80, 96, 100]
    assert a["hist_steps"].tolist() == [0, 50, 100]
    assert a["format_version"] == 1 and a["hist_edges"].shape == (3, 5, 31)
    path = w.save(tmp_path / "hist")
    assert path.endswith(".npz")
    w2 = il.Watcher.load(path)
    b = w2.arrays()
    assert set(a) == set(b)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    assert [f.to_dict() for f in w.findings()] == [f.to_dict() for f in w2.findings()]
    np.savez(tmp_path / "run.npz", **{f"he/{k}": v for k, v in a.items()})
    w3 = il.Watcher.load(tmp_path / "run.npz", prefix="he/")
    np.testing.assert_array_equal(w3.arrays()["std"], a["std"])
    with pytest.raises(ValueError, match="prefix"):
        il.Watcher.load(tmp_path / "run.npz", prefix="xavier/")
    with pytest.raises(ValueError, match="no model"):
        w2.__enter__()
    with pytest.raises(ValueError, match="cannot read"):
        il.Watcher.load(tmp_path / "missing.npz")


def test_hooks_removed_on_exception():
    model = mlp([10, 8, 3], seed=0)
    x, y = _data()
    with pytest.raises(RuntimeError, match="boom"):
        with il.watch(model, every=1) as w:
            _train(model, w, 3, x, y)
            model(x).sum()  # a forward whose backward never comes
            raise RuntimeError("boom")
    assert all(not m._forward_hooks for m in model.modules())
    assert w.arrays()["steps"].tolist() == [0, 1, 2]
    with pytest.raises(ValueError, match="inside"):
        w.step()


def test_max_history_thins_the_oldest_steps():
    model = mlp([10, 8, 3], seed=0)
    x, y = _data()
    with il.watch(model, every=1, max_history=20, hist_every=10, flush_every=7) as w:
        _train(model, w, 100, x, y)
    steps = w.arrays()["steps"]
    assert len(steps) <= 20 and steps[0] == 0 and steps[-1] == 99
    assert list(steps[-10:]) == list(range(90, 100))  # the recent half stays dense
    assert np.all(np.diff(steps) > 0) and np.diff(steps)[:3].min() > 1
    assert len(w.arrays()["hist_steps"]) == 10


def test_bfloat16_model_accumulates_in_float32():
    model = mlp([10, 16, 3], seed=0).to(torch.bfloat16)
    x = torch.randn(64, 10, generator=gen(3)).to(torch.bfloat16)
    with il.watch(model, every=1, hist_every=1) as w:
        out = model(x)
        out.float().pow(2).mean().backward()
        w.step()
    h = model[0](x).detach().double()
    a = w.arrays()
    assert a["std"][0, 0] == pytest.approx(float(h.std(correction=0)), rel=1e-3)
    assert a["abs_mean"][0, 0] == pytest.approx(float(h.abs().mean()), rel=1e-3)


def test_no_grad_forwards_are_not_recorded():
    model = mlp([10, 8, 3], seed=0)
    x, y = _data()
    with il.watch(model, every=1) as w:
        _train(model, w, 2, x, y)
        with torch.no_grad():
            model(x)
        _train(model, w, 1, x, y)
    assert w.layers == ["0", "1", "2"] and len(w.arrays()["steps"]) == 3


def test_thousand_cycles_leave_no_hooks_and_no_growth():
    model = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2))
    x = torch.randn(8, 4, generator=gen(0))

    def cycle(i):  # 1,000 cycles: inspect and watch, alternating
        if i % 2:
            il.inspect(model, x)
            return
        with il.watch(model, every=1, hist_every=2) as w:
            model(x).sum().backward()
            w.step()
        w.arrays()

    for i in range(100):
        cycle(i)
    gc.collect()
    objects = len(gc.get_objects())
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    for i in range(100, 200):
        cycle(i)
    gc.collect()
    traced = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    for i in range(200, 1000):
        cycle(i)
    gc.collect()
    assert traced < 100_000, traced
    assert len(gc.get_objects()) - objects < 500  # a leak of one object per cycle would show 900
    assert all(not m._forward_hooks and not m._backward_hooks for m in model.modules())
    assert all(p.grad is None or p.grad.abs().sum() > 0 for p in model.parameters())


def test_huge_learning_rate_kills_relus():
    # seed 004: a large learning rate pushes ReLU units to ≤ 0 on every example
    model = mlp([20, 64, 64, 64, 5], seed=0)
    x, y = torch.randn(128, 20, generator=gen(1)), torch.randint(0, 5, (128,), generator=gen(2))
    with il.watch(model, every=1, hist_every=5) as w:
        _train(model, w, 20, x, y, lr=2.0)
    found = {f.kind: f for f in w.findings()}
    assert found["dead_units"].severity == "warning"
    assert found["dead_units"].evidence["max_dead_fraction"] > 0.3
    assert "LeakyReLU" in found["dead_units"].fix


def test_watch_reports_first_nonfinite_step():
    model = mlp([10, 8, 8, 3], seed=0)
    x, y = _data()
    with il.watch(model, every=1) as w:
        _train(model, w, 3, x, y)
        with torch.no_grad():
            model[2].weight[0, 0] = float("nan")
        _train(model, w, 2, x, y)
    (f,) = [f for f in w.findings() if f.kind == "nonfinite"]
    assert f.severity == "error" and f.layers == ["2"] and f.evidence["step"] == 3


def test_healthy_training_gets_no_warning():
    model = mlp([10, 64, 64, 3], seed=0)
    x, y = _data(n=128)
    with il.watch(model, every=1, hist_every=10) as w:
        _train(model, w, 30, x, y, lr=0.05)
    assert [f for f in w.findings() if f.severity != "info"] == []
    ratios = w.arrays()["update_ratio"][:, 0]
    assert np.all((ratios > 1e-5) & (ratios < 1e-1))


def test_inspect_inside_watch_is_not_recorded():
    model = mlp([10, 8, 3], seed=0)
    x, y = _data()
    with il.watch(model, every=1) as w:
        _train(model, w, 1, x, y)
        ins = il.inspect(model, x, y)
        _train(model, w, 1, x, y)
    assert w.layers == ["0", "1", "2"] and len(ins.layers) == 3
    assert np.isfinite(w.arrays()["weight_grad_norm"][:, 0]).all()


def test_bad_arguments():
    model = mlp([10, 8, 3])
    for kw in ({"every": 0}, {"hist_every": -1}, {"flush_every": 1.5}, {"max_history": 1}):
        with pytest.raises(ValueError):
            il.watch(model, **kw)
    with pytest.raises(ValueError, match="no supported layers"):
        il.watch(nn.Sequential(nn.Flatten()))


@pytest.mark.parametrize("inplace", [False, True])
def test_extended_counts_match_an_independent_count(inplace):
    # input_positive_fraction reuses the previous output's count when the input is that very tensor;
    # dead_fraction and sign_coherence use amax/amin: check all three against plain numpy
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(10, 16), nn.ReLU(inplace=inplace), nn.Linear(16, 16), nn.ReLU(inplace=inplace),
                          nn.Linear(16, 3))
    with torch.no_grad():
        model[2].weight[:4] = -model[2].weight[:4].abs()  # a few likely dead units
        model[2].bias[:4] = -5.0
    x, y = _data()
    inputs = {}
    hs = [model[i].register_forward_hook(lambda m, a, o, i=i: inputs.__setitem__(i, a[0].detach().clone()))
          for i in (0, 2, 4)]
    with il.watch(model, every=1, hist_every=1, update_ratio=False) as w:
        model(x).sum().backward()
        grads = {i: model[i].weight.grad.clone() for i in (0, 2, 4)}
        w.step()
    for h in hs:
        h.remove()
    a, layers = w.arrays(), w.layers
    for i in (0, 2, 4):
        j = layers.index(str(i))
        assert a["input_positive_fraction"][0, j] == pytest.approx((inputs[i] > 0).double().mean().item())
        g = grads[i].numpy()
        pos, neg = (g > 0).any(1), (g < 0).any(1)
        assert a["sign_coherence"][0, j] == pytest.approx((pos ^ neg).sum() / (pos | neg).sum())
    relu = layers.index("3")
    alive = (inputs[4] > 0).any(0).double().mean().item()
    assert a["dead_fraction"][0, relu] == pytest.approx(1.0 - alive)


def test_functional_activations_label_watched_layers():
    """As in inspect, a Linear followed by ``F.relu``/``torch.tanh`` (no module) knows its activation."""

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b, self.c = nn.Linear(10, 16), nn.Linear(16, 16), nn.Linear(16, 3)

        def forward(self, x):
            return self.c(torch.tanh(self.b(F.relu(self.a(x)))))

    model = Net()
    x, y = _data()
    with il.watch(model, every=1) as w:
        _train(model, w, 2, x, y)
    assert w.arrays()["layer_activation"].tolist() == ["relu", "tanh", ""]
    assert [(r.name, r.activation) for r in w.summary()] == [("a", "relu"), ("b", "tanh"), ("c", None)]
    assert [r.activation for r in w.history[0].layers] == ["relu", "tanh", None]


def test_inplace_activation_after_a_view_output_keeps_its_gradient():
    # a Linear on 3-d input returns a view; ReLU(inplace=True) then rewrites it, which drops the
    # view's grad_fn (and the δ hook on it): the hook moves to the view's base in time
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(inplace=True), nn.Linear(4, 2))
    x = torch.randn(5, 6, 3, generator=gen(0))
    ref = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    ref.load_state_dict(model.state_dict())
    h = ref[0](x)
    h.retain_grad()
    ref[2](ref[1](h)).pow(2).sum().backward()
    want = float(h.grad.norm())
    assert model[0](x)._is_view()  # the case under test
    ins = il.inspect(model, x, loss_fn=lambda out: out.pow(2).sum())
    with il.watch(model, every=1, hist_every=None) as w:
        model(x).pow(2).sum().backward()
        w.step()
    assert ins["0"].grad_norm == pytest.approx(want, rel=1e-6)
    assert w.arrays()["grad_norm"][0, 0] == pytest.approx(want, rel=1e-5)
    assert ins["1"].grad_norm is not None and ins["1"].extra["bottom_diff_abs_mean"] == pytest.approx(
        float(h.grad.abs().mean()), rel=1e-6)


def test_save_is_atomic(tmp_path, monkeypatch):
    model = mlp([10, 8, 3], seed=0)
    x, y = _data()
    with il.watch(model, every=1) as w:
        _train(model, w, 3, x, y)
    path = w.save(tmp_path / "h.npz")
    before = (tmp_path / "h.npz").read_bytes()

    def broken(file, **arrays):  # writes half a file, then fails
        file.write(b"PK\x03\x04 half")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez_compressed", broken)
    monkeypatch.setattr(np, "savez", broken)
    with il.watch(model, every=1) as w2:
        _train(model, w2, 2, x, y)
    with pytest.raises(OSError, match="disk full"):
        w2.save(path)
    assert (tmp_path / "h.npz").read_bytes() == before  # the old file, whole
    assert [p.name for p in tmp_path.iterdir()] == ["h.npz"]  # no temporary left behind
    monkeypatch.undo()
    assert il.Watcher.load(path).arrays()["steps"].tolist() == [0, 1, 2]


def test_history_keeps_the_exact_activation_spec(tmp_path):
    """A Watcher's records carry the activation with its parameters (as inspect's do), through a save
    and a load; a file written before the field existed reads back as None."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.LeakyReLU(0.2), torch.nn.Linear(8, 8),
                                torch.nn.ELU(0.5), torch.nn.Linear(8, 2))
    x = torch.randn(16, 6)
    with il.watch(model) as w:
        model(x).pow(2).mean().backward()
        w.step()
    ins = il.inspect(model, x, loss_fn=lambda y: y.pow(2).mean())
    got = {r.name: r.activation_spec for r in w.summary()}
    assert got == {r.name: r.activation_spec for r in ins.layers}
    assert got["0"] == got["1"] == "leaky_relu(slope=0.2)" and got["3"] == "elu(alpha=0.5)" and got["4"] is None
    back = il.Watcher.load(w.save(tmp_path / "h.npz"))
    assert {r.name: r.activation_spec for r in back.summary()} == got
    old = {k: v for k, v in w.arrays().items() if k != "layer_activation_spec"}
    assert all(r.activation_spec is None for r in il.Watcher.from_arrays(old).summary())
