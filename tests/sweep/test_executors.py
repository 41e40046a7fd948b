"""The same trial gives byte-identical results on every executor: in-process, the process pool, Ray."""
from pathlib import Path

import pytest

import initlab.sweep as sw

SPEC = {"trial": "trainability", "seeds": [0, 1], "grid": {"depth": [1, 3]},
        "fixed": {"dataset": "circles", "width": 16, "steps": 20, "batch_size": 50, "sigma_w2": 1.8}}


def _results(d: Path) -> dict[str, bytes]:
    return {p.parent.name: p.read_bytes() for p in sorted(d.glob("trials/*/result.json"))}


def _trial_files(d: Path) -> dict[str, bytes]:
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.glob("trials/*/*"))
            if p.name not in ("timing.json",)}


@pytest.fixture(scope="module")
def local(tmp_path_factory):
    d = tmp_path_factory.mktemp("local")
    sw.run(SPEC, d, workers=2, quiet=True)
    return d


def test_pool_equals_in_process(local, tmp_path):
    sw.run(SPEC, tmp_path, workers=0, quiet=True)
    assert len(_results(local)) == 4
    assert _trial_files(local) == _trial_files(tmp_path)  # result.json, probes.npz, curve.csv: same bytes


def test_ray_equals_the_process_pool(local, tmp_path):
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        s = sw.run(SPEC, tmp_path, ray=True, quiet=True)
    finally:
        ray.shutdown()
    assert s.status()["ok"] == 4
    assert _trial_files(local) == _trial_files(tmp_path)
    timing = (next(tmp_path.glob("trials/*/timing.json"))).read_text()
    assert '"executor": "ray"' in timing


def test_workers_are_validated(tmp_path):
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="workers must be"):
            sw.run(SPEC, tmp_path / "x", workers=bad, quiet=True)


def test_a_diverging_trainability_trial_is_a_result_with_its_first_bad_layer(tmp_path):
    s = sw.run({"trial": "trainability", "grid": {"lr": [1e-3, 1e3]},
                "fixed": {"dataset": "circles", "depth": 6, "width": 16, "steps": 50, "batch_size": 50,
                          "activation": "relu", "sigma_w2": 50.0}}, tmp_path, workers=0, quiet=True)
    ok, bad = s.results()
    assert ok["status"] == "ok" and ok["metrics"]["diverged_layer"] is None
    assert bad["status"] == "diverged" and bad["metrics"]["test_accuracy"] is None
    assert bad["metrics"]["diverged_step"] == 1 and bad["metrics"]["diverged_layer"] == "fc_out"
    assert bad["metrics"]["phase"] == "chaotic" and bad["metrics"]["chi1"] == pytest.approx(25.0)  # σ_w²/2 for ReLU
    assert s.table().column("diverged_layer").to_pylist() == [None, "fc_out"]
