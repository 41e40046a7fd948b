"""The HTML report without a browser: files written, offline, sizes, data untouched, formats."""
from __future__ import annotations

import json
import re
import warnings
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from report_testlib import hash_tree, watcher_arrays, write_run_dir

import initlab as il
from initlab.report import data as _data, payload as rpayload


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.blob: str | None = None
        self._in_blob = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for k in ("src", "href"):
            if a.get(k):
                self.urls.append(a[k])
        self._in_blob = tag == "script" and a.get("id") == "initlab-data"

    def handle_data(self, data):
        if self._in_blob:
            self.blob = (self.blob or "") + data

    def handle_endtag(self, tag):
        self._in_blob = False


def parse(path: Path) -> _Links:
    p = _Links()
    p.feed(path.read_text(encoding="utf-8"))
    return p


def test_run_report_is_offline_and_complete(run_dir):
    out = il.report.write_run_report(run_dir)
    assert out == run_dir / "report.html"
    links = parse(out)
    # nothing from the network: every src/href is relative or an in-page anchor
    assert links.urls and not [u for u in links.urls if re.match(r"^(https?:)?//", u)]
    for u in links.urls:
        if not u.startswith("#"):
            assert (out.parent / u).is_file(), u  # every referenced file exists
    text = out.read_text()
    assert "How do the per-layer activation distributions" in text        # the question
    assert "Glorot &amp; Bengio (2010), Figure 6" in text                   # the reference
    assert "he_std_ratio" in text and "agree" in text and "disagree" in text
    # each headline number carries its own verdict (1.02 vs 1 ± 0.05; 0.41 vs 0.2 ± 0.05; no reference)
    rows = {k: c for c, k in re.findall(r"<tr class='([^']*)'><td><code>([^<]*)</code>", text)}
    assert rows == {"he_std_ratio": "agree", "xavier_std_last": "disagree", "final_loss": "no-reference"}
    assert "vanishing_activations" in text and "Use he_normal" in text      # findings with fixes
    assert "figures/std_by_layer.png" in text
    # the JSON blob parses, and the hostile string in config cannot close the script
    data = json.loads(links.blob)
    assert "</" not in links.blob
    assert [v["name"] for v in data["variants"]] == ["xavier", "he"]
    assert {c["metric"] for c in data["curves"]} == {"loss", "accuracy"}
    assert text.count("<script>alert(1)") == 0


def test_agreement_by_tolerance():
    ref = {"value": 1.0, "tolerance": 0.05}
    assert _data.verdict({"ours": 1.04, "reference": ref}) == "agree"
    assert _data.verdict({"ours": 1.06, "reference": ref}) == "disagree"
    assert _data.verdict({"ours": 0.95, "reference": ref}) == "agree"
    assert _data.verdict({"ours": None, "reference": ref}) == "not measured"
    assert _data.verdict({"ours": 3.0}) == "no reference"
    assert _data.verdict({"ours": 3.0, "agree": True, "reference": ref}) == "agree"
    assert _data.verdict({"ours": 1.0, "agree": False, "reference": ref}) == "disagree"  # the runner's word wins
    assert _data.verdict({"ours": None, "agree": None, "reference": ref}) == "not measured"
    fac = {"value": 100.0, "factor": 2.0, "tolerance": None}
    assert _data.verdict({"ours": 190.0, "reference": fac}) == "agree"
    assert _data.verdict({"ours": 49.0, "reference": fac}) == "disagree"


def test_rendering_does_not_change_the_run(run_dir):
    before = hash_tree(run_dir)
    il.report.write_run_report(run_dir)
    il.report.write_index(run_dir.parent)
    il.report.to_html(run_dir, run_dir.parent / "copy.html")
    after = hash_tree(run_dir)
    new = set(after) - set(before)
    assert {k: after[k] for k in before} == before
    assert new == {"report.html"}           # the tour's assets sit in the parent, not here


def test_index_shares_assets(tmp_path):
    tour = tmp_path / "out"
    a = write_run_dir(tour / "activation-histograms")
    b = write_run_dir(tour / "xavier-depth", variants=("tanh",), steps=5)
    il.report.write_run_report(a)                    # as `initlab run` does, before the index
    assert (a / "_assets" / "uPlot.iife.min.js").is_file()
    index = il.report.write_index(tour)
    assert index == tour / "index.html"
    links = parse(index)
    assert "activation-histograms/report.html" in links.urls and "xavier-depth/report.html" in links.urls
    assert "activation-histograms/figures/std_by_layer.png" in links.urls    # thumbnail
    assert not (a / "_assets").exists()                                      # moved to the shared one
    assert "../_assets/report.js" in parse(a / "report.html").urls
    assert "../_assets/report.js" in parse(b / "report.html").urls
    # a later run report in the same tour reuses the shared assets
    c = write_run_dir(tour / "later", variants=("he",), steps=4)
    il.report.write_run_report(c)
    assert not (c / "_assets").exists() and "../_assets/report.js" in parse(c / "report.html").urls
    assert "agree" in index.read_text() and "disagree" in index.read_text()
    badges = re.findall(r"<code>([^<]*)</code></td><td class='num'>[^\n]*?class='verdict (\w+)'", index.read_text())
    assert ("he_std_ratio", "agree") in badges and ("xavier_std_last", "disagree") in badges


