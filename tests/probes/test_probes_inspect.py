"""il.inspect: hooked numbers vs autograd by hand, the seed experiments, state preservation, bad input."""
from __future__ import annotations

import json
import math
import random

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import initlab as il
from probes_testlib import Residual, TinyTransformer, cnn_bn, gen, mlp


def test_hooked_numbers_equal_autograd_by_hand():
    model = mlp([12, 20, 16, 3], act=nn.Tanh, init="xavier", seed=1)
    with torch.no_grad():
        for m in model:
            if isinstance(m, nn.Linear):
                m.bias.normal_(0, 0.1, generator=gen(2))
    x, t = torch.randn(40, 12, generator=gen(3)), torch.randn(40, 3, generator=gen(4))
    ins = il.inspect(model, x, t)  # float targets → MSE
    assert ins.loss_kind == "mse"
    assert all(p.grad is None for p in model.parameters())  # inspect restored the (absent) grads

    # the same quantities by hand, on a copy
    ref = [m for m in model]
    acts, h = [], x
    for m in ref:
        h = m(h)
        h.retain_grad()
        acts.append(h)
    loss = F.mse_loss(h, t)
    loss.backward()
    assert ins.loss == pytest.approx(float(loss.detach()), rel=1e-6)
    for rec, a, m in zip(ins.layers, acts, ref):
        assert rec.std == pytest.approx(float(a.detach().double().std(correction=0)), rel=1e-5)
        assert rec.mean == pytest.approx(float(a.detach().double().mean()), rel=1e-5, abs=1e-9)
        assert rec.abs_mean == pytest.approx(float(a.detach().abs().double().mean()), rel=1e-5)
        assert rec.grad_norm == pytest.approx(float(a.grad.norm()), rel=1e-5)
        assert rec.grad_std == pytest.approx(float(a.grad.double().std(correction=0)), rel=1e-4)
        if isinstance(m, nn.Linear):
            assert rec.weight_grad_norm == pytest.approx(float(m.weight.grad.norm()), rel=1e-5)
            assert rec.bias_grad_norm == pytest.approx(float(m.bias.grad.norm()), rel=1e-5)
            assert rec.grad_weight_ratio == pytest.approx(float(m.weight.grad.norm() / m.weight.detach().norm()), rel=1e-5)
            assert rec.fan_in == m.in_features and rec.fan_out == m.out_features
            assert rec.weight_std == pytest.approx(float(m.weight.detach().double().std(correction=0)), rel=1e-6)
    assert [r.kind for r in ins.layers] == ["linear", "activation", "linear", "activation", "linear"]
    assert ins.layers[0].activation == "tanh" and ins.layers[-1].activation is None


def _tanh_small(width=500, depth=10):
    return mlp([width] * (depth + 1), act=nn.Tanh, init="normal", std=0.01, bias=False, seed=0)


def test_tanh_small_weights_collapse_seed_003():
    # seed 003's "small random" init: each tanh layer multiplies the std by ~0.01·√500 ≈ 0.224
    model = nn.Sequential(*list(_tanh_small()) + [nn.Tanh()])
    ins = il.inspect(model, torch.randn(1000, 500, generator=gen(7)))
    stds = [r.std for r in ins.layers if r.kind == "activation"]
    assert stds[:4] == pytest.approx([0.213, 0.0476, 0.0106, 0.00238], rel=0.04)
    kinds = {f.kind: f for f in ins.findings()}
    assert {"forward_collapse", "vanishing_gradients"} <= set(kinds)
    named = set(kinds["forward_collapse"].layers) | set(kinds["vanishing_gradients"].layers)
    assert {"4", "10", "18"} <= named


def test_he_relu_keeps_std_and_gets_no_warning():
    model = mlp([500] * 11, act=nn.ReLU, init="he", seed=0)
    model = nn.Sequential(*list(model) + [nn.ReLU()])
    ins = il.inspect(model, torch.randn(1000, 500, generator=gen(8)))
    stds = [r.std for r in ins.layers if r.kind == "activation"]
    # √(E[relu(z)²] − E[relu(z)]²) for z ~ N(0, 2): 0.826; a width-500 net drifts slowly around it
    assert len(stds) == 10 and stds[0] == pytest.approx(0.826, rel=0.03)
    assert all(0.6 < s < 1.1 for s in stds), stds
    assert [f for f in ins.findings() if f.severity != "info"] == []


