"""initlab: see, predict and fix how signals flow through deep neural networks.

>>> import initlab as il
>>> model = il.models.mlp([784, 256, 256, 10], "relu", init="he_normal")
>>> report = il.initialize(model, "auto")
"""
from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# Submodules and names resolved lazily, so `import initlab` stays cheap and layers
# that depend on optional pieces load only when used.
# ``initialize`` is a callable module: ``il.initialize(model, "auto")`` and ``il.initialize.schemes()``.
_SUBMODULES = ("formats", "activations", "gaussian", "init", "structure", "initialize", "models", "probes", "theory",
               "diagnosis", "data", "train", "experiments", "sweep", "report")
_NAMES = {
    "InitReport": "initlab.initialize",
    "inspect": "initlab.probes",
    "watch": "initlab.probes",
    "Inspection": "initlab.probes",
    "LayerStats": "initlab.probes",
    "Watcher": "initlab.probes",
    "compare": "initlab.diagnosis",
    "fix": "initlab.diagnosis",
    "FixReport": "initlab.diagnosis",
}

__all__ = ["__version__", *_SUBMODULES, *_NAMES]


def _to_html(obj: Any, path: Any = None, **options: Any) -> Any:
    from initlab.report import to_html

    return to_html(obj, path, **options)


def _repr_html(obj: Any) -> str:
    from initlab.report import repr_html

    return repr_html(obj)


# The facade sits above every layer: it registers the report's renderer with `formats`, so objects
# below the report (Inspection, Watcher, Result) get `to_html`/`_repr_html_` without importing it.
from initlab import formats as _formats  # noqa: E402

_formats.register_html(_to_html, _repr_html)
# experiments that live above the experiments floor (they run sweeps): the registry imports them on discovery
_formats.register_extension("experiments", "initlab.sweep.edge_of_chaos")


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"initlab.{name}")
    if name in _NAMES:
        return getattr(importlib.import_module(_NAMES[name]), name)
    raise AttributeError(f"module 'initlab' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
