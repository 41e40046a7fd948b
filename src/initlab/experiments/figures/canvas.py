"""Drawing helpers the experiments' figures share (matplotlib's object API, no pyplot state)."""
from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["new_figure", "decision_boundary", "hide_unused", "nan_if_none"]


def new_figure(ncols: int = 1, nrows: int = 1, *, size: tuple[float, float] = (5.0, 3.8), **kw: Any):
    """A matplotlib Figure (Agg, no pyplot state) and its axes array ``(nrows, ncols)``."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(size[0] * ncols, size[1] * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, **kw)
    return fig, axes


def decision_boundary(ax: Any, grid: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray, title: str) -> None:
    """Shade where a model predicts class 1 (``grid["class1"]`` on the ``x0 × x1`` grid) and scatter
    the points ``x`` (N, 2) coloured by their labels ``y``."""
    g0, g1 = np.meshgrid(grid["x0"], grid["x1"])
    ax.contourf(g0, g1, grid["class1"].astype(float), levels=[-0.5, 0.5, 1.5], colors=["#f4cccc", "#cfe2f3"])
    ax.scatter(x[:, 0], x[:, 1], c=np.where(y == 1, "#1f4e99", "#a61c00"), s=8)
    ax.set_xlabel("x₁ (input feature)")
    ax.set_ylabel("x₂ (input feature)")
    ax.set_title(title, fontsize=10)


def hide_unused(axes: np.ndarray, used: int) -> None:
    """Hide the panels of a grid of axes after the first ``used`` (row-major)."""
    for j, ax in enumerate(axes.flat):
        if j >= used:
            ax.set_visible(False)


def nan_if_none(values: Any) -> np.ndarray:
    """Values as float64 with None → NaN (a gap in a plotted line)."""
    return np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)