def test_extended_statistics_are_consistent():
    model = mlp([8, 64, 64, 4], act=nn.ReLU, seed=3)
    ins = il.inspect(model, torch.randn(128, 8, generator=gen(1)), bins=20)
    relu = ins["1"]
    assert relu.kind == "activation" and relu.activation == "relu"
    assert relu.min == 0.0 and relu.max > 0
    assert relu.zero_fraction + relu.positive_fraction == pytest.approx(1.0)
    assert sum(relu.hist_counts) == 128 * 64 and len(relu.hist_edges) == 21
    assert relu.hist_edges[0] == relu.min and relu.hist_edges[-1] == pytest.approx(relu.max)
    assert relu.saturated_fraction is None and relu.dead_fraction == 0.0
    assert ins["0"].distinct_units == 64 and ins["0"].sign_coherence is not None
    assert ins["0"].input_positive_fraction == pytest.approx(float((torch.randn(128, 8, generator=gen(1)) > 0).float().mean()))
    tanh = il.inspect(nn.Sequential(nn.Linear(4, 16), nn.Tanh()), 30 * torch.randn(64, 4, generator=gen(2)))
    assert tanh["1"].saturated_fraction > 0.5  # |tanh| > 0.99
    json.dumps(ins.to_dict(), allow_nan=True)
    text = str(ins)
    assert "relu" in text and "linear" in text
    caffe = ins.caffe().splitlines()
    assert caffe[0].startswith("[Forward] Layer 0, top blob 0 data: ")
    assert float(caffe[0].rsplit(" ", 1)[1]) == pytest.approx(ins["0"].abs_mean, rel=1e-5)
    assert any(line.startswith("[Backward] Layer 0, param blob 0 diff:") for line in caffe)


def test_inspect_leaves_state_untouched():
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Dropout(0.5), nn.Flatten(),
                          nn.Linear(4 * 6 * 6, 3))
    model.train()
    model[0].eval()  # a mixed-mode model stays mixed
    x = torch.randn(5, 1, 8, 8, generator=gen(0))
    model(x).sum().backward()  # pre-existing grads and running stats
    handle = model[5].register_forward_hook(lambda *a: None)
    before_params = {k: v.detach().clone() for k, v in model.named_parameters()}
    before_grads = {k: v.grad for k, v in model.named_parameters()}
    grad_values = {k: g.clone() for k, g in before_grads.items()}
    before_bufs = {k: v.clone() for k, v in model.named_buffers()}
    modes = [m.training for m in model.modules()]
    hooks = [(dict(m._forward_hooks), dict(m._backward_hooks), dict(m._forward_pre_hooks)) for m in model.modules()]
    torch.manual_seed(123)
    rng, npy = torch.get_rng_state(), np.random.get_state()[1].copy()
    random.seed(5)
    rng_py = random.getstate()

    ins = il.inspect(model, torch.randn(6, 1, 8, 8, generator=gen(1)), torch.tensor([0, 1, 2, 0, 1, 2]))

    assert ins.loss_kind == "ce" and ins["1"].grad_norm is not None
    for k, v in model.named_parameters():
        assert torch.equal(v, before_params[k])
        assert v.grad is before_grads[k] and torch.equal(v.grad, grad_values[k])
    for k, v in model.named_buffers():
        assert torch.equal(v, before_bufs[k]), k
    assert int(model[1].num_batches_tracked) == 1
    assert [m.training for m in model.modules()] == modes
    assert [(dict(m._forward_hooks), dict(m._backward_hooks), dict(m._forward_pre_hooks))
            for m in model.modules()] == hooks
    assert torch.equal(torch.get_rng_state(), rng)
    assert random.getstate() == rng_py
    assert np.array_equal(np.random.get_state()[1], npy)
    handle.remove()


