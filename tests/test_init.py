"""Tensor-level initializers: sampled distributions (KS tests), closed-form scales, torch.nn.init agreement."""
from __future__ import annotations

import math

import pytest
import torch
from scipy import stats

from initlab import init

SHAPES = {"linear": (200, 800), "conv2d": (64, 3, 7, 7)}
FANS = {"linear": (800, 200), "conv2d": (147, 3136)}


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def ks_p(w: torch.Tensor, dist) -> float:
    return float(stats.kstest(w.detach().double().flatten().numpy(), dist.cdf).pvalue)


# --- fans --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", SHAPES)
def test_fans_match_torch_convention(kind):
    assert init.fans(torch.empty(SHAPES[kind])) == FANS[kind]


def test_fans_grouped_conv_follows_pytorch():
    conv = torch.nn.Conv2d(8, 16, 3, groups=4)
    assert init.fans(conv.weight) == (8 // 4 * 9, 16 * 9)


# --- KS tests: every random initializer against its stated distribution ----------------------------
def _cases():
    for kind in SHAPES:
        fan_in, fan_out = FANS[kind]
        for mode, n in (("fan_in", fan_in), ("fan_out", fan_out)):
            b = math.sqrt(6 / n)
            yield f"he_uniform-{kind}-{mode}", lambda t, g, mode=mode: init.he_uniform_(t, mode=mode, generator=g), \
                kind, stats.uniform(-b, 2 * b)
            yield f"he_normal-{kind}-{mode}", lambda t, g, mode=mode: init.he_normal_(t, mode=mode, generator=g), \
                kind, stats.norm(0, math.sqrt(2 / n))
            a = 0.2
            s = math.sqrt(2 / ((1 + a * a) * n))
            yield f"he_normal-leaky-{kind}-{mode}", \
                lambda t, g, mode=mode: init.he_normal_(t, a=0.2, mode=mode, generator=g), kind, stats.norm(0, s)
            yield f"he_uniform-leaky-{kind}-{mode}", \
                lambda t, g, mode=mode: init.he_uniform_(t, a=0.2, mode=mode, generator=g), kind, \
                stats.uniform(-math.sqrt(3) * s, 2 * math.sqrt(3) * s)
        bx = math.sqrt(6 / (fan_in + fan_out))
        yield f"xavier_uniform-{kind}", lambda t, g: init.xavier_uniform_(t, generator=g), kind, \
            stats.uniform(-bx, 2 * bx)
        yield f"xavier_uniform-gain-{kind}", lambda t, g: init.xavier_uniform_(t, 5 / 3, generator=g), kind, \
            stats.uniform(-5 / 3 * bx, 10 / 3 * bx)
        yield f"xavier_normal-{kind}", lambda t, g: init.xavier_normal_(t, generator=g), kind, \
            stats.norm(0, math.sqrt(2 / (fan_in + fan_out)))
        yield f"lecun_normal-{kind}", lambda t, g: init.lecun_normal_(t, generator=g), kind, \
            stats.norm(0, 1 / math.sqrt(fan_in))
        bu = 1 / math.sqrt(fan_in)
        yield f"uniform_fan_in-{kind}", lambda t, g: init.uniform_fan_in_(t, generator=g), kind, \
            stats.uniform(-bu, 2 * bu)
        yield f"normal-{kind}", lambda t, g: init.normal_(t, 0.01, generator=g), kind, stats.norm(0, 0.01)
        yield f"normal10-{kind}", lambda t, g: init.normal_(t, 10.0, generator=g), kind, stats.norm(0, 10)


CASES = list(_cases())


@pytest.mark.parametrize("name,fn,kind,dist", CASES, ids=[c[0] for c in CASES])
def test_samples_follow_stated_distribution(name, fn, kind, dist):
    w = torch.empty(SHAPES[kind])
    out = fn(w, gen(1))
    assert out is w  # in place, returns the tensor
    assert ks_p(w, dist) > 1e-3
    # and a clearly different distribution is rejected (the test has power)
    wrong = stats.norm(0, dist.std() * 1.2) if dist.dist.name == "norm" \
        else stats.uniform(dist.support()[0] * 1.2, (dist.support()[1] - dist.support()[0]) * 1.2)
    assert ks_p(w, wrong) < 1e-3


# --- closed-form scales --------------------------------------------------------------------------------
def test_he_uniform_bound_fan_in_800():
    # the correct bound sqrt(6 / ((1 + a²) n)), not seed 003's sqrt(6)/sqrt(n + a² + 1)
    w = init.he_uniform_(torch.empty(200, 800), generator=gen())
    bound = 0.08660254
    assert math.isclose(math.sqrt(6 / 800), bound, rel_tol=1e-7)
    assert w.abs().max().item() <= bound + 1e-9
    assert w.abs().max().item() > 0.999 * bound


def test_he_uniform_not_the_typo_bound():
    # seed 003's typo √6/√(n + a² + 1) with a = 0.5, n = 8 would be 0.7977; the right one is 0.7746
    w = init.he_uniform_(torch.empty(4000, 8), a=0.5, generator=gen())
    assert w.abs().max().item() <= math.sqrt(6 / (1.25 * 8)) + 1e-7
    assert w.abs().max().item() > 0.999 * math.sqrt(6 / (1.25 * 8))


def test_xavier_uniform_bound_and_normal_std():
    w = init.xavier_uniform_(torch.empty(200, 800), generator=gen())
    assert w.abs().max().item() <= 0.07745967 + 1e-8
    assert w.abs().max().item() > 0.999 * 0.07745967
    w = init.xavier_normal_(torch.empty(200, 800), generator=gen())
    assert w.std().item() == pytest.approx(0.04472136, rel=0.01)


def test_he_normal_fan_out_conv():
    w = init.he_normal_(torch.empty(64, 3, 7, 7), mode="fan_out", generator=gen())
    assert math.sqrt(2 / 3136) == pytest.approx(0.02525381, abs=1e-8)
    assert w.std().item() == pytest.approx(0.02525381, rel=0.03)


@pytest.mark.parametrize("ours,theirs,kwargs", [
    (init.xavier_uniform_, torch.nn.init.xavier_uniform_, {}),
    (init.xavier_normal_, torch.nn.init.xavier_normal_, {}),
    (init.he_uniform_, torch.nn.init.kaiming_uniform_, {"a": 0.1, "mode": "fan_out"}),
    (init.he_normal_, torch.nn.init.kaiming_normal_, {"mode": "fan_in"}),
    (init.orthogonal_, torch.nn.init.orthogonal_, {}),
])
def test_same_draws_as_torch_nn_init(ours, theirs, kwargs):
    a, b = torch.empty(16, 4, 3, 3), torch.empty(16, 4, 3, 3)
    ours(a, generator=gen(3), **kwargs)
    theirs(b, generator=gen(3), **kwargs)
    assert torch.equal(a, b)


def test_same_seed_same_draws_different_seed_different():
    a = init.he_normal_(torch.empty(10, 10), generator=gen(0))
    b = init.he_normal_(torch.empty(10, 10), generator=gen(0))
    c = init.he_normal_(torch.empty(10, 10), generator=gen(1))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_zeros_and_constant():
    assert init.zeros_(torch.ones(3, 4)).eq(0).all()
    assert init.constant_(torch.ones(3, 4), -0.5).eq(-0.5).all()


# --- orthogonal ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(30, 50), (50, 30), (8, 4, 3, 3), (40, 40)])
@pytest.mark.parametrize("gain", [1.0, 1.7])
def test_orthogonal(shape, gain):
    w = init.orthogonal_(torch.empty(shape), gain, generator=gen())
    m = w.reshape(shape[0], -1).double()
    rows, cols = m.shape
    eye = torch.eye(min(rows, cols), dtype=torch.float64) * gain ** 2
    product = m @ m.T if rows <= cols else m.T @ m
    assert torch.allclose(product, eye, atol=1e-5 * max(1, gain ** 2))


@pytest.mark.parametrize("shape", [(8, 4, 3, 3), (4, 8, 3, 3), (6, 6, 5), (6, 3, 3, 3, 3), (4, 4, 2, 2)])
def test_delta_orthogonal_centre_tap_only(shape):
    w = init.delta_orthogonal_(torch.empty(shape), 1.3, generator=gen())
    centre = tuple(k // 2 for k in shape[2:])
    h = w[(slice(None), slice(None), *centre)].double()
    rows, cols = h.shape
    product = h @ h.T if rows <= cols else h.T @ h
    assert torch.allclose(product, 1.69 * torch.eye(min(rows, cols), dtype=torch.float64), atol=1e-5)
    rest = w.clone()
    rest[(slice(None), slice(None), *centre)] = 0
    assert rest.eq(0).all()


def test_delta_orthogonal_linear_is_orthogonal():
    w = init.delta_orthogonal_(torch.empty(5, 9), generator=gen())
    assert torch.allclose(w @ w.T, torch.eye(5), atol=1e-5)


def test_delta_orthogonal_conv_preserves_norm():
    # a delta-orthogonal conv with C_out >= C_in is an isometry on channels at every position
    conv = torch.nn.Conv2d(4, 8, 3, padding=1, bias=False)
    init.delta_orthogonal_(conv.weight, generator=gen())
    x = torch.randn(2, 4, 6, 6, generator=gen(5))
    y = conv(x)
    assert torch.allclose(y.norm(dim=1), x.norm(dim=1), atol=1e-5)


# --- bad input ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("fn", [init.xavier_uniform_, init.xavier_normal_, init.he_uniform_, init.he_normal_,
                                init.lecun_normal_, init.uniform_fan_in_, init.orthogonal_,
                                init.delta_orthogonal_, init.fans])
