"""Model-level initialize(): conformance over every scheme, auto gains, symmetry, LSUV, pretrained, bad input."""
from __future__ import annotations

import math
import pathlib

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import integrate
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

import initlab as il
from initlab.initialize import schemes


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def small_mlp(**kw) -> nn.Sequential:
    return il.models.mlp([12, 16, 16, 4], kw.pop("activation", "relu"), init=None, **kw)


def small_cnn(**kw) -> nn.Sequential:
    return il.models.cnn(3, [4, 6], "relu", norm="batch", num_classes=5, init=None, **kw)


def weight_layers(model):
    return [n for n, m in model.named_modules() if isinstance(m, (nn.Linear, nn.modules.conv._ConvNd))]


def scheme_kwargs(scheme: str, model: nn.Module) -> dict:
    if scheme == "lsuv":
        x = torch.randn(32, 3, 8, 8) if isinstance(model[0], nn.Conv2d) else torch.randn(32, 12)
        return {"data": x}
    if scheme == "pretrained":
        sd = {k: v.clone() for k, v in model.state_dict().items()}
        for v in sd.values():
            if v.is_floating_point():
                v.normal_(0, 0.1, generator=gen(1000))
        first = weight_layers(model)[0]
        sd.pop(f"{first}.weight")  # one layer falls back to a random scheme (seeded)
        return {"checkpoint": sd, "fallback": "he_normal"}
    if scheme == "constant":
        return {"value": 0.05}
    return {}


# --- conformance: every scheme on an MLP and a small CNN ------------------------------------------------
@pytest.mark.parametrize("arch", ["mlp", "cnn"])
@pytest.mark.parametrize("scheme", schemes())
def test_every_scheme_runs_covers_layers_and_is_deterministic(scheme, arch):
    build = small_mlp if arch == "mlp" else small_cnn
    weights = []
    for seed in (0, 0, 1):
        torch.manual_seed(seed + 10)  # different default init each time
        model = build()
        report = il.initialize(model, scheme, generator=gen(seed), **scheme_kwargs(scheme, model))
        assert isinstance(report, il.InitReport)
        assert [r.name for r in report.layers] == weight_layers(model)
        for p in model.parameters():
            assert torch.isfinite(p).all()
        assert str(report).startswith("InitReport")
        assert report.to_dict()["layers"][0]["name"] == report.layers[0].name
        weights.append([p.detach().clone() for p in model.parameters()])
    assert all(torch.equal(a, b) for a, b in zip(weights[0], weights[1]))
    if scheme not in ("zeros", "constant"):
        assert not all(torch.equal(a, b) for a, b in zip(weights[0], weights[2]))


def test_aliases_resolve():
    for alias, target in il.initialize.aliases().items():
        assert target in schemes()
    m1, m2 = small_mlp(), small_mlp()
    il.initialize(m1, "kaiming", generator=gen())
    il.initialize(m2, "he_normal", generator=gen())
    assert all(torch.equal(a, b) for a, b in zip(m1.parameters(), m2.parameters()))
    assert il.initialize(small_mlp(), "Glorot").scheme == "xavier_uniform"


# --- "auto": per-layer gain from the activation that follows -----------------------------------------
def _tanh_gain() -> float:
    second, _ = integrate.quad(lambda z: math.tanh(z) ** 2 * math.exp(-z * z / 2) / math.sqrt(2 * math.pi),
                               -np.inf, np.inf, epsabs=1e-13)
    return 1 / math.sqrt(second)


@pytest.mark.parametrize("activation,expected", [("relu", math.sqrt(2)), ("tanh", None), ("selu", 1.0)])
def test_auto_gain_is_forward_gain(activation, expected):
    expected = _tanh_gain() if expected is None else expected
    model = il.models.mlp([400, 300, 300, 10], activation, init=None)
    report = il.initialize(model, "auto", generator=gen())
    assert [r.activation for r in report.layers] == [activation, activation, "none"]
    assert all(r.activation_source == "detected" for r in report.layers)
    assert report["fc1"].gain == pytest.approx(expected, rel=1e-6)
    assert report["fc2"].gain == pytest.approx(expected, rel=1e-6)
    assert report["fc_out"].gain == 1.0
    # and the weights have that scale
    assert model.fc2.weight.std().item() == pytest.approx(expected / math.sqrt(300), rel=0.02)
    assert model.fc_out.weight.std().item() == pytest.approx(1 / math.sqrt(300), rel=0.05)