def test_single_run_keeps_assets_beside_it(tmp_path):
    d = write_run_dir(tmp_path / "run", steps=3)
    il.report.write_run_report(d)
    assert (d / "_assets" / "uPlot.iife.min.js").is_file()
    assert (d / "_assets" / "uPlot.LICENSE").read_text().startswith("The MIT License")
    assert not (tmp_path / "_assets").exists()


def test_unknown_format_version_is_a_clear_error(tmp_path):
    d = write_run_dir(tmp_path / "new", format_version=2, figure=False)
    with pytest.raises(ValueError, match=r"format_version 2.*reads format_version 1.*upgrade"):
        il.report.write_run_report(d)
    assert not (d / "report.html").exists()
    d = write_run_dir(tmp_path / "odd", format_version="v1", figure=False)
    with pytest.raises(ValueError, match="format_version 'v1'"):
        il.report.write_run_report(d)


def test_old_run_without_format_version_or_description_renders(tmp_path):
    d = write_run_dir(tmp_path / "old", format_version=None, description=False, figure=False)
    cfg = json.loads((d / "config.json").read_text())
    del cfg["format_version"]
    (d / "config.json").write_text(json.dumps(cfg))
    with pytest.warns(UserWarning, match="no format_version"):
        out = il.report.write_run_report(d)
    assert "carries no description" in out.read_text()


def test_partial_run_dir_renders(tmp_path):
    d = tmp_path / "partial"
    d.mkdir()
    (d / "config.json").write_text(json.dumps({"format_version": 1, "experiment": "x"}))
    assert "x · initlab report" in il.report.write_run_report(d).read_text()
    with pytest.raises(ValueError, match="not a run directory"):
        il.report.write_run_report(tmp_path)
    with pytest.raises(ValueError, match="does not exist"):
        il.report.write_run_report(tmp_path / "nope")


def _size_of_watched_run(tmp_path, steps, hist_every, layers=8, bins=64):
    d = write_run_dir(tmp_path / f"s{steps}", steps=steps, layers=layers, hist_every=hist_every,
                      bins=bins, figure=False)
    out = il.report.write_run_report(d)
    data = json.loads(parse(out).blob)
    return out.stat().st_size, data


def test_long_watched_run_is_downsampled(tmp_path):
    size, data = _size_of_watched_run(tmp_path, steps=1000, hist_every=10)
    for v in data["variants"]:
        assert len(v["steps"]) <= rpayload.MAX_STEPS and v["steps"][0] == 0 and v["steps"][-1] == 999
        for st in v["stats"].values():
            assert len(st["values"]) == len(st["steps"]) <= rpayload.MAX_STEPS
        assert len(v["hist"]["steps"]) <= rpayload.MAX_HISTS
    for c in data["curves"]:
        assert all(len(s["x"]) <= rpayload.MAX_STEPS for s in c["series"])
    assert size < 3_000_000, size   # 2 variants x 8 layers, 1,000 steps, 100 snapshots of 64 bins


def test_pick_keeps_ends_and_bounds():
    for n in (0, 1, 5, 200, 201, 1000, 12345):
        idx = rpayload.pick(n, 200)
        assert len(idx) == min(n, 200) or (n > 200 and len(idx) <= 200)
        if n:
            assert idx[0] == 0 and idx[-1] == n - 1 and np.all(np.diff(idx) > 0)


def test_common_bins_conserves_counts():
    a = watcher_arrays(6, 2, bins=20, uniform_edges=False)
    h = _data.LayerHist(a["hist_counts"][:, 1], a["hist_edges"][:, 1])
    img, grid = _data.common_bins(h, 32)
    assert img.shape == (32, 6) and len(grid) == 33
    np.testing.assert_allclose(img.sum(axis=0), h.counts.sum(axis=1))
    assert grid[0] == h.edges.min() and grid[-1] == h.edges.max()


