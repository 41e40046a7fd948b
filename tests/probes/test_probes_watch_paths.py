"""The Watcher's cheaper paths give the same numbers as a float64 reference (issue 12 §3):

* Σ|y| of a linear/conv layer that an ``nn.Sequential`` feeds to an ``nn.ReLU`` is taken as
  2·Σrelu(y) − Σy from the sums the hooks take anyway (no abs pass) — and it is taken from y itself
  when the layer is called outside its Sequential (then y may be changed in place before the ReLU);
* ‖ΔW‖/‖W‖ when consecutive steps are recorded: the next step's weight snapshot is taken while the
  current one is consumed (``every=1``) — and when they are not (``every=2``).
"""
from __future__ import annotations


import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import initlab as il
from probes_testlib import CountOps, gen


def _net(conv: bool) -> nn.Sequential:
    torch.manual_seed(3)
    if conv:
        return nn.Sequential(nn.Conv2d(2, 6, 3, padding=1), nn.ReLU(), nn.Conv2d(6, 4, 3), nn.Tanh(),
                             nn.Flatten(), nn.Linear(4 * 6 * 6, 5), nn.ReLU(), nn.Linear(5, 3))
    return nn.Sequential(nn.Linear(12, 24), nn.ReLU(), nn.Linear(24, 24), nn.ReLU(), nn.Linear(24, 3))


def _capture(model):
    """float64 Σ|y|/n of every Linear/Conv output, per forward call, by an independent hook."""
    seen: list[dict[str, float]] = []

    def keep(name):
        def hook(m, args, y):
            seen[-1][name] = float(y.detach().double().abs().mean())
        return hook

    hooks = [m.register_forward_hook(keep(n)) for n, m in model.named_modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    return seen, hooks


@pytest.mark.parametrize("conv", [False, True])
def test_abs_mean_before_relu_equals_float64(conv):
    model = _net(conv)
    g = gen(1)
    xs = [torch.randn(8, 2, 8, 8, generator=g) if conv else torch.randn(16, 12, generator=g) for _ in range(8)]
    seen, hooks = _capture(model)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    counter = CountOps()
    with il.watch(model, every=1, hist_every=None, flush_every=1) as w:  # unshifted from step 1 on (planned from row 0; flush_every=1 plans at every flush too)
        for s, x in enumerate(xs):
            seen.append({})
            if s == 5:
                counter.__enter__()
            opt.zero_grad()
            model(x).pow(2).mean().backward()
            opt.step()
            w.step()
            if s == 5:
                counter.__exit__(None, None, None)
    for h in hooks:
        h.remove()
    a = w.arrays()
    layers = list(a["layers"])
    for name in seen[0]:
        j = layers.index(name)
        np.testing.assert_allclose(a["abs_mean"][:, j], [d[name] for d in seen], rtol=2e-6, err_msg=name)
    # once unshifted (step 5) the layers before a ReLU take no abs pass: only the last Linear does
    # (and, in the CNN, the Conv before Tanh and the Tanh itself); plus one per layer in _capture's hooks
    assert counter.ops["abs"] == (3 if conv else 1) + len(hooks), counter.ops


def test_abs_mean_when_layer_is_called_outside_its_sequential():
    # the Linear's output is changed in place before the ReLU: Σ|y| must be that of the output itself
    model = _net(conv=False)
    g = gen(2)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    want = []
    with il.watch(model, every=1, hist_every=None, flush_every=1) as w:
        for _ in range(5):
            x = torch.randn(16, 12, generator=g)
            opt.zero_grad()
            y = model[0](x)
            want.append(float(y.detach().double().abs().mean()))
            y.add_(0.5)  # between the layer and its ReLU, outside the Sequential
            h = model[1](y)
            for m in list(model)[2:]:
                h = m(h)
            h.pow(2).mean().backward()
            opt.step()
            w.step()
    a = w.arrays()
    np.testing.assert_allclose(a["abs_mean"][:, 0], want, rtol=2e-6)


@pytest.mark.parametrize("every", [1, 2])
def test_update_ratio_with_and_without_the_snapshot_ahead(every):
    model = _net(conv=False)  # 24 rows ≤ UPDATE_ROWS: the ratio is exact
    g = gen(3)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    want = {}
    with il.watch(model, every=every, hist_every=3, flush_every=4) as w:
        for s in range(9):
            x = torch.randn(16, 12, generator=g)
            before = [m.weight.detach().double().clone() for m in model if isinstance(m, nn.Linear)]
            opt.zero_grad()
            F.mse_loss(model(x), torch.zeros(16, 3)).backward()
            opt.step()
            after = [m.weight.detach().double() for m in model if isinstance(m, nn.Linear)]
            want[s] = [float((b - a).norm() / b.norm()) for b, a in zip(before, after)]
            w.step()
    a = w.arrays()
    steps = list(a["steps"])
    assert steps == [s for s in range(9) if s % every == 0 or s % 3 == 0]
    cols = [list(a["layers"]).index(str(i)) for i, m in enumerate(model) if isinstance(m, nn.Linear)]
    for r, s in enumerate(steps):
        np.testing.assert_allclose(a["update_ratio"][r, cols], want[s], rtol=1e-5, err_msg=str(s))


def _ambiguous(y: np.ndarray, lo: float, hi: float, bins: int) -> int:
    """Entries within float32 rounding of a bin edge (float32 and float64 may bin them differently)."""
    u = (y - lo) / (hi - lo) * bins
    return int(np.sum(np.abs(u - np.round(u)) < 1e-4 * bins))


def test_extended_statistics_of_conv_relu_equal_float64():
    # the ReLU's min/max/positive count/dead units reuse its Conv's (relu(y) > 0 ⇔ y > 0); histograms
    # equal numpy's over [min, max] but for entries on a bin edge
    torch.manual_seed(4)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3), nn.ReLU(),
                          nn.Flatten(), nn.Linear(8 * 6 * 6, 4))
    with torch.no_grad():
        model[2].bias[:3] = -50.0  # three dead units after the second ReLU
        model[5].weight[:2] = 0.0  # two Linear outputs exactly 0 at step 0 (zero_fraction 1/2)
        model[5].bias[:2] = 0.0
    outs: dict[str, list[np.ndarray]] = {}
    hooks = [m.register_forward_hook(lambda m, a, y, n=n: outs.setdefault(n, []).append(y.detach().double().numpy()))
             for n, m in model.named_modules() if n in ("0", "1", "2", "3", "5")]
    g = gen(5)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    with il.watch(model, every=1, hist_every=1, bins=16) as w:
        for _ in range(3):
            opt.zero_grad()
            model(torch.randn(6, 3, 8, 8, generator=g)).pow(2).mean().backward()
            opt.step()
            w.step()
    for h in hooks:
        h.remove()
    a = w.arrays()
    layers = list(a["layers"])
    for name, ys in outs.items():
        j = layers.index(name)
        for r, y in enumerate(ys):
            lo, hi = y.min(), y.max()
            assert a["min"][r, j] == pytest.approx(lo, rel=1e-6, abs=1e-7) and a["max"][r, j] == pytest.approx(hi, rel=1e-6)
            assert a["positive_fraction"][r, j] == np.mean(y > 0) and a["zero_fraction"][r, j] == np.mean(y == 0)
            want, _ = np.histogram(y, bins=16, range=(lo, hi))
            diff = np.abs(a["hist_counts"][r, j] - want).sum()
            assert a["hist_counts"][r, j].sum() == y.size and diff <= 2 * _ambiguous(y.ravel(), lo, hi, 16), (name, r)
            if name in ("1", "3"):
                unit_max = y.max(axis=(0, 2, 3))
                assert a["dead_fraction"][r, j] == np.mean(unit_max <= 0)
    assert a["dead_fraction"][:, layers.index("3")].min() >= 3 / 8
    assert a["zero_fraction"][0, layers.index("5")] == 0.5


