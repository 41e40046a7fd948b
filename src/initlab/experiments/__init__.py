"""Experiments that reproduce published figures and numbers, one module each.

>>> import initlab as il
>>> "zero-init" in il.experiments.names()
True

``il.experiments.run(name, quick=False, seed=0, out=None, overwrite=False, quiet=False, **overrides)``
writes ``runs/NAME`` (see docs/CONTRACTS.md) and returns a :class:`Result`; ``run_all`` runs them
all and writes ``index.md``. ``initlab list`` / ``initlab run NAME`` are the command line.
"""
from __future__ import annotations

from .registry import Experiment, coerce_overrides, experiments, get, names, register, settings
from .runner import Result, RunContext, run, run_all, write_index_md

__all__ = ["run", "run_all", "names", "get", "experiments", "register", "settings", "Experiment",
           "Result", "RunContext", "coerce_overrides", "write_index_md"]
