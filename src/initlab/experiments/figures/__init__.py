"""The experiments' figures, drawn from a run directory's files alone.

Experiment ``NAME`` has the module ``initlab.experiments.figures.<NAME with - as _>`` with
``draw(run: RunFiles) -> dict[str, Figure]``; it reads the run's files (:class:`RunFiles`: config,
summary, metrics, history, arrays) and imports numpy and matplotlib, never torch or the code that
measured — so ``redraw(run_dir)`` (``initlab report RUN --redraw``) re-renders a run's figures
without re-running it. The runner draws every run this same way, right after writing its files.

Display text (variant labels, titles) lives here too; the measuring modules import what they share.
"""
from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from ... import formats
from ..rundir import RunFiles

__all__ = ["draw", "save", "redraw", "module_for"]


def module_for(experiment: str) -> Any:
    """The figures module of ``experiment``; ``ValueError`` when it has none."""
    name = experiment.replace("-", "_")
    try:
        return importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"{__name__}.{name}":
            raise
        raise ValueError(f"experiment {experiment!r} has no figures module ({__name__}.{name})") from None


def draw(run_dir: str | Path) -> dict[str, Any]:
    """``{name: matplotlib Figure}`` of the run in ``run_dir``, drawn from its files."""
    run = RunFiles(run_dir)
    return module_for(run.experiment).draw(run)


def save(figures: dict[str, Any], run_dir: str | Path) -> list[Path]:
    """Write each figure as ``RUN_DIR/figures/NAME.png`` atomically; remove PNGs no figure wrote.

    The PNGs carry no software/date metadata, so the same figure gives the same bytes.
    """
    folder = Path(run_dir) / formats.FIGURES
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, fig in figures.items():
        path = folder / f"{name}.png"
        with formats.atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=100, metadata={"Software": None})
        paths.append(path)
    for stale in set(folder.glob("*.png")) - set(paths):
        stale.unlink()
    return paths


def redraw(run_dir: str | Path) -> list[Path]:
    """Draw the run in ``run_dir`` from its files and write its figures (replacing the old ones)."""
    return save(draw(run_dir), run_dir)
