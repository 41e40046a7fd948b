"""Fixtures for the report tests (helpers in report_testlib.py)."""
from __future__ import annotations

from pathlib import Path

import pytest
from report_testlib import write_run_dir


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    return write_run_dir(tmp_path / "tour" / "activation-histograms")
