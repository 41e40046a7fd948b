r"""A sweep's spec: which trial, over which grid, random samples, seeds and fixed settings (TOML).

A spec is a TOML file (read with :mod:`tomllib`) or the same thing as a dict::

    trial = "trainability"          # or a registered experiment, e.g. "zero-init"
    seeds = [0, 1]                  # or a count: seeds = 3 → [0, 1, 2]
    threads = 1                     # torch threads per trial (default 1; fixes the bits of GEMMs)
    [grid]                          # the cartesian product of these axes
    sigma_w2 = { linspace = [1.0, 4.0, 7] }    # 7 evenly spaced values, ends included
    lr = { logspace = [1e-3, 1e-1, 3] }         # 3 geometrically spaced values, ends included
    depth = [5, 10, 20, 40]
    [random]                        # optional: n points drawn once (seeded), crossed with the grid
    n = 4
    seed = 0
    sigma_b2 = { uniform = [0.0, 0.3] }        # also loguniform = [a, b], randint = [a, b], choice = [...]
    [fixed]                         # the same for every trial
    activation = "tanh"

Expansion: grid axes in file order, the last varying fastest, then random samples, then seeds. A point is
``(config, seed)``; the grid, random and fixed keys must not overlap. The trial validates every resolved
config up front (:func:`initlab.sweep.trials.validate`), so a typo fails before anything runs.

>>> s = parse({"trial": "trainability", "seeds": 2, "grid": {"depth": [5, 10]},
...            "fixed": {"activation": "tanh"}})
>>> [(p.config["depth"], p.seed) for p in expand(s)]
[(5, 0), (5, 1), (10, 0), (10, 1)]
>>> axis_values("sigma_w2", {"linspace": [1.0, 2.0, 3]})
[1.0, 1.5, 2.0]
"""
from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..validate import is_int, is_number

__all__ = ["Spec", "Point", "load", "parse", "expand", "axis_values", "canonical_json", "SPEC_KEYS"]

SPEC_KEYS = ("trial", "seeds", "threads", "grid", "random", "fixed", "quick", "name")
RANGES = ("linspace", "logspace", "range")
SAMPLERS = ("uniform", "loguniform", "randint", "choice")
Scalar = (str, int, float, bool)


@dataclass(frozen=True)
class Spec:
    """A validated spec (axes resolved to value lists)."""

    trial: str
    seeds: tuple[int, ...]
    grid: dict[str, list[Any]]
    fixed: dict[str, Any]
    random: dict[str, Any] = field(default_factory=dict)  # {"n", "seed", key: sampler}
    threads: int = 1
    quick: bool = False  # for experiment trials: run them at --quick sizes
    name: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The resolved spec (lists instead of ranges): what sweep.json records and hashes."""
        return {"trial": self.trial, "seeds": list(self.seeds), "grid": {k: list(v) for k, v in self.grid.items()},
                "random": dict(self.random), "fixed": dict(self.fixed), "threads": self.threads,
                "quick": self.quick, "name": self.name,
                # JSON files sort keys: the order of the grid axes (expansion) and of the columns, kept here
                "axes": list(self.grid), "columns": self.keys()}

    def keys(self) -> list[str]:
        """Config keys, in column order: grid axes, random keys, fixed keys."""
        rand = [k for k in self.random if k not in ("n", "seed")]
        return [*self.grid, *rand, *self.fixed]


@dataclass(frozen=True)
class Point:
    """One trial to run: its resolved config and seed."""

    config: dict[str, Any]
    seed: int


def canonical_json(obj: Any) -> str:
    """Sorted keys, no whitespace: the text that is hashed (stable across runs and machines)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=True)


def spec_hash(spec: Spec) -> str:
    return hashlib.sha256(canonical_json(spec.to_dict()).encode()).hexdigest()[:16]


