"""Each pathology of the seed articles, built on purpose, gets its finding; thresholds are overridable."""
from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

import initlab as il
from initlab.probes import Finding, Thresholds, diagnose
from initlab.probes.records import LayerStats
from probes_testlib import gen, mlp

X = torch.randn(256, 64, generator=gen(0))
Y = torch.randint(0, 10, (256,), generator=gen(1))


def kinds(ins, **kw):
    return {f.kind: f for f in ins.findings(**kw)}


@pytest.mark.parametrize("init, std", [("zeros", None), ("constant", 0.05)])
def test_zero_or_constant_init_gives_symmetric_units(init, std):
    model = mlp([64, 128, 128, 10], act=nn.Tanh, init=init, std=std)
    f = kinds(il.inspect(model, X, Y))["symmetric_units"]
    assert f.severity == "error" and f.layers[0] == "0" and f.evidence["distinct_units"] == 1
    assert "random" in f.fix


def test_sigmoid_net_gives_sign_coherent_updates():
    model = mlp([64, 128, 128, 128, 10], act=nn.Sigmoid, init="xavier")
    f = kinds(il.inspect(model, X, Y))["non_zero_centered"]
    assert f.severity == "warning" and "6" in f.layers
    assert f.evidence["input_positive_fraction"] == 1.0
    # tanh in the same net is zero-centered: no such finding
    assert "non_zero_centered" not in kinds(il.inspect(mlp([64, 128, 128, 128, 10], act=nn.Tanh, init="xavier"), X, Y))


def test_standard_normal_relu_net_has_uncontrolled_magnitudes():
    # seed 001: ReLU does not control magnitudes; N(0, 1) weights multiply the std by √(n/2) per layer
    model = mlp([64] + [128] * 6 + [10], init="normal", std=1.0)
    found = kinds(il.inspect(model, X, Y))
    assert found["uncontrolled_magnitudes"].evidence["max_abs_mean"] > 1e3
    assert found["exploding_activations"].evidence["per_layer_factor"] > 5
    assert found["exploding_gradients"].layers[0] == "0"
    assert "clip" in found["exploding_gradients"].fix


def test_large_weights_saturate_tanh():
    # seed 000: weights near 1 put tanh in its flat tails
    model = mlp([64, 128, 128, 10], act=nn.Tanh, init="normal", std=1.0)
    f = kinds(il.inspect(model, X, Y))["saturation"]
    assert f.evidence["max_saturated_fraction"] > 0.5 and f.layers == ["1", "3"]


def test_nan_weights_name_the_first_nonfinite_layer():
    model = mlp([64, 32, 32, 32, 10], seed=0)
    with torch.no_grad():
        model[4].weight[3, 5] = float("nan")
    ins = il.inspect(model, X, Y)
    f = kinds(ins)["nonfinite"]
    assert f.severity == "error" and f.layers == ["4"]
    assert ins["2"].nonfinite and not ins["2"].nonfinite_forward and ins["2"].nonfinite_backward
    inf_in = il.inspect(mlp([64, 32, 10]), torch.full((4, 64), float("inf")))
    assert kinds(inf_in)["nonfinite"].layers == ["0"]


def test_dead_units_graded_by_batch_size():
    model = mlp([64, 128, 128, 10], seed=0)
    with torch.no_grad():
        model[0].bias.fill_(-100.0)  # every first-layer unit ≤ 0 on every example
    f = kinds(il.inspect(model, X, Y))["dead_units"]
    assert f.severity == "warning" and f.layers[0] == "1" and f.evidence["max_dead_fraction"] == 1.0
    small = kinds(il.inspect(model, X[:8], Y[:8]))["dead_units"]
    assert small.severity == "info" and "2^-8" in small.message


def test_update_ratio_far_from_1e_3():
    rs = [LayerStats("a", "linear", "Linear", update_ratio=0.5), LayerStats("b", "linear", "Linear", update_ratio=1e-3),
          LayerStats("c", "linear", "Linear", update_ratio=1e-7)]
    found = diagnose(rs)
    assert [(f.kind, f.layers) for f in found] == [("update_ratio", ["a"]), ("update_ratio", ["c"])]
    assert [f.evidence for f in found] == [{"max_update_ratio": 0.5}, {"min_update_ratio": 1e-7}]
    assert "too high" in found[0].message and "barely learns" in found[1].message


def test_thresholds_are_named_and_overridable():
    model = mlp([64, 128, 128, 10], act=nn.Tanh, init="normal", std=1.0)
    ins = il.inspect(model, X, Y)
    assert "saturation" in kinds(ins)
    assert "saturation" not in kinds(ins, thresholds={"saturated_fraction": 0.99})
    assert "saturation" not in kinds(ins, thresholds=Thresholds(saturated_fraction=0.99))
    with pytest.raises(ValueError, match="saturation_fraction"):
        ins.findings({"saturation_fraction": 0.5})
    assert all(isinstance(getattr(Thresholds(), f.name), (int, float)) for f in dataclasses.fields(Thresholds))


def test_finding_contract():
    f = kinds(il.inspect(mlp([64, 128, 128, 10], init="zeros"), X, Y))["symmetric_units"]
    d = f.to_dict()
    assert list(d) == ["kind", "severity", "layers", "evidence", "message", "fix"]
    assert isinstance(f, Finding) and f.severity in ("info", "warning", "error")
    assert all(isinstance(v, float) for v in d["evidence"].values())
    assert f.message.endswith(".") and f.fix.endswith(".")
