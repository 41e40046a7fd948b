"""`initlab report RUN --redraw`: every experiment's figures come back from its run directory alone."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

import initlab as il
from initlab.cli import main

# run in a fresh interpreter: redraw a folder of runs, then list what got imported
PROBE = """
import json, sys
from initlab.cli import main
rc = main(["report", sys.argv[1], "--redraw"])
print(json.dumps({"rc": rc, "modules": sorted(sys.modules)}))
"""


@pytest.fixture(scope="module")
def redrawn(tour, tmp_path_factory):
    """A copy of the quick tour whose figures were deleted and redrawn in a fresh process: (copy, before,
    imported modules), ``before`` mapping each run to its figures' bytes and summary bytes."""
    copy = tmp_path_factory.mktemp("redraw") / "runs"
    shutil.copytree(tour, copy)
    before = {}
    for name in il.experiments.names():
        figs = copy / name / "figures"
        before[name] = ({p.name: p.read_bytes() for p in figs.glob("*.png")},
                        (copy / name / "summary.json").read_bytes())
        shutil.rmtree(figs)
        (copy / name / "report.html").unlink()
    proc = subprocess.run([sys.executable, "-c", PROBE, str(copy)], capture_output=True, text=True, check=True)
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["rc"] == 0, proc.stderr
    return copy, before, set(out["modules"])


def test_redraw_brings_back_every_figure_byte_for_byte(redrawn):
    copy, before, _ = redrawn
    for name, (figs, summary) in before.items():
        assert figs, name
        now = {p.name: p.read_bytes() for p in (copy / name / "figures").glob("*.png")}
        assert sorted(now) == sorted(figs), name
        for fig, data in figs.items():  # drawn from the files = drawn by the run itself
            assert now[fig] == data, (name, fig)
        assert (copy / name / "summary.json").read_bytes() == summary, name  # untouched


def test_redraw_rewrites_the_reports(redrawn):
    copy, before, _ = redrawn
    for name, (figs, _) in before.items():
        page = (copy / name / "report.html").read_text()
        assert all(f"figures/{f}" in page for f in figs), name
    assert (copy / "index.html").is_file()


def test_redraw_imports_no_training_code(redrawn):
    _, before, modules = redrawn
    measuring = {f"initlab.experiments.{n.replace('-', '_')}" for n in before}
    training = {"torch", "initlab.train", "initlab.models", "initlab.probes", "initlab.data",
                "initlab.experiments.runner", "initlab.experiments.context"}
    assert not (modules & (measuring | training)), sorted(modules & (measuring | training))
    assert {f"initlab.experiments.figures.{n.replace('-', '_')}" for n in before} <= modules


def test_redraw_one_run_replaces_stale_figures(tour, tmp_path, capsys):
    run = tmp_path / "zero-init"
    shutil.copytree(tour / "zero-init", run)
    (run / "figures" / "old-name.png").write_bytes(b"stale")
    assert main(["report", str(run), "--redraw"]) == 0
    assert sorted(p.name for p in (run / "figures").iterdir()) == ["zero-init.png"]
    assert "report.html" in capsys.readouterr().out


def test_redraw_needs_run_directories(tmp_path, capsys):
    (tmp_path / "h.npz").write_bytes(b"")
    for target in (tmp_path / "h.npz", tmp_path):
        assert main(["report", str(target), "--redraw"]) == 2
        assert "--redraw needs a run directory" in capsys.readouterr().err


def test_run_files_name_what_is_missing(tour):
    run = il.experiments.RunFiles(tour / "zigzag")
    assert run.experiment == "zigzag" and run.config["steps"] == 2000
    with pytest.raises(KeyError, match="arrays.npz .* has no 'nope'.*positive/path"):
        run.array("nope")
    with pytest.raises(KeyError, match="history.npz has nothing under 'zeros'"):
        run.history("zeros")
    with pytest.raises(ValueError, match="not a run directory"):
        il.experiments.RunFiles(tour)
