"""Statistics when |mean| ≫ std (issue 10 §1.1): watch (float32 accumulation) = inspect (float64) =
an independent float64 reference computed here from the model's own tensors."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import initlab as il
from probes_testlib import gen

STATS = ("mean", "std", "abs_mean", "grad_norm", "grad_std")


def _sigmoid_net(dtype):
    """Linear(32, 32) with weights N(0, 1e-3²) and bias 3.0, then Sigmoid: outputs 0.9526 ± 2.6e-4."""
    g = gen(0)
    lin = nn.Linear(32, 32)
    with torch.no_grad():
        lin.weight.normal_(0.0, 1e-3, generator=g)
        lin.bias.fill_(3.0)
    x = torch.randn(256, 32, generator=g).to(dtype)
    # δ at the output = r: mean 1, std 1e-3 (so the gradients have |mean| ≫ std as well)
    r = 1.0 + 1e-3 * torch.randn(256, 32, generator=g)
    return nn.Sequential(lin, nn.Sigmoid()).to(dtype), x, lambda y: (y.float() * r).sum()


def _reference(model, x, loss_fn):
    """float64 statistics (two-pass std) of each module's output and its gradient, by hand."""
    outs, h = [], x
    for m in model:
        h = m(h)
        h.retain_grad()
        outs.append(h)
    loss_fn(h).backward()
    model.zero_grad(set_to_none=True)
    ref = []
    for o in outs:
        y, g = o.detach().double().numpy().ravel(), o.grad.double().numpy().ravel()
        ref.append({"mean": y.mean(), "std": np.sqrt(np.mean((y - y.mean()) ** 2)), "abs_mean": np.abs(y).mean(),
                    "grad_norm": np.sqrt(np.sum(g * g)), "grad_std": np.sqrt(np.mean((g - g.mean()) ** 2))})
    return ref


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_watch_equals_inspect_equals_float64_when_mean_dominates(dtype):
    model, x, loss_fn = _sigmoid_net(dtype)
    ref = _reference(model, x, loss_fn)
    ins = il.inspect(model, x, loss_fn=loss_fn)
    with il.watch(model, every=1, hist_every=1) as w:
        loss_fn(model(x)).backward()
        w.step()
    a = w.arrays()
    assert [r.label for r in ins.layers] == w.layers == ["0", "1"]
    for j, (rec, want) in enumerate(zip(ins.layers, ref)):
        for k in STATS:
            assert getattr(rec, k) == pytest.approx(want[k], rel=1e-6, abs=1e-12), (dtype, rec.label, k)
            assert a[k][0, j] == pytest.approx(getattr(rec, k), rel=1e-3), (dtype, rec.label, k)
    # the case is hard: the one-pass float32 formula √(Σx²/n − mean²) is far off on the sigmoid output
    if dtype == torch.float32:
        y = model(x).detach().reshape(-1)
        naive = torch.sqrt(torch.clamp(torch.dot(y, y) / y.numel() - (y.sum() / y.numel()) ** 2, min=0.0))
        assert abs(float(naive) / ref[1]["std"] - 1) > 0.05
        assert 0.95 < ref[1]["mean"] < 0.96 and 2e-4 < ref[1]["std"] < 3e-4


def test_shifted_sums_survive_nonfinite_and_constant_tensors():
    """A constant output has std exactly 0; a NaN anywhere (even in the shift) is flagged non-finite."""
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    with torch.no_grad():
        model[0].weight.zero_()
        model[0].bias.fill_(7.25)
    x = torch.randn(16, 4, generator=gen(1))
    with il.watch(model, every=1, hist_every=None) as w:
        model(x).sum().backward()
        w.step()
        x_bad = x.clone()
        x_bad[0, 0] = float("nan")  # the first entry of every output: the shift itself
        model(x_bad).sum().backward()
        w.step()
    a = w.arrays()
    assert a["std"][0, 0] == 0.0 and a["mean"][0, 0] == 7.25 and a["abs_mean"][0, 1] == 7.25
    assert a["nonfinite_forward"][0].tolist() == [0.0, 0.0, 0.0]
    assert a["nonfinite_forward"][1].tolist() == [1.0, 1.0, 1.0]
    (f,) = [f for f in w.findings() if f.kind == "nonfinite"]
    assert f.evidence["step"] == 1


