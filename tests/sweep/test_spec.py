"""Spec parsing, grid expansion and validation (initlab.sweep.spec, trials.validate)."""
import itertools
import math
import sys
from pathlib import Path

import numpy as np
import pytest

import initlab.sweep as sw

if str(Path(__file__).resolve().parent) not in sys.path:  # sweep_test_trials; spawned workers inherit sys.path
    sys.path.insert(0, str(Path(__file__).resolve().parent))
from initlab.sweep import spec as specmod
from initlab.sweep.engine import tasks_of


def test_grid_is_the_cartesian_product_in_file_order_with_seeds_innermost():
    s = sw.parse({"trial": "trainability", "seeds": [3, 7],
                  "grid": {"sigma_w2": {"linspace": [1.0, 4.0, 7]}, "depth": [5, 10, 20, 40]},
                  "fixed": {"activation": "tanh", "sigma_b2": 0.05, "width": 128}})
    pts = sw.expand(s)
    assert len(pts) == 7 * 4 * 2
    want = [(w, d, seed) for w, d in itertools.product(np.linspace(1.0, 4.0, 7), [5, 10, 20, 40]) for seed in (3, 7)]
    got = [(p.config["sigma_w2"], p.config["depth"], p.seed) for p in pts]
    assert [(round(a, 12), b, c) for a, b, c in got] == [(round(a, 12), b, c) for a, b, c in want]
    assert all(p.config["activation"] == "tanh" and p.config["width"] == 128 for p in pts)
    assert s.keys() == ["sigma_w2", "depth", "activation", "sigma_b2", "width"]


def test_ranges():
    assert specmod.axis_values("w", {"linspace": [1.0, 4.0, 11]}) == pytest.approx(np.linspace(1, 4, 11).tolist())
    assert specmod.axis_values("w", {"linspace": [1.0, 4.0, 11]})[1] == 1.3  # no 1.2999999999999998
    lg = specmod.axis_values("lr", {"logspace": [1e-3, 1e-1, 5]})
    assert lg == pytest.approx([1e-3, 10 ** -2.5, 1e-2, 10 ** -1.5, 1e-1])
    assert specmod.axis_values("depth", {"range": [5, 30, 10]}) == [5, 15, 25]
    assert sw.parse({"trial": "trainability", "seeds": 3}).seeds == (0, 1, 2)


def test_random_samples_are_seeded_crossed_with_the_grid_and_in_bounds():
    d = {"trial": "trainability", "grid": {"depth": [2, 3]},
         "random": {"n": 5, "seed": 1, "sigma_b2": {"uniform": [0.0, 0.3]}, "lr": {"loguniform": [1e-4, 1e-1]},
                    "width": {"randint": [4, 8]}, "activation": {"choice": ["tanh", "relu"]}}}
    a, b = sw.expand(sw.parse(d)), sw.expand(sw.parse(d))
    assert [p.config for p in a] == [p.config for p in b] and len(a) == 10
    assert [p.config["sigma_b2"] for p in a[:5]] == [p.config["sigma_b2"] for p in a[5:]]  # same samples per cell
    for p in a:
        assert 0.0 <= p.config["sigma_b2"] <= 0.3 and 1e-4 <= p.config["lr"] <= 1e-1
        assert p.config["width"] in range(4, 9) and p.config["activation"] in ("tanh", "relu")
    other = sw.expand(sw.parse({**d, "random": {**d["random"], "seed": 2}}))
    assert [p.config for p in other] != [p.config for p in a]


