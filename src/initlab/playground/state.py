r"""The playground's state: every field, its type, range and default, and the one validator.

The page sends the whole state (``{"type": "config", "state": {...}}``); values may be JSON numbers or
the strings of a URL query (``?depth=6&width=32``). :func:`validate` returns a normalized
:class:`State` or raises :class:`StateError` naming the field, the value and the valid choices. Nothing
else reads a page value: the session builds its model, data and exported code from a ``State`` only.

σ_w² means ``fan_in · E[w²]`` of the hidden (width × width) layers, so one slider reads the same for
every scheme: for a scheme with a gain (xavier, he, lecun, orthogonal, delta-orthogonal) σ_w² = gain²
(exact for square layers); for ``normal`` and ``constant`` it sets ``std = value = √(σ_w²/width)``;
``sw2`` absent (``None``) keeps the scheme's own scale. σ_b² sets biases ~ N(0, σ_b²).

>>> s = validate({"depth": "6", "width": 32, "activation": "relu", "init": "he_normal"})
>>> s.depth, s.width, s.activation, s.sw2
(6, 32, 'relu', None)
>>> validate({"depth": 51})
Traceback (most recent call last):
...
initlab.playground.state.StateError: depth must be an integer in [1, 50], got 51
>>> to_query(validate({"noise": 10}))["noise"]
'10'
"""
from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Mapping

from .. import activations, initialize

__all__ = ["State", "StateError", "validate", "to_query", "schema", "FEATURES", "DATASETS",
           "GAIN_SCHEMES", "SCALE_SCHEMES", "MAX_DEPTH", "MAX_WIDTH"]

MAX_DEPTH, MAX_WIDTH = 50, 512
FEATURES = ("x1", "x2", "x1sq", "x2sq", "x1x2", "sinx1", "sinx2")
CLASSIFICATION = ("circle", "xor", "gauss", "spiral", "mnist")
REGRESSION = ("plane", "multigauss")
DATASETS = CLASSIFICATION + REGRESSION
GAIN_SCHEMES = ("xavier_uniform", "xavier_normal", "he_uniform", "he_normal", "lecun_normal", "orthogonal",
                "delta_orthogonal")
SCALE_SCHEMES = ("normal", "constant")  # sw2 sets std / value = √(σ_w²/width)
UNOFFERED = {"pretrained": "it loads weights from a checkpoint file, which the playground does not take"}
OPTIMIZERS = ("sgd", "adam")
REGULARIZATION = ("none", "l1", "l2")
MODES = ("train", "init")
AXES = ("shared", "layer")
MAX_SEED = 2 ** 31 - 1


class StateError(ValueError):
    """A page value outside its range; ``field`` names it."""

    def __init__(self, name: str, message: str):
        super().__init__(message)
        self.field = name


@dataclass(frozen=True)
class State:
    """One playground configuration (see the module docstring for σ_w², σ_b²)."""

    problem: str = "classification"
    dataset: str = "circle"
    noise: int = 0                    # percent, 0–50 (TensorFlow Playground's slider)
    train_pct: int = 50               # percent of the points used for training, 10–90
    batch: int = 10
    features: tuple[str, ...] = ("x1", "x2")
    depth: int = 6                    # hidden layers
    width: int = 32                   # neurons per hidden layer
    activation: str = "tanh"
    init: str = "xavier_normal"
    sw2: float | None = None
    sb2: float = 0.0
    lr: float = 0.03
    optimizer: str = "sgd"
    reg: str = "none"
    reg_rate: float = 0.0
    seed: int = 0                     # weights and training order
    data_seed: int = 0                # the data points and their split
    mode: str = "train"               # "init": no training, redraw at once
    axes: str = "shared"              # histogram x axes (the page's view)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["features"] = list(self.features)
        return d

    @property
    def loss(self) -> str:
        """The :func:`initlab.train.fit` loss: ``bce`` (2 classes), ``ce`` (MNIST), ``mse`` (regression)."""
        if self.problem == "regression":
            return "mse"
        return "ce" if self.dataset == "mnist" else "bce"

    @property
    def two_d(self) -> bool:
        return self.dataset != "mnist"


_DEFAULT = State()
_NUM = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


def _number(name: str, v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float, str)):
        raise StateError(name, f"{name} must be a number, got {v!r}")
    if isinstance(v, str):
        if len(v) > 32 or not _NUM.match(v.strip()):
            raise StateError(name, f"{name} must be a number, got {v!r}")
        v = float(v)
    if not math.isfinite(v):
        raise StateError(name, f"{name} must be a finite number, got {v!r}")
    return float(v)


def _int(name: str, v: Any, lo: int, hi: int) -> int:
    x = _number(name, v)
    if x != int(x) or not lo <= x <= hi:
        raise StateError(name, f"{name} must be an integer in [{lo}, {hi}], got {v!r}")
    return int(x)


