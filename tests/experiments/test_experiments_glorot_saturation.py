"""glorot-saturation at --quick size: the phenomenon holds (read from the session's shared quick tour)."""

import pytest
from exp_testlib import ours


@pytest.fixture(scope="module")
def run(tour):
    return tour / "glorot-saturation"


@pytest.fixture(scope="module")
def s(run):
    return ours(run)

def test_sigmoid_top_layer_saturates_early(s):
    assert s["top_mean_start_sigmoid_standard"] > 0.4
    assert s["saturation_step_sigmoid_standard"] is not None
    assert s["top_mean_min_sigmoid_standard"] < 0.1


def test_tanh_softsign_normalized_do_not(s):
    for v in ("tanh_normalized", "softsign_normalized"):
        assert abs(s[f"top_mean_end_{v}"]) < 0.2
        assert s[f"top_saturated_fraction_{v}"] < 0.3


def test_standard_init_gradients_shrink_toward_input(s):
    assert s["grad_std_ratio_first_top_tanh_standard"] < s["grad_std_ratio_first_top_tanh_normalized"]
