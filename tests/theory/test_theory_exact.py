"""Theory from an Inspection with the exact activation and the bias mean (issue 10 §1.2, §1.3).

Width-1000, batch-2000, 10-layer simulations: ``compare(inspect(model, x))`` must predict each layer's std
from the activation's recorded spec (its parameters included) and from the biases' mean.
"""
from __future__ import annotations

import dataclasses
import math
import warnings

import numpy as np
import pytest
import torch
from torch import nn

import initlab as il

WIDTH, BATCH, DEPTH = 1000, 2000, 10


def _inspect(act, sw2: float, bias: float = 0.0, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    layers: list[nn.Module] = []
    for _ in range(DEPTH):
        lin = nn.Linear(WIDTH, WIDTH)
        nn.init.normal_(lin.weight, std=math.sqrt(sw2 / WIDTH), generator=g)
        nn.init.constant_(lin.bias, bias)
        layers += [lin, act()]
    x = torch.randn(BATCH, WIDTH, generator=g)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        ins = il.inspect(nn.Sequential(*layers), x, loss_fn="none")  # std only: no backward pass needed
    finally:
        torch.set_num_threads(threads)
    return ins, float(x.double().pow(2).mean())


def _ratios(layers, q0: float) -> np.ndarray:
    return np.array([r.std_ratio for r in il.compare(layers, q0=q0).rows])


@pytest.mark.parametrize("act,sw2,spec", [
    (lambda: nn.LeakyReLU(0.5), 2 / 1.25, "leaky_relu(slope=0.5)"),  # He for slope 0.5: σ_w² = 2/(1 + a²)
    (lambda: nn.ELU(0.5), 1.44, "elu(alpha=0.5)"),
])
def test_compare_uses_the_recorded_activation_parameters(act, sw2, spec):
    ins, q0 = _inspect(act, sw2)
    assert ins.layers[0].activation == spec.split("(")[0] and ins.layers[0].activation_spec == spec
    assert ins.layers[1].kind == "activation" and ins.layers[1].activation_spec == spec
    ratios = _ratios(ins.layers, q0)
    assert np.all(np.abs(ratios - 1) < 0.05), ratios.round(4)
    # the defect this replaces: a family name alone rebuilds the default parameters (slope 0.01, alpha 1),
    # which is flagged, and whose predictions are far off
    bare = [dataclasses.replace(r, activation_spec=None) for r in ins.layers]
    with pytest.warns(UserWarning, match="without its parameters"):
        wrong = _ratios(bare, q0)
    assert np.max(np.abs(wrong - 1)) > 0.2, wrong.round(4)


def test_constant_bias_mean_is_propagated():
    """tanh, σ_w² = 1, every bias 0.5 (σ_b² = 0): pre-activations N(0.5, q) per unit."""
    ins, q0 = _inspect(nn.Tanh, 1.0, bias=0.5)
    assert ins.layers[0].extra["bias_mean"] == pytest.approx(0.5) and ins.layers[0].bias_std == 0.0
    ratios = _ratios(ins.layers, q0)
    dev = np.abs(ratios - 1)
    assert np.median(dev) < 0.03 and np.all(dev < 0.08), ratios.round(4)
    # treating the bias as σ_b² = spread = 0 with mean 0 (the old prediction) is far off
    centred = [dataclasses.replace(r, extra={**r.extra, "bias_mean": 0.0}) for r in ins.layers]
    assert np.max(np.abs(_ratios(centred, q0) - 1)) > 0.15


def test_prediction_with_a_mean_against_quadrature():
    """predict's per-layer recursion equals an independent one: scipy quad over N(b̄, q) of np.tanh."""
    from scipy import integrate, stats

    g = torch.Generator().manual_seed(1)
    model = nn.Sequential(nn.Linear(50, 40), nn.Tanh(), nn.Linear(40, 30), nn.Tanh(), nn.Linear(30, 5))
    for lin, b in zip(model[::2], (0.5, -0.3, 1.2)):
        nn.init.normal_(lin.weight, std=0.3, generator=g)
        nn.init.constant_(lin.bias, b)
    pred = il.theory.predict(model, q0=1.3)

    def e(f, mu, q):
        return integrate.quad(lambda x: f(x) * stats.norm.pdf(x, mu, math.sqrt(q)), -np.inf, np.inf,
                              epsabs=0, epsrel=1e-12)[0]

    x2 = 1.3
    for i, lin in enumerate(model[::2]):
        w = lin.weight.detach().double()
        q = float(w.var(correction=0)) * w.shape[1] * x2  # bias spread 0
        mu = float(lin.bias.detach().double().mean())
        r = pred.layers[i]
        assert r.q == pytest.approx(q, rel=1e-9) and r.pre_mean == pytest.approx(mu, rel=1e-6)
        if i < 2:
            m1, m2 = e(np.tanh, mu, q), e(lambda x: np.tanh(x) ** 2, mu, q)
            assert r.post_mean == pytest.approx(m1, rel=1e-8) and r.post_std == pytest.approx(
                math.sqrt(m2 - m1 * m1), rel=1e-8)
            x2 = m2
        else:  # no activation: std √q, mean b̄
            assert r.post_std == pytest.approx(math.sqrt(q), rel=1e-9) and r.post_mean == pytest.approx(mu)


def test_prediction_names_the_exact_activation():
    model = nn.Sequential(nn.Linear(8, 8), nn.GELU(approximate="tanh"), nn.Linear(8, 8), nn.ReLU6())
    pred = il.theory.predict(model)
    assert [r.activation_spec for r in pred.layers] == ["gelu(approximate='tanh')", "relu6"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # records that carry their spec need no guessing
        via = il.theory.predict(il.inspect(model, torch.randn(16, 8, generator=torch.Generator().manual_seed(0))))
    assert [r.activation_spec for r in via.layers] == ["gelu(approximate='tanh')", "relu6"]
    assert via.std == pytest.approx(pred.std, rel=1e-6)
