"""What a run's page says first, how it lists keys, what folds, which layers an axis shows, where
labels come from, what the report imports and how it writes (issue 10 §3–§4)."""
from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from report_testlib import write_run_dir

import initlab as il
from initlab import formats
from initlab.report import assets, data as rdata, figures, page as rpage, payload as rpayload

PLAIN = ["fc1", "act1", "fc2", "act2", "fc3"]
BN = ["fc1", "bn1", "act1", "fc2", "bn2", "act2", "fc3"]


def _blob(text: str) -> dict:
    return json.loads(text.split("id='initlab-data'>", 1)[1].split("</script>", 1)[0])


def _positions(text: str, needles: list[str]) -> list[int]:
    found = [text.find(n) for n in needles]
    assert all(i >= 0 for i in found), dict(zip(needles, found))
    return found


def test_page_opens_with_headline_figure_and_verdicts_then_details(run_dir):
    text = il.report.write_run_report(run_dir).read_text()
    order = ["<header class='top'", "<section id='headline'", "<figure class='headline'>",
             "<table class='numbers verdicts'>", "Our other numbers", "<section id='findings'>",
             "<section id='curves'>", "<section id='bylayer'>", "<section id='oversteps'>",
             "<section id='hist'>", "<section id='colorful'>", "<section id='config'>"]
    pos = _positions(text, order)
    assert pos == sorted(pos), dict(zip(order, pos))
    # the nav lists the sections in the order they appear
    nav = re.findall(r"<a href='#(\w+)'>", text.split("</nav>", 1)[0])
    assert nav == ["headline", "findings", "curves", "bylayer", "oversteps", "hist", "colorful", "config"]
    # the only figure is the headline: shown once, not repeated under "figures"
    assert text.count('src="figures/std_by_layer.png"') == 1 and "<section id='figures'>" not in text
    # the tally states the verdicts before the table: 1 of 2 reproduced, which one disagrees
    tally = text.split("<p class='tally'>", 1)[1].split("</p>", 1)[0]
    assert "1 of 2" in tally and "disagree" in tally and "xavier_std_last" in tally
    assert "he_std_ratio" not in tally


def test_headline_figure_rule(tmp_path):
    d = write_run_dir(tmp_path / "activation-histograms", figure=True)
    from matplotlib.figure import Figure
    for name in ("activation-histograms", "a-first"):
        fig = Figure(figsize=(2, 2), dpi=40)
        fig.add_subplot().plot([0, 1])
        fig.savefig(d / "figures" / f"{name}.png")
    # named after the experiment wins over the first in order
    assert rdata.load_run_dir(d).meta["headline_figure"] == "figures/activation-histograms.png"
    cfg = json.loads((d / "config.json").read_text())
    cfg["headline_figure"] = "std_by_layer.png"        # config.json may name it
    (d / "config.json").write_text(json.dumps(cfg))
    text = il.report.write_run_report(d).read_text()
    head = text.split("<figure class='headline'>", 1)[1].split("</figure>", 1)[0]
    assert 'src="figures/std_by_layer.png"' in head
    more = text.split("<section id='figures'>", 1)[1]
    assert more.index("a-first.png") < more.index("activation-histograms.png") and "std_by_layer" not in more
    # the tour's thumbnail is the headline figure too
    index = il.report.write_index(tmp_path).read_text()
    assert "<img class='thumb' src=\"activation-histograms/figures/std_by_layer.png\"" in index
    cfg["headline_figure"] = "nope"
    (d / "config.json").write_text(json.dumps(cfg))
    with pytest.warns(UserWarning, match="headline_figure 'nope'"):
        assert rdata.load_run_dir(d).meta["headline_figure"] == "figures/activation-histograms.png"


