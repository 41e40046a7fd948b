"""Registry, runner and CLI: typed settings, atomic run dirs, determinism, bad input."""
from __future__ import annotations

import json
import os
import stat
import threading

import pytest

import initlab as il
from initlab.cli import main


def test_same_seed_same_summary_bytes(tmp_path):
    a = il.experiments.run("zigzag", quick=True, seed=3, out=tmp_path / "a", quiet=True, steps=300)
    b = il.experiments.run("zigzag", quick=True, seed=3, out=tmp_path / "b", quiet=True, steps=300)
    assert (a.out / "summary.json").read_bytes() == (b.out / "summary.json").read_bytes()
    c = il.experiments.run("zigzag", quick=True, seed=4, out=tmp_path / "c", quiet=True, steps=300)
    assert (c.out / "summary.json").read_bytes() != (a.out / "summary.json").read_bytes()
    cfg = json.loads((a.out / "config.json").read_text())
    assert cfg["seed"] == 3 and cfg["config"]["steps"] == 300 and cfg["quick"] is True


def test_existing_dir_refused_then_overwritten(tmp_path, capsys):
    out = tmp_path / "zz"
    assert main(["run", "zigzag", "--quick", "--quiet", "--set", "steps=200", "--out", str(out)]) == 0
    first = (out / "summary.json").read_bytes()
    assert main(["run", "zigzag", "--quick", "--quiet", "--out", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main(["run", "zigzag", "--quick", "--quiet", "--seed", "1", "--set", "steps=200", "--out", str(out),
                 "--overwrite"]) == 0
    assert (out / "summary.json").read_bytes() != first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["zz"]


@pytest.mark.parametrize("argv, words", [
    (["run", "zigzag", "--set", "nope=1"], ["nope", "lr (float", "steps (int"]),
    (["run", "zigzag", "--set", "steps=many"], ["steps", "int", "'many'"]),
    (["run", "zigzag", "--set", "teacher=1,x"], ["teacher", "tuple[float]"]),
    (["run", "zigzag", "--set", "steps"], ["KEY=VALUE"]),
    (["run", "no-such-thing"], ["no-such-thing", "zero-init", "zigzag"]),
])
def test_bad_input_lists_valid_choices_and_leaves_nothing(tmp_path, capsys, argv, words):
    out = tmp_path / "run"
    assert main(argv + ["--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("initlab: error:")
    for w in words:
        assert w in err, (w, err)
    assert list(tmp_path.iterdir()) == []


def test_failing_experiment_leaves_no_directory(tmp_path):
    with pytest.raises(ValueError, match="teacher must have two weights"):
        il.experiments.run("zigzag", out=tmp_path / "z", quiet=True, teacher=(1.0, 2.0, 3.0))
    assert list(tmp_path.iterdir()) == []


def test_unknown_dataset_error_lists_names():
    with pytest.raises(ValueError, match="circles.*mnist1d"):
        il.data.load("imagenet")


def test_list_shows_names_descriptions_references(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for e in il.experiments.experiments():
        assert e.name in out and e.reference in out
    assert main(["list", "--settings"]) == 0
    assert "--set steps=" in capsys.readouterr().out


def test_python_overrides_are_typed(tmp_path):
    with pytest.raises(ValueError, match="must be int"):
        il.experiments.run("zigzag", out=tmp_path / "z", steps=1.5)
    r = il.experiments.run("zigzag", out=tmp_path / "z", quiet=True, steps="100", lr=1)
    assert r.config["steps"] == 100 and r.config["lr"] == 1.0


def test_python_api_writes_report_html(tmp_path):
    # README: il.experiments.run writes report.html (through the renderer `import initlab` registers)
    r = il.experiments.run("zigzag", quick=True, out=tmp_path / "z", quiet=True, steps=300)
    assert r.report == r.out / "report.html" and r.report.is_file()
    page = r.report.read_text()
    assert "zigzag" in page and all(f"figures/{p.name}" in page for p in r.figures)
    assert [p.name for p in r.figures] == ["zigzag-paths.png"] and r.figures[0].is_file()
    r = il.experiments.run("zigzag", quick=True, out=tmp_path / "y", quiet=True, steps=300, report=False)
    assert r.report is None and not (r.out / "report.html").exists()


def test_run_files_follow_the_umask(tmp_path):
    # atomic writes go through private temporary files (0600): the finished files must not stay private
    old = os.umask(0o022)
    try:
        r = il.experiments.run("zigzag", quick=True, out=tmp_path / "z", quiet=True, steps=200)
    finally:
        os.umask(old)
    assert stat.S_IMODE(r.out.stat().st_mode) == 0o755
    for f in ("config.json", "summary.json", "metrics.csv", "arrays.npz", "figures/zigzag-paths.png"):
        assert stat.S_IMODE((r.out / f).stat().st_mode) == 0o644, f


def test_another_runs_temporary_directory_is_left_alone(tmp_path):
    # temporary names are unique: a directory named as this process's old fixed name (.NAME.tmp-PID) —
    # another run's work in progress — is neither used nor removed, and the run leaves nothing behind
    foreign = tmp_path / f".z.tmp-{os.getpid()}"
    foreign.mkdir()
    (foreign / "config.json").write_text("{}")
    il.experiments.run("zigzag", quick=True, out=tmp_path / "z", quiet=True, steps=200)
    assert (foreign / "config.json").read_text() == "{}"
    assert sorted(p.name for p in tmp_path.iterdir()) == [foreign.name, "z"]


def test_concurrent_runs_into_one_folder(tmp_path):
    # two runs of one name into one folder at once (sweeps will do it): each builds its own temporary
    # directory; both finish, the survivor is complete, no temporary is left
    errors = []

    def go(seed: int) -> None:
        try:
            il.experiments.run("zigzag", quick=True, seed=seed, out=tmp_path / "z", quiet=True, steps=200,
                               overwrite=True, report=False)
        except Exception as exc:  # noqa: BLE001 — collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=go, args=(s,)) for s in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["z"]
    cfg = json.loads((tmp_path / "z" / "config.json").read_text())
    summary = json.loads((tmp_path / "z" / "summary.json").read_text())
    assert cfg["seed"] in (1, 2) and summary and (tmp_path / "z" / "figures" / "zigzag-paths.png").is_file()
