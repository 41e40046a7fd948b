"""pretrained-init at --quick size: the phenomenon holds (read from the session's shared quick tour)."""

import pytest
from exp_testlib import ours


@pytest.fixture(scope="module")
def run(tour):
    return tour / "pretrained-init"


@pytest.fixture(scope="module")
def s(run):
    return ours(run)

def test_pretrained_reaches_target_sooner(s):
    assert s["steps_to_target_pretrained"] is not None
    assert s["steps_to_target_scratch"] is None or s["steps_to_target_pretrained"] < s["steps_to_target_scratch"]


def test_freezing_and_loading(s):
    assert s["loaded_tensors"] == 4  # fc1, fc2 weights and biases; not the head
    assert s["trainable_parameters_frozen"] < s["trainable_parameters_pretrained"]
    assert s["source_test_accuracy"] > 0.9