def test_shift_plan_follows_the_layers_across_flushes():
    # after each flush, layers with |mean| ≤ 10·std skip the shift; a layer that drifts to
    # |mean| ≫ std is caught at the next flush (its unshifted std has lost digits) and shifted again
    model, x, loss_fn = _sigmoid_net(torch.float32)
    bias = model[0].bias
    with torch.no_grad():
        bias.zero_()  # the Linear's output starts moderate: 0 ± 0.0057
    ref = []
    with il.watch(model, every=1, hist_every=None, flush_every=2, update_ratio=False) as w:
        for step in range(8):
            if step == 4:  # after two flushes (steps 1 and 3): drift to 3 ± 0.0057
                with torch.no_grad():
                    bias.fill_(3.0)
            loss_fn(model(x)).backward()
            model.zero_grad(set_to_none=True)
            w.step()
            ins = il.inspect(model, x, loss_fn=loss_fn)
            ref.append([(r.std, r.grad_std) for r in ins.layers])
    a = w.arrays()
    err = np.abs(a["std"][:, 0] / np.array([r[0][0] for r in ref]) - 1)
    # steps 4–5 ran unshifted (planned at the flush after step 3) and show it; the flush after
    # step 5 turned the shift back on
    assert err[[0, 1, 2, 3, 6, 7]].max() < 1e-3 and err[[4, 5]].max() > 1e-4, err
    for s in range(8):  # the sigmoid output and every δ have |mean| ≫ std throughout: always shifted
        assert a["std"][s, 1] == pytest.approx(ref[s][1][0], rel=1e-3)
        assert a["grad_std"][s].tolist() == pytest.approx([r[1] for r in ref[s]], rel=1e-3)


def test_shift_plan_from_rows_needs_no_flush():
    # flush_every=10**9: nothing is flushed, yet the first recorded row plans the shift (moderate sums
    # skip it from step 1 on: no subtraction pass for them) and the row plan every SHIFT_PLAN_EVERY
    # recorded rows catches a drift without a flush
    from initlab.probes import watcher as W
    from probes_testlib import CountOps

    model, x, loss_fn = _sigmoid_net(torch.float32)
    bias = model[0].bias
    with torch.no_grad():
        bias.zero_()  # the Linear's output starts moderate: 0 ± 0.0057
    P, drift = W.SHIFT_PLAN_EVERY, W.SHIFT_PLAN_EVERY + 3
    steps = 2 * P + 2
    ref, subs = [], []
    with il.watch(model, every=1, hist_every=None, flush_every=10**9, update_ratio=False) as w:
        for step in range(steps):
            if step == drift:  # to 3 ± 0.0057: planned unshifted, caught by the plan after row 2P
                with torch.no_grad():
                    bias.fill_(3.0)
            with CountOps() as c:
                loss_fn(model(x)).backward()
            model.zero_grad(set_to_none=True)
            w.step()
            subs.append(c.ops["sub"])
            ins = il.inspect(model, x, loss_fn=loss_fn)
            ref.append(ins.layers[0].std)
        assert len(w.store.steps) == 0  # no flush happened
    # step 0: every sum shifted (2 outputs + 2 δ); from step 1: only the sigmoid output and the δs
    # (|mean| ≫ std) take the shift; after the plan at row 2P the drifted Linear output is shifted again
    assert subs[0] == 4 and set(subs[1:2 * P + 1]) == {3} and subs[2 * P + 1] == 4, subs
    err = np.abs(w.arrays()["std"][:, 0] / np.array(ref) - 1)
    assert err[:drift].max() < 1e-3 and err[drift:2 * P + 1].min() > 1e-4 and err[2 * P + 1] < 1e-3, err