def test_to_html_watcher_arrays_npz_and_string(tmp_path):
    arrays = watcher_arrays(40, 4, hist_every=4)
    p = il.report.to_html(arrays, tmp_path / "w" / "model.html", title="my model")
    assert p.is_file() and (tmp_path / "w" / "_assets" / "report.js").is_file()
    data = json.loads(parse(p).blob)
    assert data["kind"] == "watcher" and data["variants"][0]["layers"] == ["fc1", "fc2", "fc3", "fc4"]
    np.savez(tmp_path / "hist.npz", **arrays)
    q = il.report.to_html(tmp_path / "hist.npz", tmp_path / "hist.html")
    assert json.loads(parse(q).blob)["variants"][0]["steps"][-1] == 39
    page = il.report.to_html(arrays)                      # self-contained string
    assert isinstance(page, str) and "_assets/" not in page and "uPlot" in page
    s = il.report.to_html(arrays, tmp_path / "solo" / "solo.html", self_contained=True)
    assert not (tmp_path / "solo" / "_assets").exists() and "src=" not in s.read_text().split("initlab-data")[0]
    assert il.report.repr_html(arrays).startswith("<iframe srcdoc=")
    with pytest.raises(ValueError, match="no 'layers' array"):
        il.report.to_html({"steps": np.arange(3)})
    with pytest.raises(ValueError, match="cannot make a report from int"):
        il.report.to_html(3)


