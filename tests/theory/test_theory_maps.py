"""Mean-field maps: published numbers, closed forms, Monte-Carlo, and bad input."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

import initlab as il
from initlab import activations
from initlab.theory import maps

# tanh critical line (σ_b², σ_w², q*)
CRITICAL_TANH = [(0.01, 1.424205, 0.273301), (0.05, 1.760955, 0.570048), (0.1, 1.986073, 0.805799),
                 (0.3, 2.505127, 1.461169)]


@pytest.mark.parametrize("sb2,sw2,q", CRITICAL_TANH)
def test_tanh_critical_line(sb2, sw2, q):
    cp = il.theory.critical_point("tanh", sb2)
    assert abs(cp.sigma_w2 - sw2) < 1e-5 and abs(cp.q_star - q) < 1e-5
    # independent check: at that σ_w², the fixed point of the q-map gives χ₁ = 1
    fp = il.theory.fixed_point("tanh", cp.sigma_w2, sb2)
    assert fp.converged and abs(fp.q_star - cp.q_star) < 1e-9
    assert abs(il.theory.chi1("tanh", cp.sigma_w2, sb2) - 1) < 1e-10


def test_critical_line_array_and_relu():
    line = il.theory.critical_line("tanh", np.array([0.0, 0.01, 0.3]))
    assert line.shape == (3,) and abs(line[0] - 1.0) < 1e-12 and abs(line[2] - 2.505127) < 1e-5
    assert il.theory.critical_sigma_w2("relu", 0.0) == pytest.approx(2.0, abs=1e-12)
    assert il.theory.critical_point("relu", 0.1).q_star == math.inf
    # leaky ReLU: σ_w² = 2/(1 + a²)
    assert il.theory.critical_sigma_w2(activations.get("leaky_relu", slope=0.2), 0.0) == pytest.approx(2 / 1.04)


def test_tanh_reference_point():
    mf = il.theory.mean_field("tanh", 1.5, 0.05)
    assert abs(mf.q_star - 0.418037) < 1e-6 and abs(mf.chi1 - 0.938636) < 1e-6
    assert round(mf.xi_c, 2) == 15.79 and round(mf.xi_q, 3) == 1.683
    assert mf.phase == "ordered" and mf.c_star == 1.0 and mf.converged
    assert mf.to_dict()["trainable_depth"] == pytest.approx(6 * mf.xi_c)


def test_torch_tanh_gain_is_slightly_chaotic():
    g = nn.init.calculate_gain("tanh")
    mf = il.theory.mean_field("tanh", g * g, 0.0)
    assert abs(mf.q_star - 1.17848) < 1e-5 and abs(mf.chi1 - 1.2098) < 1e-4
    assert mf.phase == "chaotic"
    assert mf.c_star == 0.0  # odd φ, σ_b = 0: inputs decorrelate completely


@pytest.mark.parametrize("sw2", [0.5, 1.0, 1.9, 2.0, 2.5, 4.0])
def test_relu_chi1_is_half_sigma_w2(sw2):
    assert il.theory.chi1("relu", sw2, 0.1) == pytest.approx(sw2 / 2, rel=1e-12)
    mf = il.theory.mean_field("relu", sw2, 0.1)
    assert mf.chi1 == pytest.approx(sw2 / 2, rel=1e-12)
    if sw2 < 2:
        assert mf.converged and mf.q_star == pytest.approx(0.1 / (1 - sw2 / 2))
    else:  # q grows without bound: reported, not a wrong number
        assert not mf.converged and mf.q_star == math.inf and "without bound" in mf.message


def test_fixed_point_is_the_limit_of_the_map():
    for name, sw2, sb2 in [("tanh", 1.5, 0.05), ("sigmoid", 4.0, 0.1), ("gelu", 1.2, 0.2), ("tanh", 3.0, 0.0)]:
        q = il.theory.q_sequence(name, sw2, sb2, 300, q0=3.0)
        assert il.theory.fixed_point(name, sw2, sb2, q0=3.0).q_star == pytest.approx(q[-1], rel=1e-9)
    assert il.theory.fixed_point("tanh", 0.8, 0.0).q_star == 0.0  # ordered, no bias: the signal dies


def test_q_map_slope_matches_finite_difference():
    q, h = 0.7, 1e-5
    fd = (maps.q_map(q + h, "tanh", 1.5, 0.05) - maps.q_map(q - h, "tanh", 1.5, 0.05)) / (2 * h)
    assert maps.q_map_slope(q, "tanh", 1.5) == pytest.approx(fd, rel=1e-8)


# --- analytic Gaussian expectations vs Monte-Carlo, for every registered activation -------------------
@pytest.mark.parametrize("name", activations.names())
@pytest.mark.parametrize("q", [0.5, 2.0])
def test_moments_match_monte_carlo(name, q):
    act = activations.get(name)
    # 10⁶ samples (stepped sigmoid sums 80 sigmoids per sample: 2·10⁵ keeps it fast; the bound is in SEs)
    z = np.random.default_rng(12345).standard_normal(200_000 if name == "stepped_sigmoid" else 1_000_000)
    x = math.sqrt(q) * z
    y, d = act.numpy(x), act.numpy(x, derivative=True)
    m = il.theory.gaussian_moments(act, q)
    for analytic, samples in [(m.mean, y), (m.second, y * y), (m.deriv_second, d * d), (m.z_phi_dphi, z * y * d)]:
        se = samples.std() / math.sqrt(len(samples))
        assert abs(analytic - samples.mean()) <= 5 * se + 1e-12, (name, q, analytic, samples.mean(), se)
    # the maps use exactly these
    assert maps.q_map(q, act, 1.3, 0.2) == pytest.approx(1.3 * m.second + 0.2, rel=1e-14)


@pytest.mark.parametrize("name,c", [("tanh", 0.6), ("elu", -0.4), ("softsign", 0.95), ("relu", 0.3)])
def test_correlation_expectation_matches_monte_carlo(name, c):
    act, q = activations.get(name), 1.7
    z1, z2 = np.random.default_rng(7).standard_normal((2, 1_000_000))
    u1, u2 = math.sqrt(q) * z1, math.sqrt(q) * (c * z1 + math.sqrt(1 - c * c) * z2)
    for deriv in (False, True):
        s = act.numpy(u1, derivative=deriv) * act.numpy(u2, derivative=deriv)
        got = il.theory.correlation_expectation(act, q, c, derivative=deriv)
        assert abs(got - s.mean()) <= 5 * s.std() / 1000 + 1e-12


@pytest.mark.parametrize("c", [-1.0, -0.7, 0.0, 0.2, 0.9, 0.999999])
def test_relu_c_map_is_the_arc_cosine_kernel(c):
    sw2, sb2 = 1.5, 0.1
    q = il.theory.fixed_point("relu", sw2, sb2).q_star
    th = math.acos(c)
    k = q / (2 * math.pi) * (math.sin(th) + (math.pi - th) * c)  # Cho & Saul 2009, E[relu(u1) relu(u2)]
    assert il.theory.c_map(c, "relu", sw2, sb2) == pytest.approx((sw2 * k + sb2) / q, abs=1e-12)


@pytest.mark.parametrize("name,sw2,sb2", [("tanh", 1.5, 0.05), ("tanh", 3.0, 0.2), ("relu", 1.5, 0.1),
                                          ("selu", 1.0, 0.0)])
def test_c_equal_one_is_a_fixed_point(name, sw2, sb2):
    assert il.theory.c_map(1.0, name, sw2, sb2) == 1.0
    q = il.theory.fixed_point(name, sw2, sb2).q_star
    # numerically: E[φ(u)φ(u)] at c → 1 reproduces q*
    c = il.theory.c_map(1 - 1e-12, name, sw2, sb2)
    assert c == pytest.approx(1.0, abs=1e-9) and q > 0


def test_chaotic_c_star_and_chi_c():
    sw2, sb2 = 3.0, 0.2
    mf = il.theory.mean_field("tanh", sw2, sb2)
    assert mf.phase == "chaotic" and 0 < mf.c_star < 1
    assert il.theory.c_map(mf.c_star, "tanh", sw2, sb2) == pytest.approx(mf.c_star, abs=1e-12)
    # χ_c* is the slope of the c-map at c* (Price's theorem), checked by finite differences
    h = 1e-5
    fd = (il.theory.c_map(mf.c_star + h, "tanh", sw2, sb2) - il.theory.c_map(mf.c_star - h, "tanh", sw2, sb2)) / (2 * h)
    assert mf.chi_c == pytest.approx(fd, rel=1e-6)
    assert mf.chi_c < 1 < mf.chi1 and mf.xi_c == pytest.approx(-1 / math.log(mf.chi_c))
    # c* attracts: the map moves points on either side toward it, and iterating from 0 gets there
    for c0 in (mf.c_star - 0.2, mf.c_star + 0.2):
        assert abs(il.theory.c_map(c0, "tanh", sw2, sb2) - mf.c_star) < abs(c0 - mf.c_star)
    c = 0.0
    for _ in range(60):
        c = il.theory.c_map(c, "tanh", sw2, sb2)
    assert c == pytest.approx(mf.c_star, abs=0.01)


def test_relu_without_bias_mean_field_at_q_star_zero():
    """§1.4: q* = 0. χ₁ is the limit q → 0⁺ (σ_w²/2 for ReLU), ξ_∇ = −1/ln χ₁, and 6ξ_c does not apply."""
    mf = il.theory.mean_field("relu", 1.44, 0.0)
    assert mf.converged and mf.q_star == 0.0
    assert mf.chi1 == pytest.approx(0.72, rel=1e-12) and mf.phase == "ordered"
    assert mf.xi_grad == pytest.approx(-1 / math.log(0.72), rel=1e-12) and round(mf.xi_grad, 3) == 3.044
    assert mf.xi_c == math.inf and mf.chi_c == 1.0 and mf.c_star == 1.0
    assert not mf.bounds_depth and math.isnan(mf.trainable_depth) and "6 xi_c does not bound" in mf.note
    assert math.isnan(mf.to_dict()["trainable_depth"]) and mf.to_dict()["xi_grad"] == mf.xi_grad
    # the limit equals the value at any q > 0 (scale-free moments), also for a leaky slope: σ_w²(1 + a²)/2
    assert mf.chi1 == pytest.approx(il.theory.chi1("relu", 1.44, 0.0, q_star=1e-6), rel=1e-12)
    leaky = il.theory.mean_field(activations.get("leaky_relu", slope=0.5), 1.0, 0.0)
    assert leaky.chi1 == pytest.approx(1.25 / 2, rel=1e-12) and not leaky.bounds_depth
    # a smooth φ at q* = 0: σ_w² φ'(0)²; the c-map tends to the identity there, so c keeps its value
    th = il.theory.mean_field("tanh", 0.8, 0.0)
    assert th.q_star == 0.0 and th.chi1 == pytest.approx(0.8, rel=1e-12) and not th.bounds_depth
    assert math.isnan(th.c_star) and th.xi_grad == pytest.approx(-1 / math.log(0.8), rel=1e-12)
    # with a bias spread, q* > 0 and the usual picture holds
    with_bias = il.theory.mean_field("relu", 1.44, 0.1)
    assert with_bias.bounds_depth and with_bias.xi_c == pytest.approx(with_bias.xi_grad, rel=1e-12)
    g = il.theory.phase_grid("relu", [1.0, 1.44], [0.0, 0.1])
    assert g["bounds_depth"].tolist() == [[False, False], [True, True]]
    assert g["xi_grad"][0, 1] == pytest.approx(mf.xi_grad, rel=1e-12)


def _arc_cosine(c: float) -> float:
    """The normalized ReLU c-map at σ_b² = 0 (Cho & Saul 2009): (√(1−c²) + (π − arccos c)·c)/π."""
    return (math.sqrt(max(1 - c * c, 0.0)) + (math.pi - math.acos(c)) * c) / math.pi


@pytest.mark.parametrize("sw2", [0.5, 1.44, 2.0])
def test_relu_correlation_map_without_bias_is_the_arc_cosine_map(sw2):
    """Independent of σ_w² and of q (q* = 0 included), slope 1 at c = 1: c → 1 only polynomially."""
    for c in (-0.9, 0.0, 0.3, 0.99):
        assert il.theory.c_map(c, "relu", sw2, 0.0) == pytest.approx(_arc_cosine(c), abs=1e-12)
        assert il.theory.c_map(c, "relu", sw2, 0.0, q=0.0) == pytest.approx(_arc_cosine(c), abs=1e-12)
    h = 1e-6
    assert (1 - il.theory.c_map(1 - h, "relu", sw2, 0.0)) / h == pytest.approx(1.0, abs=2e-3)


def test_relu_correlations_approach_one_polynomially():
    c_num, c_ref, gap = 0.0, 0.0, {}
    for depth in range(1, 201):
        c_num, c_ref = il.theory.c_map(c_num, "relu", 1.44, 0.0), _arc_cosine(c_ref)
        if depth in (10, 50, 200):
            assert c_num == pytest.approx(c_ref, abs=1e-10)
            gap[depth] = 1 - c_num
    assert gap[10] == pytest.approx(0.128, abs=5e-4) and gap[50] == pytest.approx(0.012, abs=2e-4)
    assert gap[200] == pytest.approx(0.00098, abs=1e-5)
    # not exponential: extrapolating the 10 → 50 decay geometrically predicts ~2e-6 at depth 200
    assert gap[200] > 100 * gap[50] * (gap[50] / gap[10]) ** (150 / 40)


def test_phase_labels():
    assert il.theory.phase(0.9995) == "critical" and il.theory.phase(0.99) == "ordered"
    assert il.theory.phase(1.01) == "chaotic"
    assert il.theory.mean_field("tanh", 1.0, 0.0).phase == "critical"


def test_accepts_name_activation_module_and_callable():
    ref = il.theory.mean_field("tanh", 1.5, 0.05)
    for a in (activations.get("tanh"), nn.Tanh(), lambda x: torch.tanh(x), activations.from_callable(torch.tanh)):
        mf = il.theory.mean_field(a, 1.5, 0.05)
        assert mf.q_star == pytest.approx(ref.q_star, rel=1e-10) and mf.chi1 == pytest.approx(ref.chi1, rel=1e-9)


def test_phase_grid_shape():
    g = il.theory.phase_grid("tanh", [0.5, 1.5, 3.0], [0.0, 0.1])
    assert g["chi1"].shape == (2, 3) and g["xi_c"].shape == (2, 3)
    assert (g["chi1"][:, 0] < 1).all() and (g["chi1"][:, 2] > 1).all()


# --- bad input ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs,needle", [
    ({"sigma_w2": 0.0}, "sigma_w2"), ({"sigma_w2": -1.0}, "sigma_w2"), ({"sigma_w2": math.nan}, "sigma_w2"),
    ({"sigma_b2": -0.1}, "sigma_b2"), ({"q0": -1.0}, "q0"), ({"depth": 0}, "depth"), ({"depth": 2.5}, "depth"),
])
def test_bad_parameters(kwargs, needle):
    args = {"sigma_w2": 1.0, "sigma_b2": 0.0, "depth": 3, "q0": 1.0, **kwargs}
    with pytest.raises(ValueError, match=needle) as e:
        il.theory.q_sequence("tanh", args["sigma_w2"], args["sigma_b2"], args["depth"], q0=args["q0"])
    assert repr(next(iter(kwargs.values())))[:3] in str(e.value)


def test_bad_activation_and_diverging_moments():
    with pytest.raises(ValueError, match="activation"):
        il.theory.mean_field("no_such_activation", 1.0, 0.0)
    with pytest.raises(ValueError, match="diverge"):
        il.theory.mean_field(lambda x: torch.exp(x * x), 1.0, 0.0)
    with pytest.raises(ValueError, match="sigma_w2"):
        il.theory.chi1("tanh", -2.0, 0.0)
    with pytest.raises(ValueError, match="sigma_b2"):
        il.theory.critical_point("tanh", -0.1)
    with pytest.raises(ValueError, match="c must be"):
        il.theory.c_map(1.5, "tanh", 1.0, 0.0)


def test_no_finite_fixed_point_is_reported():
    for sw2, sb2 in [(2.5, 0.0), (2.0, 0.1)]:
        fp = il.theory.fixed_point("relu", sw2, sb2)
        assert not fp.converged and fp.q_star == math.inf
        with pytest.raises(ValueError, match="without bound"):
            il.theory.depth_scales("relu", sw2, sb2)
    # non-homogeneous activation whose q grows without bound (softplus, large σ_w²)
    fp = il.theory.fixed_point("softplus", 5.0, 0.0)
    assert not fp.converged and "without bound" in fp.message
    # ReLU at the critical point without bias: every q is fixed
    fp = il.theory.fixed_point("relu", 2.0, 0.0, q0=0.7)
    assert fp.converged and fp.q_star == 0.7
