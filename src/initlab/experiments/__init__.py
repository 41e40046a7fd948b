"""Experiments that reproduce published figures and numbers, one module each.

>>> import initlab as il
>>> "zero-init" in il.experiments.names()
True

``il.experiments.run(name, quick=False, seed=0, out=None, overwrite=False, quiet=False, report=True,
**overrides)`` measures into ``runs/NAME`` (see docs/CONTRACTS.md), draws its figures from the written
files and writes its ``report.html``, and returns a :class:`Result`; ``run_all`` runs them all and
writes ``index.md``; ``figures.redraw(run_dir)`` re-draws a run's figures from its files without
re-running (torch is not imported). ``initlab list`` / ``initlab run NAME`` are the command line.

Names resolve lazily, so ``initlab.experiments.figures`` loads without torch.
"""
from __future__ import annotations

import importlib
from typing import Any

__all__ = ["run", "run_all", "names", "get", "experiments", "register", "settings", "Experiment",
           "Result", "RunContext", "RunFiles", "coerce_overrides", "write_index_md", "figures"]

_NAMES = {
    "run": "runner", "run_all": "runner", "Result": "runner", "write_index_md": "runner",
    "RunContext": "context", "RunFiles": "rundir",
    "names": "registry", "get": "registry", "experiments": "registry", "register": "registry",
    "settings": "registry", "Experiment": "registry", "coerce_overrides": "registry",
}


def __getattr__(name: str) -> Any:
    if name in _NAMES:
        return getattr(importlib.import_module(f"{__name__}.{_NAMES[name]}"), name)
    if name == "figures":
        return importlib.import_module(f"{__name__}.figures")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