@pytest.mark.parametrize("make, inputs, kinds", [
    (cnn_bn, lambda: torch.randn(8, 1, 12, 12, generator=gen(0)), {"conv", "norm", "activation", "linear"}),
    (Residual, lambda: torch.randn(16, 16, generator=gen(0)), {"linear", "norm", "activation"}),
    (TinyTransformer, lambda: torch.randint(0, 50, (4, 7), generator=gen(0)), {"other", "linear", "norm"}),
])
def test_architectures(make, inputs, kinds):
    model = make()
    ins = il.inspect(model, inputs())
    assert kinds <= {r.kind for r in ins.layers}
    assert all(r.grad_norm is not None and math.isfinite(r.grad_norm) for r in ins.layers)
    assert [f for f in ins.findings() if f.severity == "error"] == []
    if make is cnn_bn:
        assert ins["0"].units == 8 and ins["0"].distinct_units == 8  # units of a conv map = channels
        assert ins["2"].dead_fraction is not None
    if make is Residual:
        calls = [r.label for r in ins.layers if r.name == "blocks.0.1"]
        assert calls == ["blocks.0.1"]
    if make is TinyTransformer:
        norms = [r for r in ins.layers if r.module_type == "LayerNorm"]
        assert len(norms) == 2 and all(abs(r.mean) < 1e-5 for r in norms)


def test_repeated_calls_get_call_index():
    lin = nn.Linear(6, 6)

    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin, self.act = lin, nn.Tanh()

        def forward(self, x):
            return self.lin(self.act(self.lin(x)))

    ins = il.inspect(Twice(), torch.randn(10, 6))
    assert [r.label for r in ins.layers] == ["lin", "act", "lin#1"]
    assert ins.layers[2].call_index == 1 and ins.layers[0].activation == "tanh"


def test_bad_input_gives_clear_value_errors():
    with pytest.raises(ValueError, match="no supported layers"):
        il.inspect(nn.Sequential(nn.Flatten()), torch.randn(3, 4))
    with pytest.raises(ValueError, match="in_features=10"):
        il.inspect(mlp([10, 5, 2]), torch.randn(3, 7))
    with pytest.raises(ValueError, match="in_channels=1"):
        il.inspect(cnn_bn(), torch.randn(2, 3, 12, 12))
    model = mlp([4, 5, 3])
    with pytest.raises(ValueError, match="cross-entropy"):
        il.inspect(model, torch.randn(6, 4), torch.tensor([0, 1, 7, 0, 1, 2]))
    with pytest.raises(ValueError, match="mse needs targets"):
        il.inspect(model, torch.randn(6, 4), torch.randn(6, 2))
    with pytest.raises(ValueError, match="scalar"):
        il.inspect(model, torch.randn(6, 4), loss_fn=lambda y: y)
    with pytest.raises(ValueError, match="loss_fn must be"):
        il.inspect(model, torch.randn(6, 4), loss_fn="hinge")
    with pytest.raises(ValueError, match="needs a targets tensor"):
        il.inspect(model, torch.randn(6, 4), loss_fn="ce")
    assert not any(m._forward_hooks for m in model.modules())


def test_loss_none_and_custom():
    model = mlp([4, 8, 2])
    ins = il.inspect(model, torch.randn(5, 4), loss_fn="none")
    assert ins.loss is None and all(r.grad_norm is None for r in ins.layers)
    ins = il.inspect(model, torch.randn(5, 4), loss_fn=lambda y: y.pow(2).mean())
    assert ins.loss_kind == "custom" and ins.layers[0].grad_norm > 0


def test_functional_activations_label_their_layers():
    """A Linear followed by ``F.relu``/``torch.tanh`` (no module) still knows its activation (torch.fx)."""
    import torch.nn.functional as F

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b, self.c = torch.nn.Linear(8, 16), torch.nn.Linear(16, 16), torch.nn.Linear(16, 2)

        def forward(self, x):
            return self.c(torch.tanh(self.b(F.leaky_relu(self.a(x), 0.2))))

    ins = il.inspect(Net(), torch.randn(32, 8, generator=gen(0)))
    assert [(r.name, r.activation) for r in ins.layers] == [("a", "leaky_relu"), ("b", "tanh"), ("c", None)]
