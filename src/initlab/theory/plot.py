r"""The (σ_w², σ_b²) phase diagram: the critical line χ₁ = 1 and the trainable depth 6ξ_c (Schoenholz et al. 2017).

Cells where 6ξ_c does not bound the depth (q* = 0, or a positively homogeneous φ such as ReLU at σ_b² = 0, see
:class:`~initlab.theory.maps.MeanField`) are hatched grey and labelled: there the gradient depth scale
ξ_∇ = −1/ln χ₁ limits training, not ξ_c.

matplotlib is imported only when a figure is drawn (Agg backend when no backend is set); the numbers come
from :func:`initlab.theory.maps.phase_grid` and :func:`~initlab.theory.maps.critical_line`.

>>> fig = phase_diagram("tanh", resolution=(3, 2))
>>> fig.axes[0].get_xlabel()
'weight variance $\\sigma_w^2$'
>>> import matplotlib.pyplot as plt; plt.close(fig)
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .maps import ActivationLike, as_activation, critical_line, phase_grid

__all__ = ["phase_diagram"]


def _edges(centers: np.ndarray) -> np.ndarray:
    """Cell edges around evenly spaced centers (for pcolor)."""
    h = (centers[1] - centers[0]) / 2
    return np.concatenate([centers - h, [centers[-1] + h]])


def phase_diagram(activation: ActivationLike, *, sigma_w2: tuple[float, float] = (0.5, 4.0),
                  sigma_b2: tuple[float, float] = (0.0, 0.5), resolution: tuple[int, int] = (28, 16),
                  point: tuple[float, float] | None = None, depth: int | None = None, q0: float = 1.0,
                  path: str | Path | None = None, ax: Any = None) -> Any:
    r"""Draw 6ξ_c over the (σ_w², σ_b²) plane (hatched where it does not apply), the χ₁ = 1 line, and optionally a
    point and the depth contour.

    Args:
        activation: a name, Activation or callable.
        sigma_w2, sigma_b2: ranges of the axes.
        resolution: grid points along (σ_w², σ_b²) (each chaotic point costs ~50 ms: the c* root).
        point: (σ_w², σ_b²) to mark.
        depth: also draw the contour 6ξ_c = depth (the region inside trains at that depth).
        path: save the figure there (PNG by extension).
        ax: draw into this Axes instead of a new figure.

    Returns the matplotlib Figure.
    """
    import matplotlib

    if matplotlib.get_backend().lower() not in ("agg", "pdf", "svg", "ps", "cairo") and ax is None:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    act = as_activation(activation)
    nw, nb = (int(r) for r in resolution)
    if nw < 2 or nb < 2:
        raise ValueError(f"resolution must be at least (2, 2), got {resolution!r}")
    sw = np.linspace(*sigma_w2, nw)
    sb = np.linspace(*sigma_b2, nb)
    if sw[0] <= 0 or sb[0] < 0:
        raise ValueError(f"sigma_w2 range must be > 0 and sigma_b2 range >= 0, got {sigma_w2!r}, {sigma_b2!r}")
    grid = phase_grid(act, sw, sb, q0)
    # 6ξ_c only where it bounds the depth (not at q* = 0, nor for the ReLU family at σ_b² = 0: MeanField.note)
    trainable = np.where(grid["bounds_depth"], np.clip(6.0 * grid["xi_c"], 1.0, 1e4), np.nan)  # (nb, nw)

    fig = ax.figure if ax is not None else plt.figure(figsize=(6.4, 4.8))
    ax = ax if ax is not None else fig.add_subplot(1, 1, 1)
    mesh = ax.pcolormesh(sw, sb, np.ma.masked_invalid(trainable), shading="nearest", cmap="viridis",
                         norm=LogNorm(vmin=1.0, vmax=1e4))
    fig.colorbar(mesh, ax=ax, label=r"trainable depth $6\xi_c$")
    off = ~grid["bounds_depth"] & np.isfinite(grid["q_star"])  # finite q*, but 6ξ_c does not apply
    if off.any():
        ax.pcolor(_edges(sw), _edges(sb), np.ma.masked_where(~off, np.ones_like(trainable)), cmap="Greys",
                  vmin=0, vmax=4, hatch="//", edgecolor="grey", linewidth=0)
        ax.fill([], [], facecolor="lightgrey", edgecolor="grey", hatch="//",
                label=r"$6\xi_c$ does not apply: depth scale $\xi_\nabla=-1/\ln\chi_1$")
    sb_fine = np.linspace(*sigma_b2, 4 * nb)
    try:
        crit = critical_line(act, sb_fine)
        ax.plot(crit, sb_fine, color="white", lw=2, label=r"critical line $\chi_1 = 1$")
    except ValueError:  # no critical point in range: draw nothing
        pass
    if depth is not None and np.isfinite(trainable).any() and np.nanmax(trainable) > depth:
        ax.contour(sw, sb, trainable, levels=[float(depth)], colors="red", linestyles="--")
        ax.plot([], [], color="red", ls="--", label=f"$6\\xi_c$ = depth {depth}")
    if point is not None:
        ax.plot([point[0]], [point[1]], marker="*", color="orange", ms=12, ls="none",
                label=rf"$\sigma_w^2$={point[0]:g}, $\sigma_b^2$={point[1]:g}")
    ax.set_xlim(*sigma_w2)
    ax.set_ylim(*sigma_b2)
    ax.set_xlabel(r"weight variance $\sigma_w^2$")
    ax.set_ylabel(r"bias variance $\sigma_b^2$")
    ax.set_title(f"{act.name}: ordered (left) / chaotic (right) phases")
    ax.legend(loc="upper left", fontsize="small")
    if path is not None:
        fig.savefig(path, dpi=100, bbox_inches="tight")
    return fig
