"""The diagnosis benchmark's fast subset (benchmarks/diagnosis.py --fast): healthy cases raise no
warning, broken ones have their cause as the top finding on the right layer, thresholds frozen."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

pytest.importorskip("transformers")

PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "diagnosis.py"


def _bench():
    spec = importlib.util.spec_from_file_location("diagnosis_benchmark", PATH)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


def test_fast_subset_on_held_out_variant():
    bench = _bench()
    v = bench.SPLITS["heldout"][1]
    cases = [c for c in bench.CASES if c.fast]
    assert len(bench.CASES) * (len(bench.SPLITS["tune"]) + len(bench.SPLITS["heldout"])) >= 30
    assert {c.cause is None for c in cases} == {True, False}
    rows = [bench.run_case(c, v, do_fix=c.name == "tanh N(0,1)", steps=20) for c in cases]
    misses = [(r["case"], r["top"], r["kinds"]) for r in rows if not r["ok"]]
    assert not misses
    assert all(r["fixed"] for r in rows if r["fixed"] is not None)
    table = bench.score(rows)
    assert "| saturation | 1 | 1 | 0 | 1.00 | 1.00 |" in table
