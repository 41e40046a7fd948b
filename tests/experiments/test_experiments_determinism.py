"""Same seed → byte-identical summary.json, for every registered experiment at --quick size (CPU).

The first run of each experiment is the session's shared quick tour (``initlab run all --quick``, one
process running every experiment in turn); the second runs it alone, again with seed 0. Equal bytes
therefore also show that an experiment's numbers do not depend on what ran before it in the process
(global RNG state, torch thread count, cached data).
"""
from __future__ import annotations

import json

import pytest

from initlab.experiments import registry, runner


@pytest.mark.parametrize("name", registry.names())
def test_same_seed_same_summary_bytes(name, tour, tmp_path):
    first = (tour / name / "summary.json").read_bytes()
    again = runner.run(name, quick=True, seed=0, out=tmp_path / name, quiet=True)
    second = (again.out / "summary.json").read_bytes()
    if second != first:
        a, b = json.loads(first), json.loads(second)
        diff = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
        pytest.fail(f"{name}: summary.json differs between two seed-0 quick runs in keys {diff[:10]}")
    assert json.loads(first), f"{name} wrote an empty summary"  # something was compared
