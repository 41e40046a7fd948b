"""Trials for the sweep tests, importable by spawned workers (the tests put this folder on sys.path)."""
from __future__ import annotations

import time


def slow(config: dict, seed: int) -> dict:
    """value = x² + seed after sleeping ``sleep`` seconds; a file with the value."""
    time.sleep(float(config.get("sleep", 0.0)))
    value = config["x"] ** 2 + seed
    return {"status": "ok", "metrics": {"value": value, "half": value / 2}, "info": {},
            "files": {"value.txt": f"{value}\n".encode()}}


def flaky(config: dict, seed: int) -> dict:
    """Raises for x == 2, diverges for x == 3, else ok."""
    if config["x"] == 2:
        raise ArithmeticError(f"trial x={config['x']} fails on purpose")
    return {"status": "diverged" if config["x"] == 3 else "ok", "metrics": {"value": float(config["x"])}}


def escapes(config: dict, seed: int) -> dict:
    """Returns a file outside its folder: a failed trial, not a broken sweep."""
    return {"status": "ok", "metrics": {}, "files": {"../../outside.txt": b"no"}}