def test_keys_sort_naturally_everywhere(tmp_path):
    d = write_run_dir(tmp_path / "tour" / "run10", figure=False)
    write_run_dir(tmp_path / "tour" / "run2", figure=False)
    summary = {f"std_layer{i}": {"ours": 1.0, "reference": {"value": 1.0, "tolerance": 0.1, "source": "s"},
                                 "description": "d"} for i in (10, 2, 1)}
    summary.update({f"loss_block{i}": {"ours": 0.5, "description": "d"} for i in (11, 3)})
    (d / "summary.json").write_text(json.dumps(summary))
    with open(d / "metrics.csv", "a") as f:
        for i in (10, 2, 1):
            f.write(f"0,xavier,props,slope_l{i},0.25\n")
            f.writelines(f"{s},xavier,train,curve_l{i},0.5\n" for s in range(3))
    text = il.report.write_run_report(d).read_text()
    keys = re.findall(r"<td><code>([^<]*)</code>", text)
    assert keys == ["std_layer1", "std_layer2", "std_layer10", "loss_block3", "loss_block11"]
    cols = re.findall(r"<th>(slope_l\d+)</th>", text)
    assert cols == ["slope_l1", "slope_l2", "slope_l10"]
    curves = [c["metric"] for c in _blob(text)["curves"]]
    assert curves == sorted(curves, key=rdata.natural_key) and curves.index("curve_l2") < curves.index("curve_l10")
    index = il.report.write_index(tmp_path / "tour").read_text()
    assert index.index("run2/report.html") < index.index("run10/report.html")
    card = index.split("run10/report.html", 1)[1]
    assert re.findall(r"<code>([^<]*)</code>", card)[:5] == keys


def test_long_tables_fold_short_ones_do_not(tmp_path):
    d = write_run_dir(tmp_path / "run", figure=False)
    n = rpage.FOLD_ROWS + 1
    summary = json.loads((d / "summary.json").read_text())
    summary.update({f"extra{i}": {"ours": float(i), "description": "d"} for i in range(n)})
    (d / "summary.json").write_text(json.dumps(summary))
    text = il.report.write_run_report(d).read_text()
    # the verdicts never fold; the other numbers (n + final_loss) do, under a summary that counts them
    verdicts = text.split("<table class='numbers verdicts'>", 1)[1].split("</table>", 1)[0]
    assert "<details" not in text.split("<table class='numbers verdicts'>", 1)[0].split("id='headline'")[1]
    assert verdicts.count("<tr class=") == 2
    folded = re.search(r"<details class='fold'><summary>(\d+) numbers: show them</summary>"
                       r"<table class='numbers others'>", text)
    assert folded and int(folded.group(1)) == n + 1
    # a short run keeps its tables open
    short = il.report.write_run_report(write_run_dir(tmp_path / "short", figure=False)).read_text()
    assert "<details" not in short


def test_by_layer_axis_shows_one_variants_layers(tmp_path):
    d = write_run_dir(tmp_path / "bn", variants=("plain", "bn"), layers=5, figure=False, steps=6,
                      layer_names={"plain": PLAIN, "bn": BN})
    pl = rpayload.payload(rdata.load_run_dir(d))
    assert [v["layers"] for v in pl["variants"]] == [PLAIN, BN]
    assert pl["layers"] == BN                   # the union in network order (hist's layer select)
    # matplotlib: the axis lists bn's layers; plain's points sit at the layers of the same name
    fig = figures.layer_stats(d, stats=("std",))
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == BN and ax.get_xlabel() == "layer (of bn)"
    plain_line = next(ln for ln in ax.lines if ln.get_label() == "plain")
    assert plain_line.get_xdata().tolist() == [BN.index(n) for n in PLAIN]
    v = rdata.load_run_dir(d).variants[0]
    np.testing.assert_allclose(plain_line.get_ydata(), v.stats["std"][-1])
    # with the plain axis, bn's extra layers (bn1, bn2) are left out, the shared ones line up
    fig = figures.layer_stats(d, stats=("std",), layers_of="plain")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == PLAIN
    bn_line = next(ln for ln in ax.lines if ln.get_label() == "bn")
    assert bn_line.get_xdata().tolist() == list(range(5))
    w = rdata.load_run_dir(d).variants[1]
    np.testing.assert_allclose(bn_line.get_ydata(), w.stats["std"][-1][[BN.index(n) for n in PLAIN]])
    with pytest.raises(ValueError, match=r"variants=\['nope'\]: no such variant"):
        figures.layer_stats(d, layers_of="nope")


