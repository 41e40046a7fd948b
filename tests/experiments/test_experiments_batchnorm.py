"""batchnorm at --quick size: the phenomenon holds (read from the session's shared quick tour)."""

import pytest
from exp_testlib import ours


@pytest.fixture(scope="module")
def run(tour):
    return tour / "batchnorm"


@pytest.fixture(scope="module")
def s(run):
    return ours(run)

def test_bn_percentiles_move_less(s):
    assert s["percentile_drift_bn_before"] < s["percentile_drift_plain"]


def test_bn_higher_early(s):
    assert s["early_test_accuracy_bn_before"] > s["early_test_accuracy_plain"] + 0.1


def test_cnn_bn_per_channel(s):
    assert s["cnn_bn_parameters"] == 2 * s["cnn_bn_channels"]
    assert s["cnn_bn_max_error"] < 1e-4
    assert s["mlp_bn_parameters_per_layer"] == 200
