"""Reports opened in headless Chromium (Debian's chromium + chromium-driver, driven by Selenium).

Skipped when Selenium or the browser is missing, except under ``CI=true`` where that fails.
Chromium runs with the network features off and a fresh profile; pages are opened via file://
and may fetch nothing but file: URLs.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
from browser_testlib import missing as _missing
from browser_testlib import chromium
from report_testlib import watcher_arrays, write_run_dir

import initlab as il

pytestmark = pytest.mark.browser

def test_missing_browser_fails_under_ci(monkeypatch):
    # .ci/run sets CI=true: there a missing browser is a failure, elsewhere a skip
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true: not skipping"):
        _missing("chromium")
    monkeypatch.setenv("CI", "")
    with pytest.raises(pytest.skip.Exception):
        _missing("chromium")
    ci = (Path(__file__).parents[2] / ".ci" / "run").read_text()
    assert "\nexport CI=true" in ci and ci.index("export CI=true") < ci.index("python -m pytest")


@pytest.fixture(scope="module")
def driver(tmp_path_factory):
    d = chromium(tmp_path_factory.mktemp("chromium-profile"), window="1280,1600", offline=True,
                 extra_args=("--disable-quic", "--allow-file-access-from-files"),
                 logging=("browser", "performance"))
    yield d
    d.quit()


def _open(driver, page: Path) -> None:
    driver.get_log("browser")  # drop what earlier pages logged
    driver.get_log("performance")
    driver.get(page.resolve().as_uri())
    t0 = time.time()
    while time.time() - t0 < 10:
        if driver.execute_script("return document.documentElement.getAttribute('data-report-ready') === '1' "
                                 "|| !document.getElementById('initlab-data')"):
            break
        time.sleep(0.05)
    else:
        pytest.fail(f"report did not finish drawing: {driver.get_log('browser')}")


def _errors(driver) -> list:
    return [e for e in driver.get_log("browser") if e.get("level") in ("SEVERE", "ERROR")]


def _check_page(driver, page: Path) -> dict:
    """No console errors, every chart drawn, every image loaded, only file: resources."""
    _open(driver, page)
    assert _errors(driver) == []
    state = driver.execute_script("""
        const charts = [...document.querySelectorAll('.chart')];
        return {
          charts: charts.length,
          drawn: charts.filter(c => c.getAttribute('data-rendered') === '1' &&
                 [...c.querySelectorAll('canvas')].some(k => k.width > 0 && k.height > 0)).length,
          imgs: [...document.images].map(i => [i.getAttribute('src'), i.complete && i.naturalWidth > 0]),
          resources: performance.getEntriesByType('resource').map(r => r.name),
          url: location.href,
        };""")
    assert state["drawn"] == state["charts"], state
    assert all(ok for _, ok in state["imgs"]), state["imgs"]
    assert state["url"].startswith("file:")
    assert all(r.startswith("file:") for r in state["resources"]), state["resources"]
    # every request the page made (DevTools network log): file: (or inline data:) only
    requested = [json.loads(e["message"])["message"]["params"]["request"]["url"]
                 for e in driver.get_log("performance") if '"Network.requestWillBeSent"' in e["message"]]
    assert requested and all(u.startswith(("file:", "data:")) for u in requested), requested
    assert any(u.endswith("uPlot.iife.min.js") for u in requested) or "uPlot" in driver.page_source
    # a page that draws (it has a data blob) has the charting library loaded
    assert driver.execute_script("return !document.getElementById('initlab-data') || typeof uPlot === 'function'")
    return state


def _pixels(driver, selector: str) -> list[str]:
    return driver.execute_script(
        "return [...document.querySelectorAll(arguments[0])].map(c => c.toDataURL())", selector)


def _screenshot(driver, path: Path) -> Path:
    h = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1280, min(int(h) + 40, 9000))
    driver.save_screenshot(str(path))
    driver.set_window_size(1280, 1600)
    return path


def test_run_report_in_browser(driver, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    run = write_run_dir(tmp_path / "tour" / "activation-histograms", steps=60, layers=6)
    page = il.report.write_run_report(run)
    state = _check_page(driver, page)
    assert state["charts"] >= 12 and len(state["imgs"]) == 1

    hist = ".hist-chart canvas, .cd-chart canvas"
    before = _pixels(driver, hist)
    assert before, "no histogram or colorful-dimension canvas"
    readout = driver.find_element(By.CSS_SELECTOR, "#hist-controls .readout")
    assert readout.text == "fc1 · step 59"
    Select(driver.find_element(By.CSS_SELECTOR, "select.layer-select")).select_by_index(3)
    after_layer = _pixels(driver, hist)
    assert len(after_layer) == len(before)
    assert readout.text == "fc4 · step 59"
    assert all(a != b for a, b in zip(before, after_layer)), "the layer selector changed nothing"

    slider = driver.find_element(By.CSS_SELECTOR, "#hist-controls input.step-slider")
    slider.send_keys(Keys.HOME)
    after_step = _pixels(driver, ".hist-chart canvas")
    assert readout.text == "fc4 · step 0"
    assert after_step != after_layer[:len(after_step)], "the step slider changed nothing"

    # the by-layer step slider and the over-steps variant selector redraw too
    by_layer = _pixels(driver, "#bylayer-charts canvas")
    driver.find_element(By.CSS_SELECTOR, "#bylayer-controls input.step-slider").send_keys(Keys.HOME)
    assert _pixels(driver, "#bylayer-charts canvas") != by_layer
    over = _pixels(driver, "#oversteps-charts canvas")
    Select(driver.find_element(By.CSS_SELECTOR, "select.variant-select")).select_by_index(1)
    assert _pixels(driver, "#oversteps-charts canvas") != over
    assert _errors(driver) == []
    shot = _screenshot(driver, tmp_path / "report.png")
    assert shot.stat().st_size > 10_000


def test_index_and_watcher_and_inline_pages_in_browser(driver, tmp_path):
    tour = tmp_path / "out"
    write_run_dir(tour / "activation-histograms")
    write_run_dir(tour / "xavier-depth", variants=("tanh",), steps=5, figure=True)
    index = il.report.write_index(tour)
    state = _check_page(driver, index)
    assert len(state["imgs"]) == 2
    _check_page(driver, tour / "xavier-depth" / "report.html")

    arrays = watcher_arrays(120, 4, hist_every=3)
    _check_page(driver, il.report.to_html(arrays, tmp_path / "w" / "model.html"))
    inline = tmp_path / "inline.html"
    inline.write_text(il.report.to_html(arrays))
    _open(driver, inline)
    assert _errors(driver) == []
    assert driver.execute_script("return document.querySelectorAll('.chart[data-rendered]').length") > 5


def test_real_inspection_in_browser(driver, tmp_path):
    from test_report_figures import real_inspection

    page = il.report.to_html(real_inspection(), tmp_path / "insp" / "model.html")
    state = _check_page(driver, page)
    assert state["charts"] >= 4


def test_real_experiment_run_in_browser(driver, tmp_path):
    from test_report_html import _real_run

    result = _real_run(tmp_path)
    il.report.write_index(tmp_path / "runs")
    state = _check_page(driver, result.out / "report.html")
    assert state["charts"] >= 1 and state["imgs"]
    _check_page(driver, tmp_path / "runs" / "index.html")
    _screenshot(driver, tmp_path / f"{result.name}.png")


def test_real_watcher_in_browser(driver, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from test_report_figures import real_watcher

    page = il.report.to_html(real_watcher(), tmp_path / "watch" / "model.html")
    state = _check_page(driver, page)
    assert state["charts"] >= 8
    before = _pixels(driver, ".hist-chart canvas")
    driver.find_element(By.CSS_SELECTOR, "#hist-controls input.step-slider").send_keys(Keys.HOME)
    assert _pixels(driver, ".hist-chart canvas") != before
    assert _errors(driver) == []


def test_notebook_iframe_renders(driver, tmp_path):
    from selenium.webdriver.common.by import By

    page = tmp_path / "notebook.html"
    page.write_text("<!DOCTYPE html><html><body>" + il.report.repr_html(watcher_arrays(30, 3, hist_every=3))
                    + "</body></html>")
    _open(driver, page)
    driver.switch_to.frame(driver.find_element(By.TAG_NAME, "iframe"))
    try:
        t0 = time.time()
        while not driver.execute_script("return document.documentElement.getAttribute('data-report-ready')"):
            assert time.time() - t0 < 10, "the report in the iframe did not draw"
            time.sleep(0.05)
        assert driver.execute_script("return document.querySelectorAll('.chart[data-rendered]').length") >= 6
    finally:
        driver.switch_to.default_content()
    assert _errors(driver) == []


def test_by_layer_axis_and_layer_select_follow_one_variants_layers(driver, tmp_path):
    """Variants with different layers (with and without batch norm): the by-layer x axis lists one
    variant's layers, every point sits at its own layer's name; the histogram's layer select picks
    a layer by name in each variant."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select
    from test_report_layout import BN, PLAIN

    from initlab import formats

    run = write_run_dir(tmp_path / "bn", variants=("plain", "bn"), steps=6, figure=False,
                        layer_names={"plain": PLAIN, "bn": BN})
    page = il.report.write_run_report(run)
    _check_page(driver, page)
    data = il.report.data.load_run_dir(run)
    std = {v.name: dict(zip(v.layers, v.stats["std"][-1])) for v in data.variants}

    def chart(stat):
        return driver.execute_script(
            "const c = document.querySelector(`#bylayer-charts .chart[data-stat='${arguments[0]}']`);"
            "return {labels: JSON.parse(c.getAttribute('data-x-labels')), data: c.uplot.data,"
            " series: c.uplot.series.map(s => s.label), title: c.parentNode.querySelector('h3').textContent,"
            " note: document.querySelector('#bylayer-controls .axis-note').textContent};", stat)

    c = chart("std")
    assert c["labels"] == BN and c["title"] == formats.LABELS["std"]
    assert c["series"] == ["layer", "plain", "plain (theory)", "bn", "bn (theory)"]
    plain, bn = c["data"][1], c["data"][3]
    assert [x is None for x in plain] == [n not in PLAIN for n in BN]       # gaps at bn1, bn2
    for i, name in enumerate(BN):
        assert bn[i] == pytest.approx(std["bn"][name], rel=1e-3)
        if name in PLAIN:
            assert plain[i] == pytest.approx(std["plain"][name], rel=1e-3)
    assert c["note"] == ""
    Select(driver.find_element(By.CSS_SELECTOR, "select.axis-select")).select_by_visible_text("plain")
    c = chart("std")
    assert c["labels"] == PLAIN and "bn (bn1, bn2)" in c["note"]
    for i, name in enumerate(PLAIN):
        assert c["data"][1][i] == pytest.approx(std["plain"][name], rel=1e-3)
        assert c["data"][3][i] == pytest.approx(std["bn"][name], rel=1e-3)

    # histograms: the select lists every layer once (network order); each chart shows that layer
    layer_select = Select(driver.find_element(By.CSS_SELECTOR, "select.layer-select"))
    assert [o.text for o in layer_select.options] == BN
    layer_select.select_by_visible_text("fc2")
    counts = driver.execute_script(
        "return [...document.querySelectorAll('#hist-charts .chart')].map(c => c.uplot.data[1])")
    hist = {v.name: v.hists[v.layers.index("fc2")].counts[-1] for v in data.variants}
    for got, name in zip(counts, ("plain", "bn")):
        np.testing.assert_allclose(got[:-1], hist[name])
    layer_select.select_by_visible_text("bn1")      # plain has no bn1: its chart is empty, not another layer
    counts = driver.execute_script(
        "return [...document.querySelectorAll('#hist-charts .chart')].map(c => c.uplot.data[1])")
    assert all(x is None for x in counts[0]) and counts[1][:-1] == pytest.approx(
        data.variants[1].hists[BN.index("bn1")].counts[-1].tolist())
    assert _errors(driver) == []


def test_run_page_reads_headline_first(driver, tmp_path):
    """In the browser: the headline figure and the verdicts are the first things below the title."""
    run = write_run_dir(tmp_path / "run", steps=8)
    _open(driver, il.report.write_run_report(run))
    tops = driver.execute_script("""
        const y = s => document.querySelector(s).getBoundingClientRect().top + window.scrollY;
        return ['h1', 'figure.headline img', 'table.verdicts', '#findings', '#curves', '#bylayer', '#config']
               .map(y);""")
    assert tops == sorted(tops), tops
    assert driver.execute_script("return document.querySelector('figure.headline img').naturalWidth") > 0