@pytest.mark.parametrize("bad, words", [
    ({"trial": "trainability", "grids": {}}, ["unknown spec key", "grids", "valid keys"]),
    ({"trial": 3}, ["trial must be"]),
    ({"trial": "trainability", "seeds": [1, 1]}, ["seeds must be", "[1, 1]"]),
    ({"trial": "trainability", "grid": {"w": {"linspace": [1, 2]}}}, ["grid.w.linspace", "[start, stop, count]"]),
    ({"trial": "trainability", "grid": {"w": {"logspace": [0, 2, 3]}}}, ["grid.w.logspace", "> 0"]),
    ({"trial": "trainability", "grid": {"w": {"arange": [0, 2, 3]}}}, ["grid.w must be", "linspace"]),
    ({"trial": "trainability", "grid": {"w": []}}, ["grid.w must not be empty"]),
    ({"trial": "trainability", "grid": {"depth": [1]}, "fixed": {"depth": 2}}, ["depth", "[grid] and [fixed]"]),
    ({"trial": "trainability", "random": {"n": 0, "x": {"uniform": [0, 1]}}}, ["random.n"]),
    ({"trial": "trainability", "random": {"n": 2, "x": {"uniform": [1, 0]}}}, ["random.x.uniform", "low < high"]),
    ({"trial": "trainability", "threads": 0}, ["threads must be"]),
    ({"trial": "trainability", "fixed": {"x": {"a": 1}}}, ["fixed.x must be"]),
])
def test_spec_errors_name_the_key_and_value(bad, words):
    with pytest.raises(ValueError) as e:
        sw.parse(bad)
    for w in words:
        assert w in str(e.value)


@pytest.mark.parametrize("spec, words", [
    ({"trial": "no-such-trial"}, ["unknown trial 'no-such-trial'", "trainability", "zero-init"]),
    ({"trial": "trainability", "grid": {"depht": [1]}}, ["no setting(s) ['depht']", "depth"]),
    ({"trial": "trainability", "grid": {"depth": [2, 0]}}, ["depth must be an integer >= 1", "got 0"]),
    ({"trial": "trainability", "fixed": {"activation": "tahn"}}, ["activation must be", "'tahn'"]),
    ({"trial": "zero-init", "fixed": {"no_such": 1}}, ["has no setting 'no_such'"]),
    ({"trial": "nosuchmodule_xyz:fn"}, ["cannot import", "nosuchmodule_xyz"]),
])
def test_trials_are_validated_before_anything_runs(tmp_path, spec, words):
    with pytest.raises(ValueError) as e:
        sw.run(spec, tmp_path / "s", workers=0, quiet=True)
    for w in words:
        assert w in str(e.value)
    assert not (tmp_path / "s").exists()  # nothing written


def test_trial_ids_are_stable_and_depend_on_what_changes_the_result():
    s = sw.parse({"trial": "trainability", "seeds": 2, "grid": {"depth": [1, 2]}})
    ids = [t["id"] for t in tasks_of(s)]
    assert ids == [t["id"] for t in tasks_of(sw.load(s.to_dict()))] and len(set(ids)) == 4
    assert all(len(i) == 16 and int(i, 16) >= 0 for i in ids)
    p = sw.expand(s)[0]
    v = {"initlab": "1", "torch": "2"}
    base = sw.trial_id("trainability", p, 1, False, v)
    assert sw.trial_id("trainability", p, 2, False, v) != base  # thread count
    assert sw.trial_id("trainability", p, 1, False, {**v, "torch": "3"}) != base  # upgrade
    assert sw.trial_id("trainability", sw.Point(dict(reversed(p.config.items())), p.seed), 1, False, v) == base
    assert not math.isnan(float(int(base, 16)))


def test_sweep_json_keeps_the_axis_order(tmp_path):
    d = {"trial": "sweep_test_trials:slow", "grid": {"zeta": [1, 2], "alpha": [3]}, "fixed": {"sleep": 0.0, "b": 1}}
    s = sw.run(d, tmp_path, workers=0, quiet=True)
    assert list(s.spec.grid) == ["zeta", "alpha"] and s.spec == sw.parse(d)
    assert s.table().schema.names[:6] == ["trial_id", "seed", "zeta", "alpha", "sleep", "b"]
    assert [p.config for p in sw.expand(s.spec)] == [p.config for p in sw.expand(sw.parse(d))]
