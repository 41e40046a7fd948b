"""Default sizes against the published numbers (slow: INITLAB_SLOW=1)."""
from __future__ import annotations

import os

import pytest

import initlab as il

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(os.environ.get("INITLAB_SLOW") != "1", reason="slow: set INITLAB_SLOW=1")]


def test_init_comparison_default_he_reaches_97_percent(tmp_path):
    r = il.experiments.run("init-comparison", out=tmp_path / "ic", quiet=True)
    print({k: v["ours"] for k, v in r.summary.items()})
    assert r.summary["train_accuracy_he"]["ours"] >= 0.97
    assert r.summary["train_accuracy_zeros"]["ours"] == 0.5


def test_vanishing_gradient_default_medians_within_175(tmp_path):
    r = il.experiments.run("vanishing-gradient", out=tmp_path / "vg", quiet=True)
    published = {2: (0.07, 0.31), 3: (0.012, 0.060, 0.283), 4: (0.003, 0.017, 0.070, 0.285)}
    for k, pub in published.items():
        for l, p in enumerate(pub, 1):
            ours = r.summary[f"speed_k{k}_layer{l}"]["ours"]
            print(k, l, ours, p)
            assert p / 1.75 <= ours <= p * 1.75, (k, l, ours, p)
