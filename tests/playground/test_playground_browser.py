"""The playground page in headless Chromium (Selenium), against a real uvicorn on 127.0.0.1: load,
change the activation and the init scheme, play (the loss falls, the histograms redraw), reload (the
URL gives the same state), compare two configurations, export and run the exported code.

Skipped when Selenium, Chromium or Starlette is missing, except under ``CI=true`` where that fails.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from browser_testlib import chromium, missing as _missing

pytestmark = pytest.mark.browser

SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.fixture(scope="module")
def server():
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        _missing('the playground extra (pip install "initlab[playground]")')
    from playground_testlib import running_server

    with running_server(max_sessions=4) as hostport:
        yield f"http://{hostport}/"


@pytest.fixture(scope="module")
def driver(tmp_path_factory):
    d = chromium(tmp_path_factory.mktemp("chromium-profile"), window="1400,1100")
    yield d
    d.quit()


def _wait(driver, script: str, timeout: float = 60, what: str = ""):
    t0 = time.time()
    while time.time() - t0 < timeout:
        v = driver.execute_script(script)
        if v:
            return v
        time.sleep(0.05)
    errors = driver.execute_script("return window.playground && window.playground.errors")
    pytest.fail(f"timed out waiting for {what or script}; page errors: {errors}; log: {driver.get_log('browser')}")


def _errors(driver) -> list:
    return [e for e in driver.get_log("browser") if e.get("level") in ("SEVERE", "ERROR")]


def _select(driver, element_id: str, value: str) -> None:
    from selenium.webdriver.support.ui import Select

    Select(driver.find_element("id", element_id)).select_by_value(value)


def _run_state(driver) -> dict:
    return driver.execute_script("const p = window.playground.panes[0]; return p.runInfo && p.runInfo.state")


def test_the_page(driver, server, tmp_path):
    driver.get(server + "?dataset=xor&depth=4&width=24&lr=0.1&batch=10")
    _wait(driver, "return document.documentElement.dataset.ready === '1'", what="the first snapshot")
    assert _run_state(driver)["dataset"] == "xor"
    assert driver.find_element("id", "depth").get_attribute("value") == "4"

    # activation and init scheme: a new run with them, the σ_w² slider follows the scheme
    runs = driver.execute_script("return window.playground.runs")
    _select(driver, "activation", "relu")
    _select(driver, "init", "he_normal")
    _wait(driver, f"const s = window.playground.panes[0].runInfo.state; return window.playground.runs > {runs} "
                  "&& s.activation === 'relu' && s.init === 'he_normal' && window.playground.panes[0].snap "
                  "&& window.playground.panes[0].snap.run === window.playground.panes[0].run", what="the relu/he run")
    sw2 = float(driver.find_element("id", "sw2").get_attribute("value"))
    assert abs(sw2 - 2.0) < 0.01  # He for ReLU: σ_w² = 2
    first = driver.execute_script("return window.playground.panes[0].snap.loss.train")

    # play: the loss falls and the histograms redraw
    draws = driver.execute_script("return window.playground.histDraws")
    driver.find_element("id", "play").click()
    _wait(driver, "const s = window.playground.panes[0].snap; return s.step >= 300", what="300 steps")
    driver.find_element("id", "play").click()  # pause
    _wait(driver, "const p = window.playground.panes[0]; return !p.playing && p.snap && !p.snap.playing",
          what="the pause")
    snap = driver.execute_script("return window.playground.panes[0].snap")
    assert snap["loss"]["train"] < 0.8 * first, (first, snap["loss"])
    assert driver.execute_script("return window.playground.histDraws") > draws + 5
    heights = driver.execute_script("return [...document.querySelectorAll('canvas.hist-act, canvas.hist-grad')]"
                                    ".map(c => c.getContext('2d').getImageData(0, 0, c.width, c.height).data"
                                    ".some((v, i) => i % 4 === 3 && v > 0))")
    assert heights == [True, True]  # both histogram canvases hold ink

    # export, run the exported code: it replays the run to the same loss
    driver.find_element("id", "export").click()
    code = _wait(driver, "return window.playground.exported && window.playground.exported.code", what="export")
    assert f"STEPS = {snap['step']}" in code
    path = tmp_path / "run.py"
    path.write_text(code)
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    out = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    loss = float(re.search(r"train loss ([0-9.e+-]+)", out.stdout).group(1))
    assert loss == pytest.approx(snap["loss"]["train"], rel=1e-4, abs=1e-6)
    driver.execute_script("document.getElementById('export-dialog').close()")

    # reload: the URL holds the whole state; the new session starts the same run
    url = driver.current_url
    assert "activation=relu" in url and "init=he_normal" in url and "seed=0" in url
    driver.refresh()
    _wait(driver, "return document.documentElement.dataset.ready === '1' && window.playground.panes[0].snap",
          what="the reloaded page")
    state = _run_state(driver)
    assert (state["activation"], state["init"], state["dataset"], state["depth"], state["width"]) == \
        ("relu", "he_normal", "xor", 4, 24)
    assert driver.find_element("id", "activation").get_attribute("value") == "relu"
    assert driver.find_element("id", "init").get_attribute("value") == "he_normal"
    assert driver.execute_script("return window.playground.panes[0].snap.loss.train") == pytest.approx(first, rel=1e-6)

    # compare: pin this configuration, change the live one; two sessions, two panes
    driver.find_element("id", "compare").click()
    _select(driver, "activation", "tanh")
    _wait(driver, "const ps = window.playground.panes; return ps.length === 2 && ps.every(p => p.snap) && "
                  "ps.some(p => p.runInfo.state.activation === 'tanh') && "
                  "ps.some(p => p.runInfo.state.activation === 'relu')",
          what="two panes")
    assert "cmp=" in driver.current_url
    assert _errors(driver) == []


def test_at_init_mode_and_a_bad_url(driver, server):
    driver.get(server + "?mode=init&depth=10&width=64&activation=tanh&init=xavier_normal&sw2=1.0")
    _wait(driver, "return document.documentElement.dataset.ready === '1'", what="the first snapshot")
    before = _wait(driver, "return window.playground.panes[0].snap?.layers.map(l => l.act.std)", what="layers")
    driver.execute_script("const s = document.getElementById('sw2'); s.value = '0.3'; "
                          "s.dispatchEvent(new Event('input'))")
    after = _wait(driver, "const p = window.playground.panes[0]; return p.runInfo?.state.sw2 === 0.3 && "
                          "p.snap?.run === p.run && p.snap.layers.map(l => l.act.std)", what="the redraw at sw2 = 0.3")
    assert after[-1] < 0.5 * before[-1]  # ordered phase: the signal shrinks with depth
    assert driver.find_element("id", "play").get_attribute("disabled")

    driver.get(server + "?depth=500")
    msg = _wait(driver, "const e = document.getElementById('error'); return !e.hidden && e.textContent", what="error")
    assert "depth must be an integer in [1, 50]" in msg
    _wait(driver, "return document.documentElement.dataset.ready === '1'", what="the defaults")
    assert _run_state(driver)["depth"] == 6
