"""auto-init at --quick size: the phenomenon holds (read from the session's shared quick tour)."""

import pytest
from exp_testlib import ours


@pytest.fixture(scope="module")
def run(tour):
    return tour / "auto-init"


@pytest.fixture(scope="module")
def s(run):
    return ours(run)

def test_default_init_collapses_auto_lsuv_do_not(s):
    for a in ("gelu", "silu"):
        assert s[f"signal_std_ratio_last_first_{a}_default"] < 1e-3
        assert s[f"signal_fraction_last_{a}_default"] < 1e-3
        assert 0.5 <= s[f"signal_std_ratio_last_first_{a}_lsuv"] <= 2.0
        assert s[f"signal_std_ratio_last_first_{a}_auto"] > 1e-2
        assert s[f"signal_fraction_last_{a}_auto"] > 0.3


def test_theory_tracks_measurement(s):
    for a in ("gelu", "silu"):
        assert s[f"theory_max_rel_error_{a}_default"] < 0.3
