"""``import initlab.integrations.*`` imports none of the frameworks (they are optional extras)."""
from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path

import pytest

import initlab as il

SRC = Path(il.__file__).resolve().parents[1]


def test_modules_import_without_their_frameworks():
    code = ("import sys; sys.path.insert(0, %r)\n"
            "import initlab.integrations, initlab.integrations.tensorboard, initlab.integrations.lightning, "
            "initlab.integrations.huggingface\n"
            "bad = [m for m in ('lightning', 'pytorch_lightning', 'transformers', 'tensorboard', "
            "'torch.utils.tensorboard', 'accelerate') if m in sys.modules]\n"
            "print(bad)" % str(SRC))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


@pytest.mark.parametrize("module", ["lightning", "huggingface"])
def test_callback_defaults_are_watchs(module):
    """The callbacks' shared arguments default to ``il.watch``'s (their mixins import without the frameworks)."""
    import importlib

    mixin = importlib.import_module(f"initlab.integrations.{module}")._Mixin
    want = inspect.signature(il.watch).parameters
    got = inspect.signature(mixin.__init__).parameters
    for k in ("every", "hist_every", "flush_every", "bins", "update_ratio"):
        assert got[k].default == want[k].default, k
