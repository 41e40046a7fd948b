"""``edge-of-chaos``'s figure: test accuracy over σ_w² × depth with the critical line and 6 ξ_c, from the run's
files (``arrays.npz``: ``phase/…`` the heatmap, ``theory/…`` the lines; the experiment itself lives in
``initlab.sweep.edge_of_chaos``)."""
from __future__ import annotations

from ..rundir import RunFiles
from .phase import heatmap, overlay_from_arrays


def draw(run: RunFiles) -> dict:
    a = run.arrays("phase")
    cfg = run.config
    context = {k: cfg[k] for k in ("activation", "sigma_b2", "width", "dataset", "steps", "lr", "momentum",
                                   "batch_size") if k in cfg}
    fig = heatmap(a["sigma_w2"].tolist(), [int(d) for d in a["depth"]], a["test_accuracy"], x="sigma_w2",
                  y="depth", metric="test_accuracy", context=context, overlay=overlay_from_arrays(run.arrays("theory")),
                  threshold=cfg.get("threshold"))
    return {"phase-diagram": fig}