def _scalar(where: str, v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        raise ValueError(f"{where} must be finite, got {v!r}")
    if isinstance(v, Scalar):
        return v
    if isinstance(v, list) and all(isinstance(x, Scalar) for x in v):
        return list(v)  # a list-valued setting (e.g. an experiment's tuple field)
    raise ValueError(f"{where} must be a string, number, boolean or a list of them, got {v!r}")


def _range_args(key: str, kind: str, args: Any) -> tuple[float, float, int]:
    ok = (isinstance(args, list) and len(args) == 3 and is_number(args[0]) and is_number(args[1])
          and is_int(args[2]) and args[2] >= 1)
    if not ok:
        raise ValueError(f"grid.{key}.{kind} must be [start, stop, count] (count an integer >= 1), got {args!r}")
    return float(args[0]), float(args[1]), int(args[2])


def axis_values(key: str, axis: Any) -> list[Any]:
    """A grid axis as a list: a list as is; ``{linspace|logspace = [a, b, n]}`` (ends included;
    logspace is geometric from a to b, both > 0); ``{range = [a, b, step]}`` integers a, a+step, … < b."""
    if isinstance(axis, list):
        if not axis:
            raise ValueError(f"grid.{key} must not be empty")
        vals = [_scalar(f"grid.{key}[{i}]", v) for i, v in enumerate(axis)]
        if len({canonical_json(v) for v in vals}) != len(vals):
            raise ValueError(f"grid.{key} repeats a value: {axis!r}")
        return vals
    if isinstance(axis, dict) and len(axis) == 1 and next(iter(axis)) in RANGES:
        kind, args = next(iter(axis.items()))
        if kind == "range":
            if not (isinstance(args, list) and len(args) == 3 and all(is_int(a) for a in args) and args[2] > 0
                    and args[1] > args[0]):
                raise ValueError(f"grid.{key}.range must be [start, stop, step] integers with stop > start "
                                 f"and step > 0, got {args!r}")
            return list(range(*args))
        a, b, n = _range_args(key, kind, args)
        if kind == "logspace":
            if a <= 0 or b <= 0:
                raise ValueError(f"grid.{key}.logspace needs start and stop > 0, got {args!r}")
            vals = np.geomspace(a, b, n)
        else:
            vals = np.linspace(a, b, n)
        return [float(f"{v:.12g}") for v in vals]  # 1.3 rather than 1.2999999999999998
    raise ValueError(f"grid.{key} must be a list of values or one of {{{' | '.join(f'{r} = [...]' for r in RANGES)}}}, "
                     f"got {axis!r}")


def _check_sampler(key: str, s: Any) -> None:
    if not (isinstance(s, dict) and len(s) == 1 and next(iter(s)) in SAMPLERS):
        raise ValueError(f"random.{key} must be one of {{{' | '.join(f'{k} = [...]' for k in SAMPLERS)}}}, got {s!r}")
    kind, args = next(iter(s.items()))
    if kind == "choice":
        if not (isinstance(args, list) and args):
            raise ValueError(f"random.{key}.choice must be a non-empty list, got {args!r}")
        return
    pair = isinstance(args, list) and len(args) == 2 and all(is_number(a) for a in args) and args[0] < args[1]
    if not pair or (kind == "loguniform" and args[0] <= 0) or (kind == "randint" and not all(is_int(a) for a in args)):
        need = {"uniform": "numbers", "loguniform": "numbers > 0", "randint": "integers"}[kind]
        raise ValueError(f"random.{key}.{kind} must be [low, high] {need} with low < high, got {args!r}")


def _sample(key: str, s: dict, rs: np.random.RandomState) -> Any:
    kind, args = next(iter(s.items()))
    if kind == "choice":
        return args[int(rs.randint(len(args)))]
    if kind == "randint":
        return int(rs.randint(args[0], args[1] + 1))  # both ends included
    if kind == "loguniform":
        return float(np.exp(rs.uniform(np.log(args[0]), np.log(args[1]))))
    return float(rs.uniform(args[0], args[1]))


def _seeds(v: Any) -> tuple[int, ...]:
    if is_int(v) and v >= 1:
        return tuple(range(int(v)))
    if isinstance(v, list) and v and all(is_int(s) and s >= 0 for s in v) and len(set(v)) == len(v):
        return tuple(int(s) for s in v)
    raise ValueError(f"seeds must be a count >= 1 or a list of distinct non-negative integers, got {v!r}")


def parse(data: Mapping[str, Any]) -> Spec:
    """Validate a spec dict (the TOML's tables) and resolve its ranges; ``ValueError`` naming the bad key."""
    if not isinstance(data, Mapping):
        raise ValueError(f"a sweep spec must be a table (dict), got {type(data).__name__}")
    bad = sorted(set(data) - set(SPEC_KEYS))
    if bad:
        raise ValueError(f"unknown spec key(s) {bad}; valid keys: {list(SPEC_KEYS)}")
    trial = data.get("trial")
    if not isinstance(trial, str) or not trial:
        raise ValueError(f"trial must be a trial name ('trainability' or an experiment name), got {trial!r}")
    seeds = _seeds(data.get("seeds", [0]))
    threads = data.get("threads", 1)
    if not (is_int(threads) and threads >= 1):
        raise ValueError(f"threads must be an integer >= 1, got {threads!r}")
    tables = {}
    for t in ("grid", "random", "fixed"):
        v = data.get(t, {})
        if not isinstance(v, Mapping):
            raise ValueError(f"{t} must be a table of settings, got {v!r}")
        tables[t] = dict(v)
    grid = {k: axis_values(k, v) for k, v in tables["grid"].items()}
    fixed = {k: _scalar(f"fixed.{k}", v) for k, v in tables["fixed"].items()}
    rand = tables["random"]
    if rand:
        n, rseed = rand.get("n"), rand.get("seed", 0)
        if not (is_int(n) and n >= 1):
            raise ValueError(f"random.n (the number of random samples) must be an integer >= 1, got {n!r}")
        if not (is_int(rseed) and rseed >= 0):
            raise ValueError(f"random.seed must be a non-negative integer, got {rseed!r}")
        keys = [k for k in rand if k not in ("n", "seed")]
        if not keys:
            raise ValueError("random needs at least one key to sample (e.g. sigma_b2 = { uniform = [0.0, 0.3] })")
        for k in keys:
            _check_sampler(k, rand[k])
    rkeys = [k for k in rand if k not in ("n", "seed")]
    for a, b in (("grid", "fixed"), ("grid", "random"), ("random", "fixed")):
        ka = set(grid if a == "grid" else rkeys if a == "random" else fixed)
        kb = set(fixed if b == "fixed" else rkeys)
        if ka & kb:
            raise ValueError(f"setting(s) {sorted(ka & kb)} appear in both [{a}] and [{b}]; give each key once")
    quick = data.get("quick", False)
    if not isinstance(quick, bool):
        raise ValueError(f"quick must be true or false, got {quick!r}")
    name = data.get("name", "")
    if not isinstance(name, str):
        raise ValueError(f"name must be a string, got {name!r}")
    return Spec(trial, seeds, grid, fixed, rand, int(threads), quick, name)


def load(spec: "str | os.PathLike | Mapping[str, Any] | Spec") -> Spec:
    """A :class:`Spec` from a TOML file path, a dict, or a Spec (returned as is)."""
    if isinstance(spec, Spec):
        return spec
    if isinstance(spec, Mapping):
        if "axes" in spec:  # a resolved spec read back from sweep.json (Spec.to_dict): grid axes in their order
            axes = list(spec["axes"])
            spec = {k: v for k, v in spec.items() if k not in ("axes", "columns")}
            spec["grid"] = {k: spec["grid"][k] for k in axes}
        return parse(spec)
    path = Path(spec)
    if not path.is_file():
        raise ValueError(f"spec file {str(path)!r} does not exist")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"spec file {str(path)!r} is not valid TOML: {exc}") from None
    return parse(data)


def expand(spec: Spec) -> list[Point]:
    """Every (config, seed) of the spec, in a stable order (see the module docstring)."""
    axes = list(spec.grid.items())
    combos = itertools.product(*[v for _, v in axes]) if axes else [()]
    samples: list[dict[str, Any]] = [{}]
    if spec.random:
        rs = np.random.RandomState(int(spec.random.get("seed", 0)))
        keys = [k for k in spec.random if k not in ("n", "seed")]
        samples = [{k: _sample(k, spec.random[k], rs) for k in keys} for _ in range(int(spec.random["n"]))]
    points = []
    for combo in combos:
        for sample in samples:
            config = {**dict(zip([k for k, _ in axes], combo)), **sample, **spec.fixed}
            points.extend(Point(config, s) for s in spec.seeds)
    return points