def test_one_dimensional_tensor_rejected(fn):
    with pytest.raises(ValueError, match=r"at least 2 dimensions.*\(5,\)"):
        fn(torch.empty(5))


@pytest.mark.parametrize("fn", [init.he_uniform_, init.he_normal_])
def test_bad_mode_slope_nonlinearity(fn):
    with pytest.raises(ValueError, match=r"mode must be one of \('fan_in', 'fan_out'\), got 'fan_avg'"):
        fn(torch.empty(3, 4), mode="fan_avg")
    for a in (-0.1, 1.0, 2):
        with pytest.raises(ValueError, match=rf"a \(the leaky-ReLU negative slope\) must be in \[0, 1\), got {a}"):
            fn(torch.empty(3, 4), a=a)
    with pytest.raises(ValueError, match="nonlinearity must be one of .*got 'swish'"):
        fn(torch.empty(3, 4), nonlinearity="swish")


def test_bad_gain_and_std():
    with pytest.raises(ValueError, match="gain must be"):
        init.xavier_uniform_(torch.empty(3, 4), gain=-1.0)
    with pytest.raises(ValueError, match="std must be"):
        init.normal_(torch.empty(3, 4), std=-0.1)
    with pytest.raises(ValueError, match="val must be"):
        init.constant_(torch.empty(3, 4), float("nan"))
