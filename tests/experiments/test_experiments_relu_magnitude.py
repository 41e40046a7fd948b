"""relu-magnitude at --quick size: the phenomenon holds (read from the session's shared quick tour)."""

import pytest
from exp_testlib import ours


@pytest.fixture(scope="module")
def run(tour):
    return tour / "relu-magnitude"


@pytest.fixture(scope="module")
def s(run):
    return ours(run)

def test_relu_normal_runs_into_the_thousands(s):
    assert s["abs_mean_last_relu_normal"] >= 1e3
    assert s["abs_mean_growth_relu_normal"] > 100


def test_he_keeps_magnitudes(s):
    assert 0.1 <= s["abs_mean_growth_relu_he"] <= 10


def test_sigmoid_bounded_and_vanishing(s):
    # (outputs ≤ 1 and mean |x| < 1 hold for any sigmoid net whatever happens: not tested.) What the
    # init does: W ~ N(0, 1) blows the pre-activations up (std ≈ √(n E[x²]) ≫ 4.6 = logit(0.99)), so the
    # sigmoids saturate — outputs reach 1 in float32 and most sit within 0.01 of 0 or 1 — while Xavier's
    # stay in the linear range; the same init that sends ReLU's mean |x| up ×100 leaves sigmoid's level
    assert s["sigmoid_normal_output_max"] >= 0.99
    assert s["saturated_fraction_sigmoid_normal"] > 0.3
    assert s["saturated_fraction_sigmoid_xavier"] < 0.05
    assert 0.5 <= s["abs_mean_growth_sigmoid_normal"] <= 2.0 and s["abs_mean_growth_relu_normal"] > 100
    assert s["grad_ratio_first_last_sigmoid_xavier"] < 1e-2 * s["grad_ratio_first_last_relu_he"]


def test_relu_normal_fails_to_train(s):
    assert s["test_accuracy_relu_he"] > 0.8
    assert s["diverged_step_relu_normal"] is not None or s["test_accuracy_relu_normal"] < 0.5


def test_caffe_lines_written(run):
    text = (run / "debug_info.txt").read_text()
    assert "[Forward] Layer act1, top blob act1 data:" in text and "[Backward]" in text
