"""The Watcher under torch.compile (values equal eager; the number of graphs stops growing: no recompile
per step) and under bfloat16 autocast on CPU (statistics of the bfloat16 outputs accumulated in float32:
equal to a float64 computation on the same outputs, and to a float32 model within bfloat16 precision)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import initlab as il

STATS = ("mean", "std", "abs_mean", "grad_norm", "grad_std", "weight_grad_norm", "update_ratio", "min", "max",
         "zero_fraction", "positive_fraction")


def _model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Tanh(), torch.nn.Linear(16, 4))


def _batches(steps):
    g = torch.Generator().manual_seed(1)
    return [torch.randn(32, 8, generator=g) for _ in range(steps)]


def _train(model, xs, *, compiled=False, hist_every=2):
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with il.watch(model, every=1, hist_every=hist_every, bins=8) as w:  # hooks registered before compiling
        f = torch.compile(model, backend="aot_eager") if compiled else model
        for x in xs:
            opt.zero_grad()
            f(x).pow(2).mean().backward()
            opt.step()
            w.step()
    return w.arrays()


def test_compiled_tanh_net_equals_eager_with_extended_steps():
    xs = _batches(4)
    eager = _train(_model(), xs)
    torch._dynamo.reset()
    compiled = _train(_model(), xs, compiled=True)  # extended steps included (histograms, min/max, ...)
    assert list(compiled["steps"]) == list(eager["steps"])
    for k in STATS:
        np.testing.assert_array_equal(np.isnan(compiled[k]), np.isnan(eager[k]), err_msg=k)
        np.testing.assert_allclose(compiled[k], eager[k], rtol=1e-5, atol=1e-7, err_msg=k)
    np.testing.assert_allclose(compiled["hist_counts"], eager["hist_counts"])
    np.testing.assert_allclose(compiled["hist_edges"], eager["hist_edges"], rtol=1e-6)


@pytest.mark.parametrize("act", [torch.nn.Tanh, torch.nn.ReLU])
@pytest.mark.parametrize("hist_every", [None, 4])
def test_compiled_graph_and_recompile_counts(hist_every, act):
    """Every graph Dynamo compiles (recompiles included) reaches the backend once: the count is
    reached in the first step and stays there for eleven more. Under torch.compile each recorded hook
    runs eagerly (``torch.compiler.disable``: one graph break per probed module on recorded steps).
    Tracing them instead recompiled the hook per call — guarded on the length of the recorder's value
    list after a break inside it (the histogram's ``bincount``; the δ hook's cell mutated inside
    autograd's hook on a ReLU model) — until Dynamo's recompile limit of 8."""
    from torch._dynamo.testing import CompileCounterWithBackend

    torch._dynamo.reset()
    cnt = CompileCounterWithBackend("aot_eager")
    torch.manual_seed(0)
    model, frames = torch.nn.Sequential(torch.nn.Linear(8, 16), act(), torch.nn.Linear(16, 16), act(),
                                        torch.nn.Linear(16, 4)), []
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with il.watch(model, every=1, hist_every=hist_every) as w:
        f = torch.compile(model, backend=cnt)
        for x in _batches(12):
            opt.zero_grad()
            f(x).pow(2).mean().backward()
            opt.step()
            w.step()
            frames.append(cnt.frame_count)
    assert frames[0] == frames[-1] <= 6, frames  # torch 2.13: 4 from the first step on (no recompiles)
    assert len(w.arrays()["steps"]) == 12


def test_compiled_relu_net_equals_eager():
    """(The Tanh net is the first test's.) A ReLU after a Linear takes the deferred Σ|y| path in eager."""
    def model():
        torch.manual_seed(0)
        return torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 4))

    xs = _batches(4)
    eager = _train(model(), xs)
    torch._dynamo.reset()
    compiled = _train(model(), xs, compiled=True)
    for k in STATS:
        np.testing.assert_array_equal(np.isnan(compiled[k]), np.isnan(eager[k]), err_msg=k)
        np.testing.assert_allclose(compiled[k], eager[k], rtol=1e-5, atol=1e-7, err_msg=k)


