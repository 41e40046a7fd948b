"""Helpers shared by the experiment tests."""
from __future__ import annotations

import json


def ours(run_dir) -> dict:
    """``{key: ours}`` of a trained experiment's run directory, after checking it wrote its probe files."""
    summary = json.loads((run_dir / "summary.json").read_text())
    assert (run_dir / "history.npz").is_file() and (run_dir / "findings.json").is_file()
    assert list((run_dir / "figures").glob("*.png"))
    return {k: v["ours"] for k, v in summary.items()}
