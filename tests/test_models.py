"""models.mlp / models.cnn: structure, names, options, ClassicDropout semantics, bad input."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import initlab as il
from initlab.models import ClassicDropout, cnn, mlp


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def names(model: nn.Module) -> list[str]:
    return [n for n, _ in model.named_children()]


# --- mlp ---------------------------------------------------------------------------------------------
def test_mlp_names_and_shapes():
    m = mlp([10, 20, 30, 5], "relu", dropout=(0.1, 0.5), norm="batch", out_activation="sigmoid", generator=gen())
    assert isinstance(m, nn.Sequential)
    assert names(m) == ["drop_in", "fc1", "bn1", "act1", "drop1", "fc2", "bn2", "act2", "drop2", "fc_out", "act_out"]
    assert (m.fc1.in_features, m.fc1.out_features, m.fc_out.out_features) == (10, 20, 5)
    assert isinstance(m.bn1, nn.BatchNorm1d) and m.bn1.num_features == 20
    assert isinstance(m.act1, nn.ReLU) and isinstance(m.act_out, nn.Sigmoid)
    assert m.drop_in.p == 0.1 and m.drop1.p == 0.5 and type(m.drop1) is nn.Dropout
    assert m(torch.randn(4, 10)).shape == (4, 5)


def test_mlp_norm_positions_and_layer_norm():
    m = mlp([4, 8, 2], "tanh", norm="layer", norm_position="after_activation", generator=gen())
    assert names(m) == ["fc1", "act1", "ln1", "fc_out"]
    assert isinstance(m.ln1, nn.LayerNorm)


def test_mlp_single_layer_and_no_bias():
    m = mlp([3, 2], "relu", bias=False, generator=gen())
    assert names(m) == ["fc_out"] and m.fc_out.bias is None


@pytest.mark.parametrize("activation,cls", [
    ("leaky_relu", nn.LeakyReLU), (il.activations.get("elu", alpha=0.5), nn.ELU), (nn.GELU(), nn.GELU),
    (nn.SiLU, nn.SiLU), (lambda x: x * torch.sigmoid(x), il.activations.Lambda)])
def test_mlp_activation_kinds(activation, cls):
    m = mlp([4, 6, 6, 2], activation, generator=gen())
    assert isinstance(m.act1, cls) and m.act1 is not m.act2
    assert torch.isfinite(m(torch.randn(3, 4))).all()


def test_mlp_activation_instance_is_copied_as_given():
    # modules the activation registry maps to a nearby entry keep their own configuration
    for module, check in ((nn.ReLU6(), lambda a: type(a) is nn.ReLU6),
                          (nn.GELU(approximate="tanh"), lambda a: a.approximate == "tanh"),
                          (nn.PReLU(6), lambda a: a.weight.shape == (6,))):
        m = mlp([4, 6, 6, 2], module, generator=gen())
        assert check(m.act1) and check(m.act2) and m.act1 is not m.act2 and m.act1 is not module


def test_mlp_init_auto_default_and_generator():
    a = mlp([50, 40, 3], "tanh", generator=gen(0))
    b = mlp([50, 40, 3], "tanh", generator=gen(0))
    c = mlp([50, 40, 3], "tanh", generator=gen(1))
    assert all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters()))
    assert not torch.equal(a.fc1.weight, c.fc1.weight)
    assert a.fc1.bias.eq(0).all()


def test_mlp_init_none_is_pytorch_default():
    torch.manual_seed(5)
    m = mlp([30, 20, 3], "relu", init=None)
    torch.manual_seed(5)
    ref = nn.Linear(30, 20)
    assert torch.equal(m.fc1.weight, ref.weight) and torch.equal(m.fc1.bias, ref.bias)


def test_mlp_init_options_forwarded():
    m = mlp([1000, 500, 3], "tanh", init="normal", std=0.5, bias_std=0.2, generator=gen())
    assert m.fc1.weight.std().item() == pytest.approx(0.5, rel=0.01)
    assert m.fc1.bias.std().item() == pytest.approx(0.2, rel=0.2)


# --- ClassicDropout vs inverted -----------------------------------------------------------------------
def test_classic_dropout_train_no_scaling_test_scaled():
    d = ClassicDropout(0.3, generator=gen())
    x = torch.full((200000,), 2.0)
    y = d.train()(x)
    assert set(y.unique().tolist()) <= {0.0, 2.0}  # kept units are not rescaled
    assert (y == 0).float().mean().item() == pytest.approx(0.3, abs=0.005)
    assert torch.allclose(d.eval()(x), x * 0.7)  # test time: × keep probability
    assert y.mean().item() == pytest.approx(d(x).mean().item(), rel=0.01)  # same expectation


def test_dropout_modes_in_mlp():
    m = mlp([4, 8, 2], "relu", dropout=0.25, dropout_mode="classic", generator=gen())
    assert isinstance(m.drop1, ClassicDropout) and m.drop1.p == 0.25
    assert isinstance(m.drop1, nn.modules.dropout._DropoutNd)  # probes/initialize treat it as dropout
    inv = nn.Dropout(0.25).train()
    y = inv(torch.ones(100000))
    assert torch.allclose(y[y != 0], torch.tensor(1 / 0.75))  # inverted: kept units scaled in training


# --- cnn ---------------------------------------------------------------------------------------------
def test_cnn_2d_names_bn_per_channel_and_head():
    m = cnn(3, [8, 16], "relu", norm="batch", dropout=0.1, num_classes=10, generator=gen())
    assert names(m) == ["conv1", "bn1", "act1", "pool1", "drop1", "conv2", "bn2", "act2", "pool2", "drop2",
                        "gap", "flatten", "fc_out"]
    assert isinstance(m.bn2, nn.BatchNorm2d) and m.bn2.num_features == 16
    assert m(torch.randn(2, 3, 16, 16)).shape == (2, 10)


def test_cnn_1d_with_input_size():
    m = cnn(1, [4, 8, 8], "tanh", dims=1, input_size=40, num_classes=3, pool="avg", generator=gen())
    assert isinstance(m.conv1, nn.Conv1d) and isinstance(m.pool1, nn.AvgPool1d)
    assert m.fc_out.in_features == 8 * 5  # 40 → 20 → 10 → 5
    assert m(torch.randn(2, 1, 40)).shape == (2, 3)


def test_cnn_feature_map_without_head_and_layer_norm():
    m = cnn(2, [4], "relu", pool=None, norm="layer", generator=gen())
    assert names(m) == ["conv1", "ln1", "act1"] and isinstance(m.ln1, nn.GroupNorm)
    assert m(torch.randn(1, 2, 7, 9)).shape == (1, 4, 7, 9)


def test_cnn_auto_init_uses_conv_fans():
    m = cnn(16, [64], "relu", kernel_size=5, pool=None, generator=gen())
    assert m.conv1.weight.std().item() == pytest.approx(math.sqrt(2 / (16 * 25)), rel=0.03)


# --- bad input ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("sizes,match", [
    ([10], "at least two"), ([10, 0, 3], "positive ints, got 0"), ([10, -5, 3], "got -5"),
    ("10,3", "list of at least two"), ([10, 2.5], "got 2.5")])
def test_mlp_bad_sizes(sizes, match):
    with pytest.raises(ValueError, match=match):
        mlp(sizes, "relu")


def test_mlp_bad_options():
    with pytest.raises(ValueError, match="activation must be one of"):
        mlp([3, 4, 2], "relux")
    with pytest.raises(ValueError, match=r"dropout must be drop probabilities in \[0, 1\).*got 1.0"):
        mlp([3, 4, 2], "relu", dropout=1.0)
    with pytest.raises(ValueError, match=r"dropout_mode must be one of \('inverted', 'classic'\), got 'x'"):
        mlp([3, 4, 2], "relu", dropout_mode="x")
    with pytest.raises(ValueError, match=r"norm must be one of \(None, 'batch', 'layer'\), got 'group'"):
        mlp([3, 4, 2], "relu", norm="group")
    with pytest.raises(ValueError, match="norm_position must be one of"):
        mlp([3, 4, 2], "relu", norm="batch", norm_position="middle")
    with pytest.raises(ValueError, match="scheme must be one of"):
        mlp([3, 4, 2], "relu", init="magic")


def test_cnn_bad_options():
    with pytest.raises(ValueError, match="channels must hold|channels must be a positive int, got 0"):
        cnn(3, [8, 0], "relu")
    with pytest.raises(ValueError, match=r"dims must be one of \(1, 2, 3\), got 4"):
        cnn(3, [8], "relu", dims=4)
    with pytest.raises(ValueError, match="too small"):
        cnn(3, [8, 8, 8], "relu", input_size=4, num_classes=2)
    with pytest.raises(ValueError, match=r"pool must be one of \(None, 'max', 'avg'\), got 'min'"):
        cnn(3, [8], "relu", pool="min")
