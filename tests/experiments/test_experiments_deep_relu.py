"""deep-relu at --quick size: the phenomenon holds (read from the session's shared quick tour)."""

import pytest
from exp_testlib import ours


@pytest.fixture(scope="module")
def run(tour):
    return tour / "deep-relu"


@pytest.fixture(scope="module")
def s(run):
    return ours(run)

import math


def test_xavier_delta_ratio_much_smaller(s):
    assert s["delta_ratio_first_last_xavier"] < 1e-2 * s["delta_ratio_first_last_he"]


def test_xavier_stalls_he_trains(s):
    assert abs(s["loss_at_end_xavier30"] - math.log(10)) < 0.05
    assert s["loss_at_end_he30"] < 2.0
    assert s["steps_to_loss_xavier30"] is None


def test_adam_hides_it(s):
    assert s["loss_at_end_xavier30_adam"] < 2.0
