"""The edge-of-chaos experiment: its scoring against hand counts, and a tiny run through the sweep engine."""
import json

import pytest

import initlab as il
from initlab.sweep.edge_of_chaos import agreement


def test_agreement_scores_by_hand():
    # ξ_c = 5 → 6 ξ_c = 30; 4 ξ_c = 20; 8 ξ_c = 40; near the boundary: 15 ≤ depth ≤ 60
    cells = [{"depth": d, "xi_c": 5.0, "trained": t} for d, t in
             [(10, True), (25, True), (35, True), (50, False), (90, False)]]
    a = agreement(cells)
    assert a["trainable_agreement"] == pytest.approx(4 / 5)        # 35 trained but 35 > 30
    assert a["agreement_4xi"] == pytest.approx(3 / 5)              # 25 and 35 wrong
    assert a["agreement_8xi"] == pytest.approx(5 / 5)
    assert a["agreement_depth_only"] == pytest.approx(5 / 5)       # D = 36..50 separates them
    assert (a["cells_near_boundary"], a["agreement_near_boundary"]) == (3, pytest.approx(2 / 3))
    # ξ_c = ∞ on the critical line: every depth is predicted trainable
    inf = agreement([{"depth": 90, "xi_c": float("inf"), "trained": True}])
    assert inf["trainable_agreement"] == 1.0 and inf["cells_near_boundary"] == 0


def test_edge_of_chaos_runs_through_the_sweep_engine(tmp_path):
    assert "edge-of-chaos" in il.experiments.names()
    r = il.experiments.run("edge-of-chaos", out=tmp_path / "run", quiet=True, sigma_w2=[1.0, 3.0], depths=[1, 3],
                           dataset="circles", width=8, steps=5, batch_size=50, workers=0)
    assert set(r.summary) >= {"trainable_agreement", "agreement_depth_only", "agreement_4xi", "agreement_8xi",
                              "agreement_near_boundary", "cells_near_boundary"}
    assert r.summary["cells"]["ours"] == 4
    assert r.summary["trainable_agreement"]["reference"]["value"] == 1.0
    sweep = il.sweep.Sweep(tmp_path / "run" / "sweep")
    assert sweep.status()["ok"] + sweep.status()["diverged"] == 4
    rows = sweep.results()
    assert {(x["config"]["sigma_w2"], x["config"]["depth"]) for x in rows} == {(1.0, 1), (1.0, 3), (3.0, 1), (3.0, 3)}
    assert (tmp_path / "run" / "figures" / "phase-diagram.png").is_file()
    # the summary's score recomputed from the trial folders
    cells = [{"depth": x["config"]["depth"], "xi_c": x["metrics"]["xi_c"],
              "trained": x["status"] == "ok" and x["metrics"]["test_accuracy"] > 0.5} for x in rows]
    assert r.summary["trainable_agreement"]["ours"] == pytest.approx(agreement(cells)["trainable_agreement"])
    assert json.loads((tmp_path / "run" / "config.json").read_text())["config"]["depths"] == [1, 3]


def test_fits_show_progress_inside_show_progress(capsys):
    """`initlab run` wraps an experiment in train.show_progress: every fit, quiet ones too, reports its steps."""
    import torch

    x = torch.randn(100, 2, generator=torch.Generator().manual_seed(0))
    y = (x[:, 0] > 0).long()
    with il.train.show_progress("demo"):
        il.train.fit(torch.nn.Sequential(torch.nn.Linear(2, 2)), (x, y), loss="ce", lr=0.1, steps=30, quiet=True)
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "[demo fit 1] 0/30 steps done, 30 remaining, ETA ?"
    assert err[-1] == "[demo fit 1] 30/30 steps done, 0 remaining, ETA 0s"
    il.train.fit(torch.nn.Sequential(torch.nn.Linear(2, 2)), (x, y), loss="ce", lr=0.1, steps=30, quiet=True)
    assert capsys.readouterr().err == ""  # outside the block a quiet fit prints nothing
