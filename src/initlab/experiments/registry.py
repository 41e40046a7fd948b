"""The experiment registry: each experiment is a function ``measure(cfg, ctx)`` with a typed config.

An experiment module registers its measurement with :func:`register`; its figures are drawn from the
run directory by ``initlab.experiments.figures.<module name>``. Every module of ``initlab.experiments``
that is not one of the shared helpers (:data:`HELPERS`) nor a package is discovered and imported the
first time a name is looked up, so a new experiment is a new file (and its figures module).

>>> from dataclasses import dataclass
>>> @dataclass
... class Cfg:
...     steps: int = 100
...     lr: float = 0.1
>>> coerce_overrides(Cfg, {"steps": "20", "lr": "1e-3"}, "demo")
{'steps': 20, 'lr': 0.001}
"""
from __future__ import annotations

import dataclasses
import importlib
import json
import pkgutil
import typing
from dataclasses import dataclass, field
from typing import Any, Callable

from .. import formats

__all__ = ["Experiment", "register", "get", "names", "experiments", "coerce_overrides", "settings", "HELPERS"]

# the modules of initlab.experiments that are not experiments (discovery skips them)
HELPERS = frozenset({"registry", "runner", "context", "rundir", "series", "callbacks", "datasets", "circles",
                     "history"})
_REGISTRY: dict[str, "Experiment"] = {}
_discovered = False


@dataclass(frozen=True)
class Experiment:
    """A registered experiment.

    ``config``: a dataclass whose defaults are the reference's setup; ``quick``: overrides that
    make it small (the ``--quick`` tour); ``measure(cfg, ctx)`` records the numbers into a
    :class:`~initlab.experiments.RunContext`; ``summary_keys``: the keys of ``summary.json`` it
    writes, each with its meaning (documentation; the runner checks them).
    """

    name: str
    description: str
    reference: str
    config: type
    quick: dict[str, Any]
    measure: Callable[[Any, Any], None]
    summary_keys: dict[str, str] = field(default_factory=dict)

    def make_config(self, quick: bool = False, overrides: dict[str, Any] | None = None) -> Any:
        """The resolved config: defaults, then quick overrides, then ``overrides`` (validated)."""
        values = dict(self.quick) if quick else {}
        values.update(coerce_overrides(self.config, overrides or {}, self.name))
        return self.config(**values)


def register(name: str, *, description: str, reference: str, config: type,
             quick: dict[str, Any] | None = None, summary_keys: dict[str, str] | None = None
             ) -> Callable[[Callable[[Any, Any], None]], Callable[[Any, Any], None]]:
    """Decorator registering ``measure(cfg, ctx)`` as experiment ``name``."""
    if not dataclasses.is_dataclass(config):
        raise TypeError(f"config of experiment {name!r} must be a dataclass, got {config!r}")
    quick = dict(quick or {})
    coerce_overrides(config, quick, name)  # fail at import time on a bad quick override

    def deco(fn: Callable[[Any, Any], None]) -> Callable[[Any, Any], None]:
        if name in _REGISTRY and _REGISTRY[name].measure is not fn:
            raise ValueError(f"experiment {name!r} is registered twice")
        _REGISTRY[name] = Experiment(name, description, reference, config, quick, fn, dict(summary_keys or {}))
        return fn

    return deco


def _discover() -> None:
    global _discovered
    if _discovered:
        return
    import initlab.experiments as pkg

    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
        if not info.ispkg and not info.name.startswith("_") and info.name not in HELPERS:
            importlib.import_module(f"{pkg.__name__}.{info.name}")
    # experiments that live on higher floors (the sweep's edge-of-chaos), named by the facade
    for module in formats.extensions("experiments"):
        importlib.import_module(module)
    _discovered = True


def names() -> list[str]:
    """Registered experiment names, sorted."""
    _discover()
    return sorted(_REGISTRY)


def experiments() -> list[Experiment]:
    """Every registered :class:`Experiment`, sorted by name."""
    return [_REGISTRY[n] for n in names()]


def get(name: str) -> Experiment:
    """The experiment ``name``; ``ValueError`` listing the valid names otherwise."""
    _discover()
    if name not in _REGISTRY:
        raise ValueError(f"unknown experiment {name!r}; valid experiments: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]


# --- typed settings -------------------------------------------------------------------------------------
def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is None:
        return getattr(tp, "__name__", str(tp))
    args = ", ".join(_type_name(a) for a in typing.get_args(tp) if a is not Ellipsis)
    return f"{getattr(origin, '__name__', str(origin))}[{args}]"


def settings(config: type) -> dict[str, tuple[str, Any]]:
    """``{name: (type name, default)}`` of a config dataclass."""
    hints = typing.get_type_hints(config)
    out = {}
    for f in dataclasses.fields(config):
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        out[f.name] = (_type_name(hints[f.name]), default)
    return out


def _scalar(value: Any, tp: Any) -> Any:
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "1", "yes", "on", "false", "0", "no", "off"):
            return value.lower() in ("true", "1", "yes", "on")
        raise TypeError
    if tp in (int, float) and not isinstance(value, bool):
        if isinstance(value, str):
            return tp(value.strip())
        if isinstance(value, int) or (tp is float and isinstance(value, float)):
            return tp(value)
        raise TypeError
    if tp is str and isinstance(value, str):
        return value
    raise TypeError


def _coerce(value: Any, tp: Any) -> Any:
    origin = typing.get_origin(tp)
    if origin is typing.Union or str(origin) == "<class 'types.UnionType'>":
        args = typing.get_args(tp)
        if type(None) in args and (value is None or (isinstance(value, str) and value.lower() in ("none", "null"))):
            return None
        for a in args:
            if a is type(None):
                continue
            try:
                return _coerce(value, a)
            except (TypeError, ValueError):
                continue
        raise TypeError
    if origin in (tuple, list):
        (item,) = {a for a in typing.get_args(tp) if a is not Ellipsis} or {str}
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                value = json.loads(text)
            else:
                value = [v for v in text.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise TypeError
        return origin(_coerce(v, item) for v in value)
    return _scalar(value, tp)


def coerce_overrides(config: type, overrides: dict[str, Any], experiment: str) -> dict[str, Any]:
    """Check ``overrides`` against the config's typed fields; strings (``--set``) are parsed.

    Raises ``ValueError`` naming the bad key/value and listing every valid ``key (type)``.
    """
    spec = settings(config)
    hints = typing.get_type_hints(config)
    listing = ", ".join(f"{k} ({t}, default {d!r})" for k, (t, d) in spec.items())
    out: dict[str, Any] = {}
    for key, value in overrides.items():
        if key not in spec:
            raise ValueError(f"experiment {experiment!r} has no setting {key!r}; valid settings: {listing}")
        try:
            out[key] = _coerce(value, hints[key])
        except (TypeError, ValueError, json.JSONDecodeError):
            raise ValueError(f"setting {key!r} of experiment {experiment!r} must be {spec[key][0]}, "
                             f"got {value!r}; valid settings: {listing}") from None
    return out
