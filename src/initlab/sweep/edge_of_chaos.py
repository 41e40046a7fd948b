r"""``edge-of-chaos``: a deep tanh net trains iff depth ≲ 6 ξ_c (Schoenholz et al., ICLR 2017, Fig. 5), as a sweep.

The trial ``trainability`` over σ_w² × depth (tanh, σ_b² = 0.05, width 128, MNIST's 5,000 images, SGD with
momentum 0.9, lr 1e-3, batch 128, 300 steps), run through :func:`initlab.sweep.run` into ``RUN/sweep/``.
A cell (σ_w², depth) is **trained** when its test accuracy (mean over seeds; a diverged run counts as
untrained) exceeds ``threshold`` (0.5; chance is 0.1), and **predicted trainable** when depth < 6 ξ_c, with
ξ_c = −1/ln χ_c* from :func:`initlab.theory.mean_field`. Summary:

* ``trainable_agreement``: the fraction of cells where trained = predicted (published: the trainable
  region is bounded by ≈ 6 ξ_c, i.e. 1.0; goal ≥ 0.90 at default size);
* what the theory adds over "deep nets are hard": ``agreement_depth_only`` (the best theory-free rule
  "trained iff depth < D" over every cutoff D), ``agreement_4xi``/``agreement_8xi`` (other multiples of ξ_c),
  ``agreement_near_boundary`` over the ``cells_near_boundary`` cells with 3 ξ_c ≤ depth ≤ 12 ξ_c (within a
  factor 2 of 6 ξ_c: the hard ones, not the easy cells far from the line).

The experiment lives on the sweep's floor (it runs a sweep, and ``experiments`` sits below ``sweep``): it
registers with :func:`initlab.experiments.register`, and the package facade names this module to the
registry (:func:`initlab.formats.register_extension`), so ``initlab run edge-of-chaos`` finds it.

``metrics.csv`` holds one row per cell: step = depth, variant = ``sigma_w2=…``, test accuracy; ``arrays.npz``
the heatmap (``phase/…``) and the theory lines (``theory/…``) that ``experiments/figures/edge_of_chaos.py``
draws (``initlab report RUN --redraw`` redraws it without rerunning the sweep).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..experiments import RunContext, register
from ..experiments.figures.phase import overlay_arrays
from . import engine, plot

SOURCE = "Schoenholz et al. 2017, Deep Information Propagation, Fig. 5: trainable iff depth < ~6 xi_c"
CHECK = "issue 11's raw-PyTorch check (63 cells, 300 SGD steps)"


@dataclass
class Config:
    activation: str = "tanh"
    sigma_b2: float = 0.05
    sigma_w2: tuple[float, ...] = tuple(round(1.0 + 0.3 * i, 1) for i in range(11))  # 1.0, 1.3, …, 4.0
    depths: tuple[int, ...] = (5, 10, 15, 20, 30, 45, 60, 75, 90)
    width: int = 128
    dataset: str = "mnist"
    steps: int = 300
    lr: float = 1e-3
    momentum: float = 0.9
    batch_size: int = 128
    seeds: int = 1
    threshold: float = 0.5  # "trained": mean test accuracy above this after `steps` steps
    workers: int | None = None  # local processes (None: one per core)
    ray: str = ""  # "" local pool; "local" start/join a local Ray; "HOST:PORT" join a cluster


QUICK = {"sigma_w2": (1.0, 1.5, 2.0, 2.5, 3.0, 4.0), "depths": (5, 15, 30, 60), "steps": 200}


def _cells(rows: list[dict[str, Any]], threshold: float) -> list[dict[str, Any]]:
    """Per (σ_w², depth): trained (mean test accuracy over seeds > threshold, diverged = 0) and 6 ξ_c."""
    by: dict[tuple[float, int], list[dict[str, Any]]] = {}
    for r in rows:
        by.setdefault((r["config"]["sigma_w2"], r["config"]["depth"]), []).append(r)
    cells = []
    for (w, d), rs in sorted(by.items()):
        accs = [r["metrics"].get("test_accuracy") if r["status"] == "ok" else 0.0 for r in rs]
        accs = [0.0 if a is None else float(a) for a in accs]
        xi = next((r["metrics"].get("xi_c") for r in rs if r["metrics"].get("xi_c") is not None), math.nan)
        cells.append({"sigma_w2": w, "depth": d, "accuracy": float(np.mean(accs)),
                      "trained": bool(np.mean(accs) > threshold), "xi_c": float(xi)})
    return cells


def agreement(cells: list[dict[str, Any]]) -> dict[str, Any]:
    """The summary numbers of the module docstring from :func:`_cells`' output.

    >>> cells = [{"depth": d, "xi_c": 5.0, "trained": d < 30} for d in (10, 20, 40, 80)]
    >>> a = agreement(cells)
    >>> a["trainable_agreement"], a["agreement_depth_only"], a["cells_near_boundary"]
    (1.0, 1.0, 2)
    """
    if not cells:
        raise ValueError("no finished cells to score")
    depth = np.array([c["depth"] for c in cells], dtype=float)
    xi = np.array([c["xi_c"] for c in cells], dtype=float)  # inf on the critical line
    trained = np.array([c["trained"] for c in cells])

    def score(pred: np.ndarray, mask: np.ndarray | None = None) -> float | None:
        m = np.ones(len(pred), bool) if mask is None else mask
        return float(np.mean(pred[m] == trained[m])) if m.any() else None

    cutoffs = np.unique(np.concatenate([depth, depth + 1, [np.inf]]))
    depth_only = max(score(depth < c) for c in cutoffs)
    near = (depth >= 3.0 * xi) & (depth <= 12.0 * xi)
    return {"trainable_agreement": score(depth < 6.0 * xi), "agreement_depth_only": depth_only,
            "agreement_4xi": score(depth < 4.0 * xi), "agreement_8xi": score(depth < 8.0 * xi),
            "agreement_near_boundary": score(depth < 6.0 * xi, near), "cells_near_boundary": int(near.sum()),
            "cells": len(cells), "trained_fraction": float(trained.mean())}


@register("edge-of-chaos",
          description="A sweep of deep tanh nets over σ_w² × depth: they train where depth < 6 ξ_c, the "
                      "mean-field correlation depth scale, which diverges at the edge of chaos χ₁ = 1",
          reference="Schoenholz et al. 2017 (ICLR), Deep Information Propagation, Fig. 5",
          config=Config, quick=QUICK,
          summary_keys={
              "trainable_agreement": "fraction of (σ_w², depth) cells where 'trained' (test accuracy > threshold) "
                                     "equals 'depth < 6 ξ_c'",
              "agreement_depth_only": "the same for the best theory-free rule 'trained iff depth < D' (best D)",
              "agreement_4xi": "agreement of 'depth < 4 ξ_c' with trained",
              "agreement_8xi": "agreement of 'depth < 8 ξ_c' with trained",
              "agreement_near_boundary": "agreement of 'depth < 6 ξ_c' on the cells with 3 ξ_c ≤ depth ≤ 12 ξ_c",
              "cells_near_boundary": "number of cells with 3 ξ_c ≤ depth ≤ 12 ξ_c",
              "cells": "number of (σ_w², depth) cells",
              "trained_fraction": "fraction of cells that trained",
              "critical_sigma_w2": "σ_w² on the critical line χ₁ = 1 at this σ_b² (mean-field theory)",
              "failed_trials": "trials that raised (recorded in the sweep folder, not counted as cells)",
          })
def measure(cfg: Config, ctx: RunContext) -> None:
    from .. import theory

    spec = {"trial": "trainability", "seeds": [ctx.seed + i for i in range(cfg.seeds)], "name": "edge-of-chaos",
            "grid": {"sigma_w2": [float(w) for w in cfg.sigma_w2], "depth": [int(d) for d in cfg.depths]},
            "fixed": {"activation": cfg.activation, "sigma_b2": float(cfg.sigma_b2), "width": cfg.width,
                      "dataset": cfg.dataset, "steps": cfg.steps, "lr": float(cfg.lr), "momentum": float(cfg.momentum),
                      "batch_size": cfg.batch_size}}
    ray: bool | str | None = None if not cfg.ray else (True if cfg.ray == "local" else cfg.ray)
    sweep = engine.run(spec, ctx.dir / "sweep", workers=cfg.workers, ray=ray, quiet=ctx.quiet)
    rows = sweep.results()
    ok_rows = [r for r in rows if r["status"] != "failed"]
    cells = _cells(ok_rows, cfg.threshold)
    scores = agreement(cells)
    refs = {"trainable_agreement": (1.0, 0.1, SOURCE), "agreement_depth_only": (0.83, 0.1, CHECK),
            "agreement_4xi": (0.87, 0.1, CHECK), "agreement_8xi": (0.94, 0.1, CHECK),
            "agreement_near_boundary": (0.91, 0.1, CHECK)}
    for key, value in scores.items():
        ref = refs.get(key)
        if ref:
            ctx.summary(key, value, reference=ref[0], tolerance=ref[1], source=ref[2])
        else:
            ctx.summary(key, value)
    ctx.summary("critical_sigma_w2", theory.critical_sigma_w2(cfg.activation, cfg.sigma_b2))
    ctx.summary("failed_trials", len(rows) - len(ok_rows))
    for c in cells:
        ctx.metric(c["depth"], f"sigma_w2={c['sigma_w2']:g}", "test", "accuracy", c["accuracy"])
    g = sweep.grid("sigma_w2", "depth", "test_accuracy")  # the figure's data (figures/edge_of_chaos.py)
    ctx.arrays("phase", {"sigma_w2": np.asarray(g.xs, float), "depth": np.asarray(g.ys, float),
                         "test_accuracy": g.mean, "test_accuracy_std": g.std})
    ctx.arrays("theory", overlay_arrays(plot.theory_overlay(g)))
    ctx.log(f"agreement with 6 xi_c: {scores['trainable_agreement']:.3f} over {scores['cells']} cells "
            f"(depth-only rule: {scores['agreement_depth_only']:.3f})")
