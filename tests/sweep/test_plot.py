"""Phase diagrams: the heatmap's numbers, the theory overlay against initlab.theory, the PNG and the page."""
import math

import numpy as np
import pytest

import initlab as il
import initlab.sweep as sw
from initlab.report.sweep_page import write_sweep_page
from initlab.sweep.plot import figure, grid, theory_overlay


def _rows():
    rows = []
    for w in (1.0, 1.76, 3.0):
        for d in (5, 40):
            for s in (0, 1):
                acc = 0.9 - 0.01 * s if (d < 30 or w == 1.76) else 0.1
                rows.append({"id": f"{w}-{d}-{s}", "config": {"sigma_w2": w, "depth": d, "activation": "tanh",
                                                             "sigma_b2": 0.05}, "seed": s, "status": "ok",
                             "metrics": {"test_accuracy": acc}})
    rows[-1]["status"] = "diverged"
    return rows


def test_grid_means_over_seeds_and_keeps_the_spread():
    g = grid(_rows(), "sigma_w2", "depth", "test_accuracy")
    assert g.xs == [1.0, 1.76, 3.0] and g.ys == [5, 40]
    assert g.mean[0, 0] == pytest.approx(0.895) and g.std[0, 0] == pytest.approx(0.005)
    assert (g.lo[0, 0], g.hi[0, 0]) == pytest.approx((0.89, 0.9))
    assert g.n[1, 2] == 1 and g.mean[1, 2] == pytest.approx(0.1)  # the diverged seed has no accuracy
    assert g.statuses[1][2] == {"ok": 1, "diverged": 1}
    assert g.context == {"activation": "tanh", "sigma_b2": 0.05}
    with pytest.raises(ValueError, match="valid metrics"):
        grid(_rows(), "sigma_w2", "depth", "nope")
    rows = _rows() + [{**_rows()[0], "config": {**_rows()[0]["config"], "sigma_b2": 0.1}}]
    with pytest.raises(ValueError, match="'sigma_b2' takes 2 values.*where"):
        grid(rows, "sigma_w2", "depth", "test_accuracy")
    assert grid(rows, "sigma_w2", "depth", "test_accuracy", where={"sigma_b2": 0.1}).n.sum() == 1


def test_theory_overlay_is_the_critical_line_and_six_xi_c():
    g = grid(_rows(), "sigma_w2", "depth", "test_accuracy")
    th = theory_overlay(g, points=12)
    crit, depth = th["lines"]
    assert crit["x"][0] == pytest.approx(1.760955, abs=1e-5)  # χ₁ = 1 at σ_b² = 0.05 (module doctest value)
    # independent check of the curve: 6 ξ_c with ξ_c = −1/ln χ_c from c* and χ_c (mean_field's parts)
    w = depth["x"][3]
    mf = il.theory.mean_field("tanh", w, 0.05)
    assert depth["y"][3] == pytest.approx(-6.0 / math.log(il.theory.chi_c("tanh", w, 0.05)), rel=1e-6)
    assert depth["y"][3] == pytest.approx(6 * mf.xi_c)
    ys = np.asarray(depth["y"])
    peak = depth["x"][int(np.argmax(np.where(np.isfinite(ys), ys, -1)))]
    assert abs(peak - crit["x"][0]) < (3.0 - 1.0) / 11 + 1e-9  # ξ_c diverges at the edge of chaos
    assert ys.min() < 40 < ys.max()
    assert [p["label"] for p in th["phases"]] == ["ordered", "chaotic"]
    flipped = theory_overlay(grid(_rows(), "depth", "sigma_w2", "test_accuracy"), points=12)
    assert flipped["lines"][0]["y"][0] == pytest.approx(1.760955, abs=1e-5)
    with pytest.raises(ValueError, match="needs axes sigma_w2 and depth"):
        theory_overlay(grid([{**r, "config": {**r["config"], "width": 3}} for r in _rows()], "depth", "width",
                            "test_accuracy", where={"sigma_w2": 1.0}))


def test_figure_draws_the_heatmap_and_overlays():
    fig = figure(grid(_rows(), "sigma_w2", "depth", "test_accuracy"), overlay="theory", threshold=0.5)
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any("critical line" in s for s in labels) and any("6 ξ_c" in s for s in labels)
    mesh = ax.collections[0]
    assert np.ma.getdata(mesh.get_array()).reshape(2, 3)[0, 0] == pytest.approx(0.895)
    crit_line = next(ln for ln in ax.get_lines() if "critical" in ln.get_label())
    assert crit_line.get_xdata()[0] == pytest.approx(1.760955, abs=1e-5)


def test_sweep_plot_writes_png_and_page(tmp_path):
    s = sw.run({"trial": "trainability", "grid": {"sigma_w2": [1.0, 2.0], "depth": [1, 2]},
                "fixed": {"dataset": "circles", "width": 8, "steps": 3, "batch_size": 50}},
               tmp_path, workers=0, quiet=True)
    png = s.plot("sigma_w2", "depth", "test_accuracy", overlay="theory")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    page = write_sweep_page(tmp_path, "sigma_w2", "depth", "test_accuracy", overlay="theory")
    text = page.read_text()
    assert text.count("<rect ") == 4 and "critical line χ₁ = 1" in text and "6 ξ_c" in text
    assert "http://" not in text.replace("http://www.w3.org", "") and "https://" not in text  # offline
    assert "sweep-data" in text and '"metric": "test_accuracy"' in text
    from initlab import cli

    assert cli.main(["sweep", "plot", str(tmp_path), "--x", "sigma_w2", "--y", "depth", "--metric", "chi1",
                     "--overlay", "theory"]) == 0
    assert (tmp_path / "plots" / "chi1-sigma_w2-depth.png").is_file()
    assert (tmp_path / "plots" / "chi1-sigma_w2-depth.html").is_file()
