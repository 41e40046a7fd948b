"""Headless Chromium for the browser tests (Debian's chromium + chromium-driver, driven by Selenium).

A missing browser part skips a test, except under ``CI=true`` (as ``.ci/run`` sets), where it fails.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("INITLAB_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("INITLAB_CHROMEDRIVER", "/usr/bin/chromedriver")


def missing(why: str) -> None:
    """Skip for want of ``why`` — or fail under ``CI=true``."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"browser test needs {why} (CI=true: not skipping)")
    pytest.skip(f"needs {why}")


def chromium(profile: Path, *, window: str, extra_args: tuple[str, ...] = (),
             logging: tuple[str, ...] = ("browser",), offline: bool = False) -> Any:
    """A headless Chromium WebDriver with a fresh profile in ``profile``, the browser's background
    network features off; ``offline=True`` also cuts its network (pages may load only file: URLs)."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        missing("selenium (pip install selenium)")
    for exe in (CHROMIUM, CHROMEDRIVER):
        if not (Path(exe).is_file() and os.access(exe, os.X_OK)) and not shutil.which(exe):
            missing(f"{exe} (apt-get install chromium chromium-driver)")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
              "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
              f"--window-size={window}", f"--user-data-dir={profile}", *extra_args):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {kind: "ALL" for kind in logging})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=opts)
    if offline:
        driver.execute_cdp_cmd("Network.enable", {})
        driver.execute_cdp_cmd("Network.emulateNetworkConditions", {
            "offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})
    return driver
