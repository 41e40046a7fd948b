"""The matplotlib views, and reports of real probes (Inspection; Watcher once it records)."""
from __future__ import annotations

import functools
import json

import numpy as np
import pytest
from report_testlib import hash_tree, watcher_arrays, write_run_dir
from matplotlib.figure import Figure

import initlab as il
from initlab.report import figures


@pytest.fixture
def small_run(tmp_path):
    return write_run_dir(tmp_path / "run", steps=12, layers=4, figure=False)


def _labelled(fig: Figure) -> None:
    for ax in fig.axes:
        if ax.get_visible() and ax.get_label() != "<colorbar>":
            assert ax.get_xlabel() and ax.get_ylabel(), ax.get_title()


def test_every_view_returns_a_labelled_figure(small_run, tmp_path):
    before = hash_tree(small_run)
    views = {
        "layer_stats": figures.layer_stats(small_run),
        "over_steps": figures.over_steps(small_run, "std", variant="he"),
        "histograms": figures.histograms(small_run, layers=["fc1", "fc3"]),
        "colorful": figures.colorful_dimension(small_run, "fc2", variant="xavier"),
        "curves": figures.curves(small_run),
        "curves_csv": figures.curves(small_run / "metrics.csv", metric_names=["loss"]),
    }
    for name, fig in views.items():
        assert isinstance(fig, Figure), name
        _labelled(fig)
        fig.savefig(tmp_path / f"{name}.png")
        assert (tmp_path / f"{name}.png").stat().st_size > 2000
    assert hash_tree(small_run) == before


def test_log_axis_when_values_span_decades(small_run):
    fig = figures.layer_stats(small_run, stats=("std", "grad_norm", "dead_fraction"))
    scales = {ax.get_title(): ax.get_yscale() for ax in fig.axes if ax.get_visible()}
    # grad_norm spans 1e-3..1 in the fixture; std within one decade; fractions linear in [0, 1]
    assert scales == {"std of output": "linear", "gradient norm (output)": "log", "dead fraction": "linear"}
    # theory's predicted std is drawn dashed beside each variant's measurement
    std_ax = fig.axes[0]
    assert [ln.get_label() for ln in std_ax.lines] == ["xavier", "xavier (theory)", "he", "he (theory)"]
    assert std_ax.lines[1].get_linestyle() == "--"


def test_okabe_ito_colours_per_variant(small_run):
    fig = figures.curves(small_run, metric_names=["loss"])
    colors = {ln.get_label(): ln.get_color() for ln in fig.axes[0].lines}
    # variants in the order the run lists them (xavier first), as the HTML report colours them
    assert colors == {"xavier · train": figures.OKABE_ITO[0], "he · train": figures.OKABE_ITO[1]}
    assert set(colors.values()) <= set(figures.OKABE_ITO)
    page_colors = il.report.payload.payload(il.report.data.load(small_run))["colors"]
    assert {f"{v} · train": c for v, c in page_colors.items()} == colors


def test_colorful_dimension_image_matches_counts():
    a = watcher_arrays(20, 3, hist_every=2)
    fig = figures.colorful_dimension(a, 1, bins=32)
    img = fig.axes[0].images[0].get_array()
    assert img.shape == (32, 10)
    np.testing.assert_allclose(np.asarray(img - 1).sum(axis=0), a["hist_counts"][:, 1].sum(axis=1))


def test_views_reject_bad_names_clearly(small_run):
    with pytest.raises(ValueError, match=r"layer='fc9'.*valid: \['fc1'"):
        figures.colorful_dimension(small_run, "fc9")
    with pytest.raises(ValueError, match=r"variants=\['relu'\]: no such variant; valid: \['xavier', 'he'\]"):
        figures.layer_stats(small_run, variants=["relu"])
    with pytest.raises(ValueError, match="stat='nope' was not recorded"):
        figures.over_steps(small_run, "nope")


@functools.lru_cache(maxsize=1)
def real_inspection():
    """An Inspection of a small tanh MLP."""
    import torch

    model = il.models.mlp([16, 32, 32, 32, 4], "tanh", init="xavier_normal",
                          generator=torch.Generator().manual_seed(1))
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 16, generator=g)
    y = torch.randint(0, 4, (64,), generator=g)
    return il.inspect(model, x, y)


def test_inspection_report_and_figures(tmp_path):
    ins = real_inspection()
    page = il.report.to_html(ins, tmp_path / "insp.html")
    text = page.read_text()
    blob = json.loads(text.split("id='initlab-data'>", 1)[1].split("</script>", 1)[0])
    v = blob["variants"][0]
    assert blob["kind"] == "inspection" and v["layers"] == [ls.name for ls in ins.layers]
    np.testing.assert_allclose([x if x is not None else np.nan for x in v["stats"]["std"]["values"][0]],
                               [ls.std if ls.std is not None else np.nan for ls in ins.layers], rtol=1e-3)
    assert any(h is not None for h in v["hist"]["layers"])
    for f in ins.findings():
        assert f.message in text
    _labelled(figures.layer_stats(ins))
    _labelled(figures.histograms(ins))



@functools.lru_cache(maxsize=1)
def real_watcher(steps: int = 30):
    """A Watcher over a short SGD run of a small ReLU MLP."""
    import torch

    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    model = il.models.mlp([8, 32, 32, 3], "relu", init="he_normal")
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    x = torch.randn(256, 8, generator=g)
    y = x[:, :3].argmax(1)
    with il.watch(model, hist_every=5) as w:
        for s in range(steps):
            i = torch.randint(0, 256, (32,), generator=g)
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x[i]), y[i]).backward()
            opt.step()
            w.step()
    return w


def test_watcher_report_and_figures(tmp_path):
    w = real_watcher()
    a = w.arrays()
    page = il.report.to_html(w, tmp_path / "w.html")
    blob = json.loads(page.read_text().split("id='initlab-data'>", 1)[1].split("</script>", 1)[0])
    v = blob["variants"][0]
    assert blob["kind"] == "watcher" and v["layers"] == [str(x) for x in a["layers"]]
    assert v["steps"] == a["steps"].tolist()
    assert v["hist"]["steps"] == a["hist_steps"].tolist()
    np.testing.assert_allclose(np.array(v["stats"]["std"]["values"], dtype=float), a["std"], rtol=1e-3)
    saved = tmp_path / "h.npz"
    w.save(saved)
    assert il.report.to_html(saved, tmp_path / "h.html").is_file()
    _labelled(figures.over_steps(w, "grad_norm"))
    _labelled(figures.colorful_dimension(w, 0))
    _labelled(figures.histograms(saved))
