"""The three scripts in examples/ run at --tiny size and write histories that Watcher.load reads."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import initlab as il

ROOT = Path(__file__).resolve().parents[2]
SRC = Path(il.__file__).resolve().parents[1]


def _run(script: str, out: Path) -> str:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
    r = subprocess.run([sys.executable, str(ROOT / "examples" / script), "--tiny", "--out", str(out)], env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-4000:]
    return r.stdout


@pytest.mark.parametrize("script, frameworks, history, steps", [
    ("plain_loop.py", ("tensorboard",), "history.npz", 6),
    ("lightning_trainer.py", ("lightning", "tensorboard"), "lightning/version_0/initlab_watch.npz", 6),
    ("hf_trainer.py", ("transformers", "accelerate"), "initlab_watch.npz", 4),
])
def test_example_runs_tiny(tmp_path, script, frameworks, history, steps):
    for f in frameworks:
        pytest.importorskip(f)
    stdout = _run(script, tmp_path)
    path = tmp_path / history
    assert str(path) in stdout
    a = il.Watcher.load(path).arrays()
    assert list(a["steps"]) == list(range(steps))
    assert np.isfinite(a["std"]).all() and len(a["layers"]) >= 3
