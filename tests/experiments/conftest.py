"""One quick tour (`initlab run all --quick`) shared by every experiment test."""
from __future__ import annotations

import json

import pytest


@pytest.fixture(scope="session")
def tour(tmp_path_factory):
    """The out dir of `initlab run all --quick --quiet` (run once per session)."""
    from initlab.cli import main

    out = tmp_path_factory.mktemp("tour") / "runs"
    assert main(["run", "all", "--quick", "--quiet", "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="session")
def summary(tour):
    def get(name: str) -> dict:
        return json.loads((tour / name / "summary.json").read_text())
    return get

