"""The diagnosis benchmark's fast subset (benchmarks/diagnosis.py --fast) on its ``FAST`` variant (a
held-out seed, small widths, 2-block d = 32 transformers), thresholds frozen: healthy cases raise no
warning, broken ones have their cause as the top finding on the right layer, and ``il.fix`` makes the
fixable ones train better on ≥ 3 cases: the held-out check (k = ``STEPS`` Adam steps on fresh batches of the
case's task, 3 draws of the fix × batch orders; every fixed run ends below every broken run on a batch neither
trained on, by more than the fixed runs' spread). One torch
thread (as the benchmark runs): the check's ~600 small steps are slower with two threads on a shared machine."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

pytest.importorskip("transformers")

PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "diagnosis.py"


def _bench():
    spec = importlib.util.spec_from_file_location("diagnosis_benchmark", PATH)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_fast_subset_on_held_out_variant(one_thread):
    bench = _bench()
    v = bench.FAST
    assert v["seed"] not in {t["seed"] for t in bench.SPLITS["tune"]}
    cases = [c for c in bench.CASES if c.fast]
    assert len(bench.CASES) * (len(bench.SPLITS["tune"]) + len(bench.SPLITS["heldout"])) >= 30
    assert {c.cause is None for c in cases} == {True, False}
    rows = [bench.run_case(c, v, do_fix=c.cause is not None and c.fixable) for c in cases]
    misses = [(r["case"], r["top"], r["kinds"]) for r in rows if not r["ok"]]
    assert not misses
    fixed = [r for r in rows if r["fixed"] is not None]
    assert len(fixed) >= 3
    assert all(r["fixed"] for r in fixed), [(r["case"], r.get("loss")) for r in fixed]
    for r in fixed:  # (broken/fixed start, mean after k; min broken − max fixed; fixed runs' spread)
        b0, b, f0, f, gap, spread = r["loss"]
        assert gap > spread >= 0 and f < f0 and f < b
    table = bench.score(rows)
    for kind in ("saturation", "symmetric_units", "nonfinite", "attention_collapse"):
        assert f"| {kind} | 1 | 1 | 0 | 1.00 | 1.00 |" in table, table
    assert f"il.fix trains better: {len(fixed)}/{len(fixed)}" in table