def test_default_cadence_every_5_extended_every_50():
    # the defaults (a contract: docs, integrations): core statistics on steps 0, 5, 10, …; extended ones
    # (histograms, min/max, …) on steps 0, 50, 100 — each of them also a core step
    import inspect as pyinspect

    from initlab.probes.watcher import DEFAULT_EVERY, DEFAULT_HIST_EVERY, Watcher

    params = pyinspect.signature(il.watch).parameters
    assert (params["every"].default, params["hist_every"].default) == (DEFAULT_EVERY, DEFAULT_HIST_EVERY) == (5, 50)
    init = pyinspect.signature(Watcher.__init__).parameters
    assert (init["every"].default, init["hist_every"].default) == (5, 50)
    model = _net(conv=False)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    g = gen(6)
    with il.watch(model) as w:
        for _ in range(101):
            opt.zero_grad()
            model(torch.randn(4, 12, generator=g)).pow(2).mean().backward()
            opt.step()
            w.step()
    a = w.arrays()
    assert list(a["steps"]) == list(range(0, 101, 5))
    assert list(a["hist_steps"]) == [0, 50, 100]
    lin = [j for j, n in enumerate(a["layers"]) if isinstance(model[int(n)], nn.Linear)]
    assert np.isfinite(a["update_ratio"][:, lin]).all() and np.isfinite(a["grad_norm"]).all()