def _float(name: str, v: Any, lo: float, hi: float, open_lo: bool = False) -> float:
    x = _number(name, v)
    if not (lo < x if open_lo else lo <= x) or x > hi:
        raise StateError(name, f"{name} must be a number in {'(' if open_lo else '['}{lo}, {hi}], got {v!r}")
    return x


def _choice(name: str, v: Any, valid: tuple | list) -> str:
    if not isinstance(v, str) or v not in valid:
        raise StateError(name, f"{name} must be one of {list(valid)}, got {v!r}")
    return v


def _features(v: Any) -> tuple[str, ...]:
    items = v.split(",") if isinstance(v, str) else v
    if not isinstance(items, (list, tuple)) or not items or len(items) > len(FEATURES):
        raise StateError("features", f"features must be a non-empty list of {list(FEATURES)}, got {v!r}")
    for f in items:
        _choice("features", f, FEATURES)
    return tuple(f for f in FEATURES if f in items)  # canonical order, no repeats


def schemes() -> list[str]:
    """The init schemes the page offers: every :func:`initlab.initialize.schemes` but those in ``UNOFFERED``."""
    return [s for s in initialize.schemes() if s not in UNOFFERED]


def _check(name: str, v: Any) -> Any:
    if name in ("noise",):
        return _int(name, v, 0, 50)
    if name == "train_pct":
        return _int(name, v, 10, 90)
    if name == "batch":
        return _int(name, v, 1, 1000)
    if name == "depth":
        return _int(name, v, 1, MAX_DEPTH)
    if name == "width":
        return _int(name, v, 1, MAX_WIDTH)
    if name in ("seed", "data_seed"):
        return _int(name, v, 0, MAX_SEED)
    if name == "sw2":
        return None if v is None or v == "" else _float(name, v, 0.0, 16.0)
    if name == "sb2":
        return _float(name, v, 0.0, 4.0)
    if name == "lr":
        return _float(name, v, 0.0, 10.0, open_lo=True)
    if name == "reg_rate":
        return _float(name, v, 0.0, 10.0)
    if name == "features":
        return _features(v)
    if name == "init":
        if v in UNOFFERED:
            raise StateError(name, f"init {v!r} is not offered: {UNOFFERED[v]}; choose one of {schemes()}")
        return _choice(name, v, schemes())
    valid = {"problem": ("classification", "regression"), "dataset": DATASETS, "activation": activations.names(),
             "optimizer": OPTIMIZERS, "reg": REGULARIZATION, "mode": MODES, "axes": AXES}
    return _choice(name, v, valid[name])


_FIELDS = tuple(f.name for f in fields(State))


def validate(raw: Mapping[str, Any], base: State | None = None) -> State:
    """A :class:`State` from ``raw`` (missing fields from ``base``, default: the defaults).

    Raises:
        StateError: an unknown field, a value of the wrong type or outside its range, or a data set
            that does not fit the problem (classification: circle, xor, gauss, spiral, mnist;
            regression: plane, multigauss).
    """
    if not isinstance(raw, Mapping):
        raise StateError("state", f"state must be an object of fields {list(_FIELDS)}, got {type(raw).__name__}")
    unknown = sorted(str(k) for k in raw if k not in _FIELDS)
    if unknown:
        raise StateError(unknown[0], f"unknown field(s) {unknown[:5]}; valid fields: {list(_FIELDS)}")
    values = {k: _check(k, v) for k, v in raw.items()}
    state = replace(base or _DEFAULT, **values)
    valid = CLASSIFICATION if state.problem == "classification" else REGRESSION
    if state.dataset not in valid:
        if "dataset" in raw:
            raise StateError("dataset", f"dataset must be one of {list(valid)} for {state.problem}, "
                                        f"got {state.dataset!r}")
        state = replace(state, dataset=valid[0])
    if state.init not in GAIN_SCHEMES + SCALE_SCHEMES and state.sw2 is not None:
        state = replace(state, sw2=None)  # the scheme sets its own scale (zeros, uniform_fan_in, auto, lsuv)
    return state


def to_query(state: State) -> dict[str, str]:
    """The state as URL query parameters (every field, so a shared link pins everything)."""
    out = {}
    for k, v in state.to_dict().items():
        if k == "features":
            out[k] = ",".join(v)
        elif v is None:
            out[k] = ""
        elif isinstance(v, float):
            out[k] = repr(v)
        else:
            out[k] = str(v)
    return out


def schema() -> dict[str, Any]:
    """What the page needs to build its controls: choices, ranges and defaults."""
    return {"defaults": _DEFAULT.to_dict(), "activations": activations.names(), "schemes": schemes(),
            "unoffered": dict(UNOFFERED), "gain_schemes": list(GAIN_SCHEMES), "scale_schemes": list(SCALE_SCHEMES),
            "features": list(FEATURES), "classification": list(CLASSIFICATION), "regression": list(REGRESSION),
            "optimizers": list(OPTIMIZERS), "reg": list(REGULARIZATION), "max_depth": MAX_DEPTH,
            "max_width": MAX_WIDTH}
