"""The playground's parts without a server: state validation and URL round trip, the data sets,
the finite-width band against brute-force random networks, histograms against numpy, the penalty
against autograd, and the export replaying a session's run."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import initlab as il
from initlab.playground import datasets, measure
from initlab.playground.export import export_code
from initlab.playground.state import State, StateError, to_query, validate
from initlab.playground.training import Penalty, build_model, init_options, nominal_sw2
from playground_testlib import run_session


def test_state_round_trips_through_the_url():
    s = validate({"dataset": "spiral", "noise": 20, "features": ["sinx1", "x1"], "depth": 12, "width": 100,
                  "activation": "selu", "init": "lecun_normal", "sw2": 1.3, "sb2": 0.05, "lr": 0.003,
                  "reg": "l2", "reg_rate": 0.001, "seed": 7, "data_seed": 9, "mode": "init"})
    assert s.features == ("x1", "sinx1")  # canonical order
    assert validate(to_query(s)) == s


@pytest.mark.parametrize("raw, field", [({"noise": 55}, "noise"), ({"train_pct": 5}, "train_pct"),
                                        ({"sw2": -1}, "sw2"), ({"sb2": "inf"}, "sb2"),
                                        ({"problem": "regression", "dataset": "xor"}, "dataset"),
                                        ({"activation": None}, "activation"), ({"features": "x1,x9"}, "features")])
def test_state_errors_name_the_field(raw, field):
    with pytest.raises(StateError) as e:
        validate(raw)
    assert e.value.field == field and field in str(e.value)


def test_sw2_means_fan_in_times_second_moment_for_every_adjustable_scheme():
    for init in ("xavier_normal", "xavier_uniform", "he_normal", "he_uniform", "lecun_normal", "orthogonal",
                 "normal", "constant"):
        s = validate({"depth": 3, "width": 256, "init": init, "sw2": 1.7, "activation": "tanh"})
        model, report = build_model(s, 2, 1)
        w = model.fc2.weight.detach().double()
        assert float(w.pow(2).mean()) * 256 == pytest.approx(1.7, rel=0.03), init
        assert nominal_sw2(s, report, model) == pytest.approx(1.7, rel=1e-6), init  # float32 weights
    assert init_options(validate({"init": "auto", "sw2": 3.0})) == {}  # auto keeps its own scale


def test_data_sets_follow_tensorflow_playground():
    xy, y = datasets.points("circle", 0, seed=3)
    r = np.hypot(xy[:, 0], xy[:, 1])
    assert len(xy) == 500 and ((r < 2.5) == (y == 1)).all()
    xy, y = datasets.points("spiral", 0, seed=0)
    assert np.hypot(xy[:, 0], xy[:, 1]).max() < 5 and y.sum() == 250
    xy, y = datasets.points("plane", 0, seed=0)
    assert np.allclose(y, (xy[:, 0] + xy[:, 1]) / 12)
    a = datasets.make_dataset("gauss", noise=30, train_pct=30, features=["x1", "x2sq"], seed=5)
    b = datasets.make_dataset("gauss", noise=30, train_pct=30, features=["x1", "x2sq"], seed=5)
    assert len(a.x_train) == 150 and len(a.x_test) == 350 and torch.equal(a.x_train, b.x_train)
    xy_tr, _, _, _ = datasets.split_points("gauss", noise=30, train_pct=30, seed=5)
    assert torch.allclose(a.x_train[:, 1], torch.tensor(xy_tr[:, 1] ** 2, dtype=torch.float32))
    m = datasets.make_dataset("mnist", train_pct=80, seed=0)
    assert tuple(m.x_train.shape) == (4000, 784) and len(m.x_test) == 1000


def test_histograms_and_stds_match_numpy():
    s = validate({"depth": 3, "width": 32, "activation": "tanh"})
    model, _ = build_model(s, 2, 1)
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(300, 2, generator=g) * 3, torch.randint(0, 2, (300,), generator=g)
    rows = measure.layer_histograms(model, x, y, il.train.make_loss("bce"))
    h = model.act1(model.fc1(x)).detach().double().numpy()
    counts, _ = np.histogram(h, bins=measure.BINS, range=(h.min(), h.max()))
    assert rows[0]["act"]["counts"] == counts.tolist()
    assert rows[0]["act"]["std"] == pytest.approx(h.std(), rel=1e-9)
    # δ of the last hidden layer by autograd on a fresh graph
    pre = []
    hook = model.fc3.register_forward_hook(lambda m, a, o: pre.append(o))
    loss = il.train.make_loss("bce")(model(x), y)
    hook.remove()
    (d,) = torch.autograd.grad(loss, pre)
    assert rows[2]["grad"]["std"] == pytest.approx(float(d.double().std(correction=0)), rel=1e-6)
    assert all(p.grad is None for p in model.parameters())  # the model's .grad untouched


@pytest.mark.parametrize("activation, sw2, sb2", [("tanh", 1.5, 0.05), ("relu", 2.0, 0.0)])
def test_finite_width_band_matches_brute_force_networks(activation, sw2, sb2):
    # the band's simulation (a B×B covariance per layer) against real Gaussian weight draws
    width, depth, reps = 16, 8, 2000
    s = validate({"depth": depth, "width": width, "activation": activation, "init": "normal",
                  "sw2": sw2, "sb2": sb2})
    x = torch.randn(16, 4, generator=torch.Generator().manual_seed(0))
    model, _ = build_model(s, 4, 1)
    # make the model's per-layer (σ_w², σ_b²) exact so both sides use the same numbers
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.Linear):
                m.weight.mul_(math.sqrt(sw2 * (1 if m is not model.fc1 else width / 4) / m.in_features
                                        / m.weight.pow(2).mean()))
    band = measure.finite_width_band(model, x, activation, replicas=reps, generator=torch.Generator().manual_seed(1))
    act = il.activations.get(activation)
    g = torch.Generator().manual_seed(2)
    stds = np.zeros((reps, depth))
    sigmas = [(float(m.weight.detach().double().pow(2).mean()) * m.in_features,
               float(m.bias.detach().double().var(correction=0)) if m.bias is not None else 0.0)
              for m in model.modules() if isinstance(m, torch.nn.Linear)]
    for r in range(reps):
        h = x.double()
        for layer in range(depth):
            n_in = h.shape[1]
            w = torch.randn(n_in, width, generator=g, dtype=torch.float64) * math.sqrt(sigmas[layer][0] / n_in)
            b = torch.randn(width, generator=g, dtype=torch.float64) * math.sqrt(sigmas[layer][1])
            h = act.fn(h @ w + b)
            stds[r, layer] = float(h.std(correction=0))
    lo, hi = np.quantile(stds, 0.1, axis=0), np.quantile(stds, 0.9, axis=0)
    np.testing.assert_allclose(band["lo"], lo, rtol=0.08)
    np.testing.assert_allclose(band["hi"], hi, rtol=0.08)
    assert all(h_ > l_ for l_, h_ in zip(band["lo"], band["hi"]))


def test_penalty_adds_the_gradient_of_the_l1_and_l2_terms():
    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))
    x = torch.randn(8, 3)
    for kind, rate, term in (("l1", 0.01, lambda w: w.abs().sum()), ("l2", 0.1, lambda w: 0.5 * w.pow(2).sum())):
        m.zero_grad()
        m(x).sum().backward()
        Penalty(kind, rate).apply(m)
        got = [m[0].weight.grad.clone(), m[2].weight.grad.clone(), m[0].bias.grad.clone()]
        m.zero_grad()
        (m(x).sum() + rate * (term(m[0].weight) + term(m[2].weight))).backward()  # biases not regularized
        for a, b in zip(got, [m[0].weight.grad, m[2].weight.grad, m[0].bias.grad]):
            assert torch.allclose(a, b, atol=1e-7)


def test_export_replays_a_session_run(tmp_path):
    state = {"dataset": "circle", "noise": 10, "depth": 3, "width": 12, "activation": "elu", "init": "he_uniform",
             "sw2": 1.5, "sb2": 0.01, "reg": "l1", "reg_rate": 0.003, "lr": 0.1, "batch": 7, "seed": 3,
             "data_seed": 4, "optimizer": "adam"}
    out = run_session(state, steps=5)
    snap = [m for m in out if m["type"] == "snapshot"][-1]
    code = [m for m in out if m["type"] == "export"][0]
    assert code["steps"] == snap["step"] == 5
    ns: dict = {}
    exec(compile(code["code"].replace("print(", "(lambda *a: None)("), "<export>", "exec"), ns)  # noqa: S102
    loss = il.train.evaluate(ns["model"], ns["data"].x_train, ns["data"].y_train, "bce")["loss"]
    assert loss == pytest.approx(snap["loss"]["train"], rel=1e-5)


def test_export_never_pastes_unvalidated_values():
    bad = State(activation="relu'); import os; os.system('x")  # a State made by hand, bypassing validate
    with pytest.raises(StateError):
        export_code(bad, 10)


def test_regression_and_mnist_sessions_run():
    for state, loss in (({"problem": "regression", "dataset": "multigauss", "depth": 2, "width": 8}, "mse"),
                        ({"dataset": "mnist", "depth": 2, "width": 16, "batch": 32}, "ce")):
        out = run_session(state, steps=1)
        assert not [m for m in out if m["type"] == "error"]
        snap = [m for m in out if m["type"] == "snapshot"][-1]
        assert snap["step"] == 1 and math.isfinite(snap["loss"]["train"])
        assert ("boundary" in [m for m in out if m["type"] == "snapshot"][0]) == (state["dataset"] != "mnist")
        assert f"loss={loss!r}" in [m for m in out if m["type"] == "export"][0]["code"]
