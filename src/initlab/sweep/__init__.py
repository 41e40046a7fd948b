"""Sweeps: grids of trials on a laptop or a Ray cluster, a resumable store, phase diagrams.

``il.sweep.run(spec, out=DIR, workers=None, ray=None) -> Sweep`` runs a TOML spec (:mod:`.spec`) of a trial
(:mod:`.trials`: the built-in ``trainability``, any registered experiment, or ``module:function``) on an
executor (:mod:`.executors`: a local process pool by default, or Ray), into a folder (:mod:`.store`:
``sweep.json``, one folder per trial, ``results.parquet``); rerunning it resumes. ``Sweep.plot`` draws a
phase diagram (:mod:`.plot`) with the mean-field theory over it. The command line: ``initlab sweep
run|status|plot``. The experiment ``edge-of-chaos`` (:mod:`.edge_of_chaos`) is such a sweep.
"""
from __future__ import annotations

from .engine import Sweep, open_sweep, run, tasks_of
from .spec import Point, Spec, expand, load, parse
from .store import RESULTS, SWEEP_JSON, SpecChanged, trial_id

__all__ = ["run", "Sweep", "open_sweep", "Spec", "Point", "load", "parse", "expand", "tasks_of", "trial_id",
           "SpecChanged", "RESULTS", "SWEEP_JSON"]
