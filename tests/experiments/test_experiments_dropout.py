"""dropout at --quick size: the phenomenon holds (read from the session's shared quick tour)."""

import pytest
from exp_testlib import ours


@pytest.fixture(scope="module")
def run(tour):
    return tour / "dropout"


@pytest.fixture(scope="module")
def s(run):
    return ours(run)

def test_dropout_reduces_the_gap(s):
    assert s["train_accuracy_standard"] > 0.99
    assert s["gap_inverted"] < s["gap_standard"]
    assert s["gap_reduction"] > 0


def test_inverted_equals_classic(s):
    assert s["classic_rewrite_max_logit_diff"] < 1e-3
    assert s["classic_vs_inverted_agreement"] > 0.85


def test_subnetwork_average_matches_weight_scaling(s):
    assert s["mc_agreement"] > 0.95
    assert abs(s["mc_test_error_percent"] - s["test_error_percent_inverted"]) < 3
