"""The one-neuron chain (seed 002): closed form vs float64 autograd, ×25 per layer, log space at depth."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import initlab as il


def _autograd_grads(weights, biases, a0, act=torch.sigmoid, cost=lambda a: a):
    """∂C/∂b_l by autograd on an explicit one-neuron-per-layer float64 network."""
    b = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in biases]
    a = torch.tensor(a0, dtype=torch.float64)
    for w, bl in zip(weights, b):
        a = act(torch.tensor(w, dtype=torch.float64) * a + bl)
    cost(a).backward()
    return np.array([bl.grad.item() for bl in b])


@pytest.mark.parametrize("seed", range(5))
def test_closed_form_equals_autograd(seed):
    chain = il.theory.vanishing_chain(12, generator=seed)
    y = 0.3  # quadratic cost C = (a_L − y)²/2, so ∂C/∂a_L = a_L − y
    g = chain.gradients()
    aL = g.a[-1]
    g = chain.gradients(dC_daL=aL - y)
    ref = _autograd_grads(chain.weights, chain.biases, chain.a0, cost=lambda a: 0.5 * (a - y) ** 2)
    np.testing.assert_allclose(g.grad, ref, rtol=1e-12, atol=0)
    np.testing.assert_array_equal(g.sign, np.sign(ref))


def test_other_activations_and_signs():
    w, b = [0.5, -1.5, 2.0, -0.3], [0.1, -0.2, 0.3, 0.0]
    g = il.theory.chain_gradients(w, b, a0=0.7, activation="tanh")
    np.testing.assert_allclose(g.grad, _autograd_grads(w, b, 0.7, act=torch.tanh), rtol=1e-12)
    assert set(g.sign.tolist()) == {-1.0, 1.0}
    dead = il.theory.chain_gradients([1.0, 1.0], [-5.0, 0.0], a0=1.0, activation="relu")
    assert dead.sign[0] == 0 and dead.log_abs_grad[0] == -math.inf


def test_exploding_chain_grows_exactly_25_per_layer():
    g = il.theory.exploding_chain(20, generator=1).gradients()
    assert np.all(g.z == 0.0)
    np.testing.assert_allclose(np.exp(np.diff(g.log_abs_grad[::-1])), 25.0, rtol=1e-13)
    np.testing.assert_allclose(np.exp(g.log_abs_factor[1:]), 25.0, rtol=1e-15)
    assert g.grad[-1] == 0.25 and g.grad[-2] == 0.25 * 25 and g.grad[-3] == 0.25 * 625  # exact in float64


def test_log_space_at_depth_60_and_beyond():
    g = il.theory.exploding_chain(60, a0=0.5).gradients()
    assert np.isfinite(g.log_abs_grad).all()
    assert g.log_abs_grad[0] == pytest.approx(math.log(0.25) + 59 * math.log(25), rel=1e-14)
    # 25^59 ≈ 1e82 overflows float32 (from L ≈ 28 on) but not the log
    assert g.log_abs_grad[0] > math.log(np.finfo(np.float32).max) and g.log10_abs_grad[0] == pytest.approx(81.88, abs=0.01)
    deep = il.theory.exploding_chain(300, a0=0.5).gradients()
    assert np.isfinite(deep.log_abs_grad).all() and deep.grad[0] == np.inf  # float64 overflow, log fine


def test_vanishing_chain_vanishes():
    drops = [(lambda g: g.log_abs_grad[-1] - g.log_abs_grad[0])(il.theory.vanishing_chain(30, generator=s).gradients())
             for s in range(20)]
    # each factor |w σ'(z)| ≤ |w|/4 with E log|w| ≈ −0.64: over 29 factors at least e^{29(log 4 + 0.64)}
    assert np.median(drops) > 29 * math.log(4)


def test_bad_input():
    with pytest.raises(ValueError, match="depth"):
        il.theory.vanishing_chain(0)
    with pytest.raises(ValueError, match="same length"):
        il.theory.chain_gradients([1.0, 2.0], [0.0])
    with pytest.raises(ValueError, match="finite"):
        il.theory.chain_gradients([1.0, math.inf], [0.0, 0.0])
    with pytest.raises(ValueError, match="w must"):
        il.theory.exploding_chain(3, w=0.0)
