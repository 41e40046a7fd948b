"""The playground: ``initlab playground`` serves a local, offline web page where one drags σ_w² and
watches every layer's histogram change, trains small nets as in TensorFlow Playground, and exports
the run as Python.

* :mod:`~initlab.playground.state`: the page's state, validated (the only door for page values);
* :mod:`~initlab.playground.datasets`: TensorFlow Playground's data sets (+ the bundled MNIST);
* :mod:`~initlab.playground.training`: state → data, model, ``fit`` arguments (shared with the export);
* :mod:`~initlab.playground.measure`: histograms, mean-field lines and spread, boundary, findings;
* :mod:`~initlab.playground.session`: one session per browser tab, one worker thread;
* :mod:`~initlab.playground.export`: the Python code that reproduces a run;
* :mod:`~initlab.playground.server`: the Starlette app (needs the ``playground`` extra).

Only the server needs Starlette/uvicorn; the rest imports with initlab's own dependencies, so exported
scripts run without the extra.
"""
from __future__ import annotations

from typing import Any

__all__ = ["make_app", "serve"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import server

        return getattr(server, name)
    raise AttributeError(f"module 'initlab.playground' has no attribute {name!r}")