def test_bfloat16_autocast_statistics_accumulate_in_float32():
    xs = _batches(3)
    outs: dict[int, list[torch.Tensor]] = {0: [], 2: []}

    def keep(i):
        return lambda m, inp, out: outs[i].append(out.detach().clone())

    model = _model()
    hooks = [model[i].register_forward_hook(keep(i)) for i in outs]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        a = _train(model, xs, hist_every=None)
    for h in hooks:
        h.remove()
    ref = _train(_model(), xs, hist_every=None)  # the same run in float32
    layers = list(a["layers"])
    for i, ys in outs.items():
        j = layers.index(str(i))
        assert all(y.dtype == torch.bfloat16 for y in ys)
        y64 = [y.double() for y in ys]
        np.testing.assert_allclose(a["mean"][:, j], [y.mean().item() for y in y64], rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(a["std"][:, j], [y.std(unbiased=False).item() for y in y64], rtol=1e-5)
        # at step 0 (same weights; later the runs' weights drift apart) the bfloat16 run is the float32
        # run to bfloat16 precision (8 bits of mantissa: 2^-8 ≈ 4e-3 per value)
        for k in ("std", "abs_mean", "grad_norm"):
            assert a[k][0, j] == pytest.approx(ref[k][0, j], rel=1e-2), k
    assert np.isfinite(a["grad_norm"]).all() and np.isfinite(a["weight_grad_norm"][:, [0, 2]]).all()


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs CUDA"))])
def test_float16_autocast_with_grad_scaler_records_unscaled_delta(device):
    """float16 autocast + GradScaler whose scale doubles every step (growth_interval=1): the watched δ
    statistics are those of the unscaled loss (the scaled δ seen by a hook of our own, divided by the
    scale its backward used: 2¹⁰, 2¹¹, 2¹²), and the forward statistics those of the float16 outputs."""
    xs = [x.to(device) for x in _batches(3)]
    model = _model().to(device)
    seen: list[dict[int, torch.Tensor]] = []

    def keep(i):
        def fwd(m, inp, out):
            seen[-1][("y", i)], seen[-1][("dtype", i)] = out.detach().double(), out.dtype
            out.register_hook(lambda g: seen[-1].__setitem__(("g", i), g.detach().double()))
        return fwd

    hooks = [model[i].register_forward_hook(keep(i)) for i in (0, 2)]
    scaler = torch.amp.GradScaler(device, init_scale=2.0 ** 10, growth_interval=1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    scales = []
    with il.watch(model, every=1, hist_every=None, grad_scaler=scaler) as w:
        for x in xs:
            seen.append({})
            opt.zero_grad()
            with torch.autocast(device, dtype=torch.float16):
                loss = model(x).float().pow(2).mean()
            scales.append(scaler.get_scale())
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            w.step()
    for h in hooks:
        h.remove()
    assert scales == [2.0 ** 10, 2.0 ** 11, 2.0 ** 12]
    a = w.arrays()
    layers = list(a["layers"])
    for i in (0, 2):
        j = layers.index(str(i))
        ys = [d[("y", i)] for d in seen]
        gs = [d[("g", i)] / s for d, s in zip(seen, scales)]
        assert all(d[("dtype", i)] == torch.float16 for d in seen)
        np.testing.assert_allclose(a["std"][:, j], [y.std(unbiased=False).item() for y in ys], rtol=1e-5)
        np.testing.assert_allclose(a["grad_norm"][:, j], [g.norm().item() for g in gs], rtol=1e-5)
        np.testing.assert_allclose(a["grad_std"][:, j], [g.std(unbiased=False).item() for g in gs], rtol=1e-5)
    # without the scaler argument δ carries the scale (what the option corrects)
    model2 = _model().to(device)
    scaler2 = torch.amp.GradScaler(device, init_scale=2.0 ** 10, growth_interval=1)
    with il.watch(model2, every=1, hist_every=None) as w2:
        with torch.autocast(device, dtype=torch.float16):
            loss = model2(xs[0]).float().pow(2).mean()
        scaler2.scale(loss).backward()
        w2.step()
    assert w2.arrays()["grad_norm"][0, 0] == pytest.approx(2.0 ** 10 * a["grad_norm"][0, 0], rel=1e-5)
    with pytest.raises(ValueError, match="grad_scaler must be a torch.amp.GradScaler"):
        il.watch(model2, grad_scaler=object())