def test_cli_report(run_dir, capsys):
    from initlab.cli import main

    assert main(["report", str(run_dir)]) == 0
    assert (run_dir / "report.html").is_file()
    assert main(["report", str(run_dir.parent)]) == 0
    assert (run_dir.parent / "index.html").is_file()
    assert main(["report", str(run_dir / "nope")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_watcher_hist_with_missing_layers(tmp_path):
    a = watcher_arrays(10, 3)
    a["hist_counts"][:, 2] = np.nan        # a layer whose histogram was never recorded
    a["std"][:5, 1] = np.nan               # recorded late
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        p = il.report.to_html(a, tmp_path / "m.html")
    v = json.loads(parse(p).blob)["variants"][0]
    assert v["hist"]["layers"][2] is None and v["stats"]["std"]["values"][0][1] is None


def _real_run(tmp_path, name="activation-histograms"):
    """A real quick run of a registered experiment (a missing one is an error, not a skip)."""
    from initlab import experiments

    assert name in experiments.names(), experiments.names()
    return experiments.run(name, quick=True, out=tmp_path / "runs" / name, quiet=True)


def test_real_run_report(tmp_path):
    result = _real_run(tmp_path)
    before = hash_tree(result.out)
    page = il.report.to_html(result, tmp_path / "runs" / "copy" / "r.html")  # a Result works
    assert page.is_file()
    out = il.report.write_run_report(result.out)
    after = hash_tree(result.out)
    assert {k: after[k] for k in before} == before
    assert set(after) - set(before) <= {"report.html"} | {k for k in after if k.startswith("_assets/")}
    text = out.read_text()
    cfg = json.loads((result.out / "config.json").read_text())
    assert cfg["description"]                      # CONTRACTS.md: config.json has a description
    assert html_escape(cfg["description"]) in text
    for key in result.summary:
        assert key in text
    links = parse(out)
    assert not [u for u in links.urls if re.match(r"^(https?:)?//", u)]
    index = il.report.write_index(tmp_path / "runs")
    assert f"{result.name}/report.html" in parse(index).urls


def html_escape(s: str) -> str:
    import html
    return html.escape(s)


def test_sparse_extended_stats_survive_downsampling(tmp_path):
    # the Watcher records extended stats (dead/saturated fractions) only every hist_every steps
    a = watcher_arrays(1000, 3, hist_every=50, bins=16)
    sparse = np.full_like(a["dead_fraction"], np.nan)
    sparse[::10] = a["dead_fraction"][::10]
    a["dead_fraction"] = sparse
    p = il.report.to_html(a, tmp_path / "w.html")
    st = json.loads(parse(p).blob)["variants"][0]["stats"]
    assert st["dead_fraction"]["steps"] == list(range(0, 1000, 10))          # all 100 recorded rows
    assert all(x is not None for x in st["dead_fraction"]["values"][-1])
    assert len(st["std"]["steps"]) == rpayload.MAX_STEPS
    fig = il.report.figures.over_steps(a, "dead_fraction")
    assert len(fig.axes[0].lines[0].get_xdata()) == 100


def test_wide_many_variant_history_stays_a_few_mb(tmp_path):
    rng = np.random.default_rng(0)
    S, L, H, B = 1000, 48, 100, 128
    arrays = {}
    for v in ("a", "b", "c", "d", "e"):
        arrays[f"{v}/steps"] = np.arange(S)
        arrays[f"{v}/layers"] = np.array([f"l{i}" for i in range(L)])
        for stat in ("std", "mean", "abs_mean", "grad_norm", "weight_grad_norm", "update_ratio"):
            arrays[f"{v}/{stat}"] = rng.lognormal(size=(S, L))
        arrays[f"{v}/hist_steps"] = np.arange(0, S, S // H)
        arrays[f"{v}/hist_counts"] = rng.integers(0, 5000, size=(H, L, B)).astype(float)
        arrays[f"{v}/hist_edges"] = np.broadcast_to(np.linspace(-3, 3, B + 1), (H, L, B + 1)).copy()
    p = il.report.to_html(arrays, tmp_path / "wide.html")
    assert p.stat().st_size < 5_000_000, p.stat().st_size
    v = json.loads(parse(p).blob)["variants"][0]
    assert 2 <= len(v["hist"]["steps"]) <= rpayload.MAX_HISTS and len(v["stats"]["std"]["steps"]) >= 20


def test_single_step_metrics_become_a_table(tmp_path):
    d = write_run_dir(tmp_path / "props", steps=3, figure=False)
    with open(d / "metrics.csv", "a") as f:
        f.write("0,xavier,properties,max_slope,0.25\n0,he,properties,max_slope,1.0\n")
    out = il.report.write_run_report(d)
    data = json.loads(parse(out).blob)
    assert "max_slope" not in {c["metric"] for c in data["curves"]} and "loss" in {c["metric"] for c in data["curves"]}
    text = out.read_text()
    assert "Measured values" in text and "<th>max_slope</th>" in text and ">0.25<" in text


def test_history_npz_with_unknown_format_version(tmp_path):
    a = watcher_arrays(5, 2)
    a["format_version"] = np.array(7)
    np.savez(tmp_path / "h.npz", **a)
    with pytest.raises(ValueError, match=r"format_version 7; this initlab reads format_version 1"):
        il.report.to_html(tmp_path / "h.npz", tmp_path / "h.html")


def test_result_objects_offer_their_report(tmp_path):
    """Inspection, Watcher and Result have thin to_html/_repr_html_ methods that call the report."""
    import torch

    model = il.models.mlp([8, 16, 2], "tanh", generator=torch.Generator().manual_seed(0))
    x = torch.randn(32, 8, generator=torch.Generator().manual_seed(1))
    ins = il.inspect(model, x)
    page = ins.to_html()
    assert isinstance(page, str) and "<html" in page.lower() and "fc1" in page
    assert ins._repr_html_().startswith("<iframe")
    with il.watch(model) as w:
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        for _ in range(3):
            opt.zero_grad()
            model(x).pow(2).mean().backward()
            opt.step()
            w.step()
    assert Path(w.to_html(tmp_path / "w.html")).is_file()
    result = il.experiments.run("zigzag", quick=True, out=tmp_path / "zz", quiet=True)
    assert Path(result.to_html(tmp_path / "zz" / "report.html")).stat().st_size > 1000


def test_inspection_of_a_transformer_shows_stream_attention_and_logits():
    """The report shows an Inspection's residual stream, attention and logit records (read as plain
    dicts): every block's stream std, as the probes measured it, and every attention call."""
    import torch
    from torch import nn

    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(32, 4, 64, dropout=0.0, batch_first=True, norm_first=True)
    model = nn.Sequential(nn.TransformerEncoder(layer, 3, enable_nested_tensor=False), nn.Flatten(), nn.Linear(192, 10))
    x = torch.randn(8, 6, 32, generator=torch.Generator().manual_seed(1))
    ins = il.inspect(model, x, torch.randint(0, 10, (8,), generator=torch.Generator().manual_seed(2)))
    assert len(ins.blocks) == 3 and ins.attention and ins.logits is not None
    d = _data.load(ins)
    json.dumps(d.transformer)  # plain data, no tensors or dataclasses
    assert [b["name"] for b in d.transformer["blocks"]] == [b.name for b in ins.blocks]
    page = ins.to_html()
    assert "id='transformer'" in page and "Residual stream" in page and "Attention" in page
    for b in ins.blocks:
        assert b.name in page and il.formats.fmt(b.std) in page
    for a in ins.attention:
        assert il.formats.fmt(max(a.logit_std)) in page
    assert il.formats.fmt(ins.logits.std) in page
    # an MLP's Inspection has no such section
    mlp = il.models.mlp([8, 16, 2], "tanh", generator=torch.Generator().manual_seed(0))
    assert "id='transformer'" not in il.inspect(mlp, torch.randn(16, 8)).to_html()