def test_labels_have_one_home():
    # the page's script gets its labels from the data, not from a copy of its own
    js = assets.asset_bytes("report.js").decode()
    for label in formats.LABELS.values():
        assert f'"{label}"' not in js, label
    a = {"steps": np.arange(3), "layers": np.array(["fc1"]), "std": np.ones((3, 1)),
         "dead_fraction": np.zeros((3, 1)), "grad_std": np.ones((3, 1))}
    pl = rpayload.payload(rdata.load(a))
    assert pl["labels"] == {s: formats.LABELS[s] for s in ("std", "grad_std", "dead_fraction")}
    assert pl["fractions"] == ["dead_fraction"]
    assert set(pl["views"]["bylayer"]) <= set(formats.REPORT_STATS)
    assert figures.LABELS is formats.LABELS and figures.FRACTIONS is formats.FRACTIONS
    fig = figures.layer_stats(a, stats=("std", "dead_fraction"))
    assert [ax.get_ylabel() for ax in fig.axes] == [formats.LABELS["std"], formats.LABELS["dead_fraction"]]


def test_numbers_written_by_formats_fmt_and_escaped(tmp_path):
    d = write_run_dir(tmp_path / "run", figure=False)
    summary = {"odd": {"ours": "<b>x</b>", "description": "<i>d</i>"},
               "tiny": {"ours": 0.000123456, "reference": {"value": 1e-4, "factor": 2.0, "source": "<s>"}},
               "missing": {"ours": None, "reference": {"value": 1.0, "tolerance": 0.1}}}
    (d / "summary.json").write_text(json.dumps(summary))
    text = il.report.write_run_report(d).read_text()
    assert "&lt;b&gt;x&lt;/b&gt;" in text and "<b>x</b>" not in text and "&lt;s&gt;" in text
    row = re.search(r"<code>tiny</code>.*?</tr>", text).group(0)
    assert f">{formats.fmt(0.000123456)}<" in row and "×/÷ 2<" in row
    assert re.search(r"<code>missing</code>.*?not measured", text)


def test_report_imports_neither_experiments_probes_nor_torch(run_dir):
    code = (f"import sys, initlab as il; il.report.write_run_report({str(run_dir)!r}); "
            f"il.report.write_index({str(run_dir.parent)!r}); import initlab.report.figures; "
            "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith(('initlab.experiments', "
            "'initlab.probes', 'initlab.theory', 'initlab.models', 'torch.'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
    assert (run_dir / "report.html").is_file() and (run_dir.parent / "index.html").is_file()


def test_every_write_is_atomic_through_formats(run_dir, monkeypatch):
    written: list[Path] = []
    real = formats.atomic_path

    def spy(path):
        written.append(Path(path))
        return real(path)

    monkeypatch.setattr(formats, "atomic_path", spy)
    il.report.write_run_report(run_dir)
    own = {run_dir / "report.html"} | {run_dir / "_assets" / n for n in assets.ASSET_FILES + (assets.MARKER,)}
    assert set(written) == own
    written.clear()
    il.report.write_run_report(run_dir)          # identical assets are not rewritten
    assert written == [run_dir / "report.html"]
    written.clear()
    il.report.write_index(run_dir.parent)
    tour = run_dir.parent
    assert set(written) == {tour / "index.html", run_dir / "report.html"} | {
        tour / "_assets" / n for n in assets.ASSET_FILES + (assets.MARKER,)}
    assert not list(tour.rglob("*.tmp"))


def test_concurrent_reports_into_one_folder(tmp_path):
    # two tours' runs sharing one parent write the same shared assets and pages at once
    tour = tmp_path / "tour"
    runs = [write_run_dir(tour / f"r{i}", steps=4, figure=False) for i in range(4)]
    assets.write_assets(tour / assets.ASSETS_DIR)
    (tour / assets.ASSETS_DIR / "report.js").write_text("stale")  # every writer will replace it
    errors: list[BaseException] = []

    def work(run):
        try:
            for _ in range(3):
                il.report.write_run_report(run)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(r,)) for r in runs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert (tour / assets.ASSETS_DIR / "report.js").read_bytes() == assets.asset_bytes("report.js")
    assert not list(tour.rglob("*.tmp")) and all((r / "report.html").is_file() for r in runs)