def test_tanh_gain_value():
    assert _tanh_gain() == pytest.approx(1.5925, abs=1e-4)


def test_auto_looks_through_norm_and_dropout():
    model = il.models.cnn(3, [8, 8], "tanh", norm="batch", dropout=0.2, num_classes=3, init=None)
    report = il.initialize(model, "auto", generator=gen())
    assert report["conv1"].activation == "tanh" and report["conv2"].activation == "tanh"
    assert report["conv1"].gain == pytest.approx(_tanh_gain(), rel=1e-6)
    assert report["fc_out"].gain == 1.0


class Functional(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2, self.fc3, self.fc4 = nn.Linear(8, 8), nn.Linear(8, 8), nn.Linear(8, 8), nn.Linear(8, 2)
        self.bn = nn.BatchNorm1d(8)

    def forward(self, x):
        x = torch.tanh(self.fc1(x))
        x = F.leaky_relu(self.bn(self.fc2(x)), 0.2)
        x = self.fc3(x).relu()
        return self.fc4(x)


class Untraceable(Functional):
    def forward(self, x):
        if x.sum() > 0:  # data-dependent control flow: torch.fx cannot trace this
            x = -x
        return super().forward(x)


def test_auto_detects_functional_activations_by_fx():
    report = il.initialize(Functional(), "auto", generator=gen())
    assert [r.activation for r in report.layers] == ["tanh", "leaky_relu", "relu", "none"]
    assert report["fc2"].activation_params == {"slope": 0.2}
    assert all(r.activation_source == "detected" for r in report.layers)
    leaky = il.activations.get("leaky_relu", slope=0.2)
    assert report["fc2"].gain == pytest.approx(math.sqrt(2 / (1 + 0.04)), rel=1e-6)
    assert report["fc2"].gain == pytest.approx(leaky.gain("forward"), rel=1e-9)


def test_auto_reports_assumed_when_it_cannot_tell():
    # the default assumption (issue 13) is identity, gain 1: never larger than any activation's
    # forward gain, so an undetected activation can only under-scale
    default = il.initialize(Untraceable(), "auto", generator=gen())
    assert all(r.activation == "identity" and r.gain == pytest.approx(1.0) for r in default.layers
               if r.activation_source == "assumed"), str(default)
    assert min(il.activations.get(n).gain("forward") for n in il.activations.names()) == pytest.approx(1.0)
    report = il.initialize(Untraceable(), "auto", assume="relu", generator=gen())
    assumed = [r for r in report.layers if r.activation_source == "assumed"]
    assert assumed, str(report)
    assert all(r.activation == "relu" and r.gain == pytest.approx(math.sqrt(2)) for r in assumed
               if r.name != "fc4")
    assert "assumed" in str(report) and any("could not trace" in n for n in report.notes)
    tanh = il.initialize(Untraceable(), "auto", assume="tanh", generator=gen())
    assert tanh["fc1"].activation == "tanh"


def test_residual_add_is_assumed():
    class Res(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.fc2 = nn.Linear(4, 4), nn.Linear(4, 4)

        def forward(self, x):
            return torch.relu(x + self.fc1(x)) + self.fc2(x)

    report = il.initialize(Res(), "auto", generator=gen())
    assert report["fc1"].activation_source == "assumed"


# --- He schemes take the slope of the following leaky ReLU --------------------------------------------
def test_he_uses_following_leaky_slope():
    model = il.models.mlp([500, 400, 3], il.activations.get("leaky_relu", slope=0.3), init=None)
    report = il.initialize(model, "he_normal", generator=gen())
    s = math.sqrt(2 / (1.09 * 500))
    assert report["fc1"].gain == pytest.approx(math.sqrt(2 / 1.09))
    assert model.fc1.weight.std().item() == pytest.approx(s, rel=0.02)
    assert report["fc_out"].gain == pytest.approx(math.sqrt(2))  # nothing after: ReLU's He, as torch
    report = il.initialize(model, "he_uniform", mode="fan_out", a=0.0, generator=gen())
    assert model.fc1.weight.abs().max().item() <= math.sqrt(6 / 400) + 1e-7


def test_he_on_tanh_network_is_relu_he():
    model = il.models.mlp([300, 200, 3], "tanh", init=None)
    report = il.initialize(model, "he_normal", generator=gen())
    assert report["fc1"].gain == pytest.approx(math.sqrt(2))


# --- biases ------------------------------------------------------------------------------------------
def test_bias_options():
    model = il.models.mlp([100, 2000, 3], "relu", init=None)
    il.initialize(model, "he_normal", generator=gen())
    assert model.fc1.bias.eq(0).all()
    il.initialize(model, "he_normal", bias_std=0.5, generator=gen())
    assert model.fc1.bias.std().item() == pytest.approx(0.5, rel=0.07)
    il.initialize(model, "he_normal", bias_init=0.1, generator=gen())
    assert model.fc1.bias.eq(0.1).all()
    il.initialize(model, "he_normal", bias_init="uniform_fan_in", generator=gen())
    assert model.fc1.bias.abs().max().item() <= 0.1 and model.fc1.bias.abs().max().item() > 0.09


# --- symmetry: zero / constant init keeps units identical through training (seeds 000/003/004) ----------
@pytest.mark.parametrize("scheme,options", [("zeros", {}), ("constant", {"value": 0.1})])
def test_zero_and_constant_init_units_stay_identical(scheme, options):
    model = il.models.mlp([6, 8, 8, 3], "tanh", init=None)
    il.initialize(model, scheme, **options)
    before = model.fc1.weight.detach().clone()
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    x, y = torch.randn(32, 6, generator=gen(1)), torch.randint(0, 3, (32,), generator=gen(2))
    for _ in range(5):
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    for layer in (model.fc1, model.fc2):
        w, b = layer.weight.detach(), layer.bias.detach()
        assert torch.allclose(w, w[:1].expand_as(w), atol=1e-6), "units of a layer diverged"
        assert torch.allclose(b, b[:1].expand_as(b), atol=1e-6)
    if scheme == "constant":
        assert not torch.equal(before, model.fc1.weight)  # it did train, and still symmetric


# --- parameters not touched --------------------------------------------------------------------------
def test_untouched_parameters_listed_with_reasons():
    class Mixed(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(10, 8)
            self.attn = nn.MultiheadAttention(8, 2)
            self.rnn = nn.LSTM(8, 8)
            self.norm = nn.LayerNorm(8)
            self.head = nn.Linear(8, 2)

        def forward(self, x):
            return self.head(self.norm(self.rnn(self.attn(*(self.emb(x),) * 3)[0])[0]))

    model = Mixed()
    before = model.attn.in_proj_weight.detach().clone()
    report = il.initialize(model, "xavier_uniform", generator=gen())
    why = dict(report.untouched)
    assert "embedding" in why["emb.weight"]
    assert "attention in-projection" in why["attn.in_proj_weight"]
    assert "recurrent" in why["rnn.weight_ih_l0"]
    assert "norm" in why["norm.weight"]
    assert torch.equal(before, model.attn.in_proj_weight)
    assert {r.name for r in report.layers} == {"attn.out_proj", "head"}
    assert "not touched" in str(report)


# --- LSUV --------------------------------------------------------------------------------------------
def _output_vars(model, x):
    vars_ = {}

    def hook(name):
        def record(module, inputs, output):
            vars_.setdefault(name, output.double().var().item())
        return record

    hooks = [m.register_forward_hook(hook(n))
             for n, m in model.named_modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    return vars_


@pytest.mark.parametrize("arch", ["mlp", "cnn"])
def test_lsuv_unit_variance_buffers_modes_hooks(arch):
    torch.manual_seed(0)
    if arch == "mlp":
        model = il.models.mlp([20, 64, 64, 64, 5], "tanh", norm="batch", dropout=0.3, init=None)
        x = torch.randn(128, 20, generator=gen(1)) * 3 + 1
    else:
        model = il.models.cnn(3, [8, 16], "relu", norm="batch", dropout=0.2, num_classes=4, init=None)
        x = torch.randn(32, 3, 12, 12, generator=gen(1)) * 2
    model.train()
    model.bn1.eval()  # a mixed train/eval state must come back as it was
    modes = {n: m.training for n, m in model.named_modules()}
    buffers = {n: b.clone() for n, b in model.named_buffers()}
    hooks_before = {n: (len(m._forward_hooks), len(m._forward_pre_hooks)) for n, m in model.named_modules()}
    report = il.initialize(model, "lsuv", data=x, tol=0.05, generator=gen())
    assert {n: m.training for n, m in model.named_modules()} == modes
    for n, b in model.named_buffers():
        assert torch.equal(b, buffers[n]), n
    assert {n: (len(m._forward_hooks), len(m._forward_pre_hooks)) for n, m in model.named_modules()} == hooks_before
    # independent check: batch-statistics norm layers (train), no dropout noise (eval)
    model.train()
    for m in model.modules():
        if isinstance(m, nn.Dropout):
            m.eval()
    got = _output_vars(model, x)
    for r in report.layers:
        assert abs(got[r.name] - 1) <= 0.05, (r.name, got[r.name])
        assert r.output_var == pytest.approx(got[r.name], rel=1e-4)
        assert r.iterations is not None and r.iterations <= 10


def test_lsuv_deterministic_and_second_call_only_rescales():
    x = torch.randn(64, 20, generator=gen(1))
    models = []
    for s in (1, 2):
        torch.manual_seed(s)
        m = il.models.mlp([20, 32, 32, 3], "relu", init=None)
        il.initialize(m, "lsuv", data=x, generator=gen(7))
        models.append(m)
    assert all(torch.equal(a, b) for a, b in zip(models[0].parameters(), models[1].parameters()))
    m = models[0]
    before = [l.weight.detach().clone() for l in (m.fc1, m.fc2, m.fc_out)]
    x2 = x * 5
    report = il.initialize(m, "lsuv", data=x2, generator=gen(99))
    assert any("re-checked" in n for n in report.notes)
    for w0, l in zip(before, (m.fc1, m.fc2, m.fc_out)):
        ratio = l.weight.detach() / w0
        assert torch.allclose(ratio, ratio.flatten()[0].expand_as(ratio), rtol=1e-4)  # only rescaled
    assert abs(report["fc1"].output_var - 1) <= 0.1
    report = il.initialize(m, "lsuv", data=x2, reinit=True, generator=gen(99))
    assert any(n == "orthogonal pre-init" for n in report.notes)


def test_lsuv_needs_data():
    with pytest.raises(ValueError, match="data: scheme 'lsuv' needs a batch.*got None"):
        il.initialize(small_mlp(), "lsuv")


# --- pretrained --------------------------------------------------------------------------------------
def test_pretrained_round_trip(tmp_path):
    src = il.models.cnn(3, [4, 6], "relu", norm="batch", num_classes=5, generator=gen(1))
    src.bn1.running_mean.add_(0.3)
    path = tmp_path / "ckpt.pt"
    torch.save(src.state_dict(), path)
    dst = il.models.cnn(3, [4, 6], "relu", norm="batch", num_classes=5, generator=gen(2))
    report = il.initialize(dst, "pretrained", checkpoint=path)
    sd_src, sd_dst = src.state_dict(), dst.state_dict()
    assert sd_src.keys() == sd_dst.keys()
    assert all(torch.equal(sd_src[k], sd_dst[k]) for k in sd_src)
    assert set(report.loaded) == set(sd_src) and not report.skipped
    assert all(r.scheme == "pretrained" for r in report.layers)


class _RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


def test_pretrained_refuses_code_running_pickle(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"fc1.weight": torch.zeros(16, 12), "x": _RunsCode(str(marker))}, path)
    model = small_mlp()
    before = model.fc1.weight.detach().clone()
    with pytest.raises(ValueError, match="refused"):
        il.initialize(model, "pretrained", checkpoint=path)
    assert not marker.exists()
    assert torch.equal(before, model.fc1.weight)
    torch.load(path, weights_only=False)  # control: an unsafe load would have run it
    assert marker.exists()


def test_pretrained_mismatch_strip_prefix_unexpected_freeze():
    src = il.models.mlp([12, 16, 16, 4], "relu", generator=gen(1))
    sd = {f"module.{k}": v for k, v in src.state_dict().items()}
    sd["module.fc_out.weight"] = torch.zeros(7, 16)  # wrong shape
    sd["module.extra.weight"] = torch.zeros(3)
    dst = il.models.mlp([12, 16, 16, 4], "relu", generator=gen(2))
    old_out = dst.fc_out.weight.detach().clone()
    report = il.initialize(dst, "pretrained", checkpoint={"state_dict": sd}, strip_prefix="module.",
                           freeze=["fc1"])
    skipped = dict(report.skipped)
    assert "shape mismatch" in skipped["fc_out.weight"] and "(7, 16)" in skipped["fc_out.weight"]
    assert "unexpected" in skipped["extra.weight"]
    assert torch.equal(dst.fc1.weight, src.fc1.weight) and torch.equal(dst.fc2.bias, src.fc2.bias)
    assert torch.equal(dst.fc_out.weight, old_out)  # not loaded: left as it was
    assert "fc_out.weight" not in report.loaded and "fc1.weight" in report.loaded
    assert not dst.fc1.weight.requires_grad and not dst.fc1.bias.requires_grad
    assert dst.fc2.weight.requires_grad
    assert report.frozen == ["fc1.weight", "fc1.bias"]
    assert "kept as it was" in report["fc_out"].note
    text = str(report)
    assert "skipped fc_out.weight: shape mismatch" in text and "frozen" in text
    # missing keys, fallback
    report = il.initialize(dst, "pretrained", checkpoint={"fc1.weight": src.fc1.weight.detach()},
                           fallback="xavier_normal", generator=gen())
    assert dict(report.skipped)["fc2.weight"] == "missing from checkpoint"
    assert report["fc2"].scheme == "xavier_normal"


def test_pretrained_bad_input(tmp_path):
    with pytest.raises(ValueError, match="checkpoint: scheme 'pretrained' needs checkpoint="):
        il.initialize(small_mlp(), "pretrained")
    with pytest.raises(ValueError, match="no such file"):
        il.initialize(small_mlp(), "pretrained", checkpoint=tmp_path / "nope.pt")
    (tmp_path / "garbage.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a readable PyTorch checkpoint|refused"):
        il.initialize(small_mlp(), "pretrained", checkpoint=tmp_path / "garbage.pt")
    with pytest.raises(ValueError, match="freeze: prefix 'fc9' matches no parameter"):
        il.initialize(small_mlp(), "pretrained", checkpoint={}, freeze=["fc9"])
    with pytest.raises(ValueError, match="fallback must be"):
        il.initialize(small_mlp(), "pretrained", checkpoint={}, fallback="lsuv")


# --- bad input ---------------------------------------------------------------------------------------
def test_bad_input_messages():
    m = small_mlp()
    with pytest.raises(ValueError, match=r"scheme must be one of \[.*'he_normal'.*got 'hee'"):
        il.initialize(m, "hee")
    with pytest.raises(ValueError, match=r"option\(s\) \['std'\] not accepted by scheme 'he_normal'"):
        il.initialize(m, "he_normal", std=0.1)
    with pytest.raises(ValueError, match=r"mode must be one of \('fan_in', 'fan_out'\), got 'fan_avg'"):
        il.initialize(m, "he_normal", mode="fan_avg")
    with pytest.raises(ValueError, match=r"a \(the leaky-ReLU negative slope\) must be in \[0, 1\), got 1.5"):
        il.initialize(m, "he_uniform", a=1.5)
    with pytest.raises(ValueError, match="bias_init must be .*got 'ones'"):
        il.initialize(m, "auto", bias_init="ones")
    with pytest.raises(ValueError, match="gain is not used by scheme 'normal'"):
        il.initialize(m, "normal", gain=2.0)
    with pytest.raises(ValueError, match="tol must be a number in \\(0, 1\\), got 2"):
        il.initialize(m, "lsuv", data=torch.randn(4, 12), tol=2)
    with pytest.raises(ValueError, match="activation must be one of"):
        il.initialize(m, "auto", assume="nope")


@pytest.mark.parametrize("scheme", ["auto", "he_uniform", "xavier_normal", "orthogonal", "delta_orthogonal"])
def test_transposed_and_1d_3d_convs(scheme):
    model = nn.Sequential(nn.Conv1d(2, 4, 3), nn.ReLU(), nn.Unflatten(2, (2, 2)), nn.ConvTranspose2d(4, 6, 3),
                          nn.Tanh(), nn.Unflatten(3, (2, 2)), nn.Conv3d(6, 2, 1))
    report = il.initialize(model, scheme, generator=gen())
    assert [r.type for r in report.layers] == ["Conv1d", "ConvTranspose2d", "Conv3d"]
    assert [r.activation for r in report.layers] == ["relu", "tanh", "none"]
    assert model(torch.randn(1, 2, 6)).shape[1] == 2


class _CopiesIntoMeta(TorchDispatchMode):
    """Records what is copied into a meta tensor (a meta tensor holds no numbers to read back)."""

    def __init__(self):
        super().__init__()
        self.copied = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func is torch.ops.aten.copy_.default and args[0].device.type == "meta":
            self.copied.append((args[0], args[1].detach().clone()))
        return func(*args, **(kwargs or {}))


def test_generator_on_another_device_than_the_weight():
    # a CPU generator for a weight elsewhere: drawn on the CPU and copied (same numbers as on the CPU).
    # The weight is on the meta device; the numbers copied into it are the CPU draw of the same generator.
    w = torch.empty(6, 4, device="meta")
    with _CopiesIntoMeta() as mode:
        assert il.init.he_normal_(w, generator=gen()) is w
    (dest, values), = mode.copied
    assert dest is w and values.device.type == "cpu"
    want = il.init.he_normal_(torch.empty(6, 4), generator=gen())
    assert torch.equal(values, want)
    assert abs(float(want.std()) - math.sqrt(2 / 4)) < 0.5 * math.sqrt(2 / 4)  # He: std √(2 / fan_in)
    if torch.cuda.is_available():  # where a second device exists, check the numbers themselves
        w = il.init.he_normal_(torch.empty(6, 4, device="cuda"), generator=gen())
        assert torch.equal(w.cpu(), il.init.he_normal_(torch.empty(6, 4), generator=gen()))


def test_auto_reads_positional_parameters_of_functional_activations():
    """F.hardtanh(x, -2, 2) and F.rrelu(x, 0.1, 0.3) (torch's positional min_val/max_val, lower/upper)
    are detected with their parameters, and the gains follow them."""
    class Pos(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.fc2, self.fc3 = nn.Linear(8, 8), nn.Linear(8, 8), nn.Linear(8, 2)

        def forward(self, x):
            x = F.hardtanh(self.fc1(x), -2.0, 2.0)
            x = F.rrelu(self.fc2(x), 0.1, 0.3)
            return self.fc3(x)

    report = il.initialize(Pos(), "auto", generator=gen())
    assert report["fc1"].activation == "hardtanh" and report["fc1"].activation_params == {"min_val": -2.0, "max_val": 2.0}
    assert report["fc2"].activation == "rrelu" and report["fc2"].activation_params == {"lower": 0.1, "upper": 0.3}
    assert report["fc1"].gain == pytest.approx(il.activations.get("hardtanh", min_val=-2.0, max_val=2.0).gain("forward"))
    # RReLU in eval form is leaky ReLU with slope (l + u)/2 = 0.2: He's gain √(2/(1 + 0.2²))
    assert report["fc2"].gain == pytest.approx(math.sqrt(2 / (1 + 0.2 ** 2)), rel=1e-6)
