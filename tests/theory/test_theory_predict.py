"""Per-layer predictions vs measurements on real networks at init (width 1000, depth 10, seeds 003's setups)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

import initlab as il

WIDTH, DEPTH, BATCH, SEEDS = 1000, 10, 100, 10
# (activation, σ_w²): N(0, 0.01²) → σ_w² = 1e-4·1000; Xavier normal (gain 1) → 1 (= tanh's critical point at
# σ_b = 0); torch's tanh gain 5/3 → 25/9 (chaotic); He → 2
CASES = {"tanh-small": (nn.Tanh, 0.1), "tanh-xavier": (nn.Tanh, 1.0), "tanh-gain-5/3": (nn.Tanh, 25 / 9),
         "relu-xavier": (nn.ReLU, 1.0), "relu-he": (nn.ReLU, 2.0)}
TOL = {"tanh": 0.05, "relu": 0.10}


def _model(act: type[nn.Module], width: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for _ in range(DEPTH):
        layers += [nn.Linear(width, width), act()]
    return nn.Sequential(*layers)


def _runs(cases: dict, width: int, seeds: int, grads: bool) -> dict:
    """For each case: (seeds, layers) arrays of measured std and measured/predicted std and grad-norm ratios.

    The prediction for each draw uses that draw's empirical weight std (predict reads the tensors).
    """
    models = {name: _model(act, width) for name, (act, _) in cases.items()}
    out: dict = {name: {"std": [], "grad": [], "measured": []} for name in cases}
    for seed in range(seeds):
        g = torch.Generator().manual_seed(seed)
        base = [torch.randn(width, width, generator=g) for _ in range(DEPTH)]  # N(0, 1) draws shared by the cases
        x = torch.randn(BATCH, width, generator=g)
        r = torch.randn(BATCH, width, generator=g)  # probe loss L = Σ r·y / B: a unit-variance δ at the output
        q0 = float(x.double().pow(2).mean())
        for name, (_, sw2) in cases.items():
            model = models[name]
            with torch.no_grad():
                for lin, w in zip(model[::2], base):
                    lin.weight.copy_(w * math.sqrt(sw2 / width))
                    lin.bias.zero_()
            pred = il.theory.predict(model, q0=q0)
            outs, h = [], x
            with torch.set_grad_enabled(grads):
                for lin, act in zip(model[::2], model[1::2]):
                    h = act(lin(h))  # (batch, width)
                    if grads:
                        h.retain_grad()
                    outs.append(h)
            std = np.array([o.detach().double().std(correction=0).item() for o in outs])
            out[name]["measured"].append(std)
            out[name]["std"].append(std / pred.std)
            if grads:
                (h * r).sum().div(BATCH).backward()
                gn = np.array([o.grad.double().norm().item() for o in outs])
                out[name]["grad"].append(gn / (pred.grad_norm * gn[-1]))  # relative to the last layer
                model.zero_grad(set_to_none=True)
    return {n: {k: np.array(v) for k, v in d.items()} for n, d in out.items()}


@pytest.fixture(scope="module")
def runs():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small matmuls on a shared machine: no thread spinning
    try:
        return _runs({k: v for k, v in CASES.items() if k != "tanh-gain-5/3"}, WIDTH, SEEDS, grads=False)
    finally:
        torch.set_num_threads(threads)


@pytest.mark.parametrize("name", ["tanh-small", "tanh-xavier", "relu-xavier", "relu-he"])
def test_predicted_std_matches_measured(runs, name):
    tol = TOL[name.split("-")[0]]
    measured = np.median(runs[name]["measured"], axis=0)
    ratio = np.median(runs[name]["std"], axis=0)  # median over seeds, per layer
    ok = measured > 1e-6
    assert ok.sum() >= 9
    assert np.all(np.abs(ratio[ok] - 1) < tol), (name, ratio.round(4))


def test_predicted_gradient_norms_match():
    """‖∂L/∂a^l‖ relative to the last layer: σ_w² E[φ'²] per layer for whole-layer norms (narrower, cheaper)."""
    cases = {k: CASES[k] for k in ("tanh-xavier", "tanh-gain-5/3", "relu-he")}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        res = _runs(cases, 300, 6, grads=True)
    finally:
        torch.set_num_threads(threads)
    for name in cases:
        ratio = np.median(res[name]["grad"], axis=0)
        assert np.all(np.abs(ratio - 1) < 0.10), (name, ratio.round(4))


def test_reference_measurements_seed_003():
    """Seed 003's per-layer figures (width 500, batch 1000): tanh N(0, 0.01²) and ReLU Xavier."""
    tanh_small = il.theory.q_sequence("tanh", 1e-4 * 500, 0.0, 4)
    std = [math.sqrt(il.theory.gaussian_moments("tanh", q).second) for q in tanh_small]
    np.testing.assert_allclose(std, [0.213, 0.0476, 0.0106, 0.00238], rtol=0.02)
    m = [il.theory.gaussian_moments("relu", q) for q in il.theory.q_sequence("relu", 1.0, 0.0, 4)]
    # one finite-width measurement: its variance falls ~3% faster than 1/2 per layer by layer 4
    np.testing.assert_allclose([math.sqrt(x.second - x.mean ** 2) for x in m], [0.584, 0.410, 0.286, 0.200],
                               rtol=0.04)


def test_prediction_record_and_bad_models():
    model = nn.Sequential(nn.Linear(20, 30), nn.Dropout(0.0), nn.ReLU(), nn.Linear(30, 5))
    pred = il.theory.predict(model)
    d = pred.to_dict()
    assert [r["name"] for r in d["layers"]] == ["0", "3"] and d["layers"][0]["activation"] == "relu"
    assert d["layers"][0]["activation_module"] == "2" and d["layers"][1]["activation"] is None
    assert pred.layers[1].grad_norm == 1.0 and pred.layers[1].post_std == pytest.approx(pred.layers[1].pre_std)
    w = model[0].weight.detach().double()
    assert pred.layers[0].sigma_w2 == pytest.approx(float(w.var(correction=0)) * 20, rel=1e-12)
    with pytest.raises(ValueError, match="BatchNorm1d"):
        il.theory.predict(nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4), nn.Tanh()))
    with pytest.raises(ValueError, match="no Linear"):
        il.theory.predict(nn.Sequential(nn.Flatten()))
    with pytest.raises(ValueError, match="sigma_w2"):
        zero = nn.Linear(4, 4)
        nn.init.zeros_(zero.weight)
        il.theory.predict(nn.Sequential(zero, nn.Tanh()))
    with pytest.raises(ValueError, match="q0"):
        il.theory.predict(model, q0=-1.0)


def test_fans_from_a_model_match_the_probes_records():
    """A conv's fans follow PyTorch's rule (fan_out = out_channels · kernel), as in LayerStats."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 6 * 6, 5))
    direct = il.theory.predict(model)
    via_stats = il.theory.predict(il.inspect(model, torch.randn(4, 3, 8, 8)))
    assert [(r.fan_in, r.fan_out) for r in direct.layers] == [(27, 72), (288, 5)]
    assert [(r.fan_in, r.fan_out) for r in via_stats.layers] == [(27, 72), (288, 5)]
