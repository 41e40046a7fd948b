"""The sweep folder: failed trials recorded, parquet read back, resume after kill -9, spec changes refused."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

import initlab.sweep as sw

if str(Path(__file__).resolve().parent) not in sys.path:  # sweep_test_trials; spawned workers inherit sys.path
    sys.path.insert(0, str(Path(__file__).resolve().parent))

HERE = Path(__file__).resolve().parent
SRC = Path(sw.__file__).resolve().parents[2]


def _files(d: Path) -> dict[str, tuple[bytes, int]]:
    return {str(p.relative_to(d)): (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(d.rglob("*")) if p.is_file()}


def test_a_failing_trial_is_recorded_and_the_sweep_completes(tmp_path):
    spec = {"trial": "sweep_test_trials:flaky", "seeds": [0], "grid": {"x": [1, 2, 3, 4]}}
    s = sw.run(spec, tmp_path, workers=0, quiet=True)
    st = s.status()
    assert (st["total"], st["ok"], st["diverged"], st["failed"], st["missing"]) == (4, 2, 1, 1, 0)
    (tid, err), = st["errors"].items()
    assert err == "ArithmeticError: trial x=2 fails on purpose"
    assert "ArithmeticError" in (tmp_path / "trials" / tid / "error.txt").read_text()
    assert 'raise ArithmeticError' in (tmp_path / "trials" / tid / "error.txt").read_text()  # the traceback
    t = pq.read_table(tmp_path / "results.parquet")
    assert t.column("x").to_pylist() == [1, 2, 3, 4]
    assert t.column("status").to_pylist() == ["ok", "failed", "diverged", "ok"]
    assert t.column("value").to_pylist() == [1.0, None, 3.0, 4.0]
    assert t.column("error").to_pylist()[1].startswith("ArithmeticError")
    # a rerun keeps the failure (it is a result) unless asked to retry it
    before = _files(tmp_path / "trials")
    sw.run(spec, tmp_path, workers=0, quiet=True)
    assert _files(tmp_path / "trials") == before
    sw.run(spec, tmp_path, workers=0, quiet=True, retry_failed=True)
    assert json.loads((tmp_path / "trials" / tid / "result.json").read_text())["status"] == "failed"


def test_parquet_schema_and_values_match_the_trial_folders(tmp_path):
    spec = {"trial": "sweep_test_trials:slow", "seeds": [0, 5], "grid": {"x": [1, 2.5]},
            "fixed": {"sleep": 0.0, "tag": "a"}}
    sw.run(spec, tmp_path, workers=0, quiet=True)
    t = pq.read_table(tmp_path / "results.parquet")
    names = t.schema.names
    assert names[:5] == ["trial_id", "seed", "x", "sleep", "tag"] and names[5] == "status"
    assert {"value", "half", "error", "seconds"} <= set(names)
    assert str(t.schema.field("x").type) == "double" and str(t.schema.field("seed").type) == "int64"
    rows = t.to_pylist()
    assert [(r["x"], r["seed"], r["value"]) for r in rows] == [(1.0, 0, 1.0), (1.0, 5, 6.0), (2.5, 0, 6.25),
                                                                (2.5, 5, 11.25)]
    for r in rows:
        res = json.loads((tmp_path / "trials" / r["trial_id"] / "result.json").read_text())
        assert res["metrics"] == {"value": r["value"], "half": r["half"]}
        assert (tmp_path / "trials" / r["trial_id"] / "value.txt").read_text() == f"{res['metrics']['value']}\n"
    assert len({r["trial_id"] for r in rows}) == 4


def test_a_changed_spec_is_refused_unless_extend(tmp_path):
    spec = {"trial": "sweep_test_trials:slow", "grid": {"x": [1, 2]}}
    sw.run(spec, tmp_path, workers=0, quiet=True)
    before = _files(tmp_path / "trials")
    bigger = {"trial": "sweep_test_trials:slow", "grid": {"x": [1, 2, 3]}}
    with pytest.raises(sw.SpecChanged, match="another spec.*--extend"):
        sw.run(bigger, tmp_path, workers=0, quiet=True)
    s = sw.run(bigger, tmp_path, workers=0, quiet=True, extend=True)
    after = _files(tmp_path / "trials")
    assert {k: v for k, v in after.items() if k in before} == before  # old trials untouched
    assert s.table().column("x").to_pylist() == [1, 2, 3]
    assert s.meta["spec_history"][0]["spec"]["grid"] == {"x": [1, 2]}


def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc to find the workers")
def test_kill_9_the_driver_then_resume(tmp_path):
    spec = tmp_path / "spec.toml"
    spec.write_text('trial = "sweep_test_trials:slow"\nseeds = [0, 1]\n[grid]\nx = [1, 2, 3, 4, 5, 6, 7, 8]\n'
                    '[fixed]\nsleep = 0.4\n')
    out = tmp_path / "s"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), str(HERE)])}
    cmd = [sys.executable, "-m", "initlab", "sweep", "run", str(spec), "--out", str(out), "--workers", "2", "--quiet"]
    proc = subprocess.Popen(cmd, env=env)
    try:
        deadline = time.monotonic() + 120
        while len(list(out.glob("trials/*/result.json"))) < 4:
            assert proc.poll() is None, "the sweep ended before it could be killed"
            assert time.monotonic() < deadline, "no trial finished in 120 s"
            time.sleep(0.05)
        workers = _children(proc.pid)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    finished = {p.parent.name for p in out.glob("trials/*/result.json")}
    assert 4 <= len(finished) < 16
    before = {tid: _files(out / "trials" / tid) for tid in finished}
    # the orphaned workers notice their driver is gone and exit
    deadline = time.monotonic() + 10
    while any(Path(f"/proc/{w}").exists() and "spawn_main" in Path(f"/proc/{w}/cmdline").read_text(errors="replace")
              for w in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert time.monotonic() < deadline, f"workers {workers} outlived their driver"
    time.sleep(0.05)  # a different mtime for anything rewritten
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    for tid in finished:  # finished trials untouched: bytes and mtime
        assert _files(out / "trials" / tid) == before[tid]
    t = pq.read_table(out / "results.parquet")
    assert t.num_rows == 16 and len(set(t.column("trial_id").to_pylist())) == 16  # nothing counted twice
    # the results equal an uninterrupted sweep's
    ref = sw.run(spec, tmp_path / "ref", workers=0, quiet=True)
    for r in ref.results():
        a = (out / "trials" / r["id"] / "result.json").read_bytes()
        assert a == (tmp_path / "ref" / "trials" / r["id"] / "result.json").read_bytes()
    cols = [c for c in t.schema.names if c != "seconds"]
    assert t.select(cols).to_pylist() == ref.table().select(cols).to_pylist()


def test_cli_status_and_errors(tmp_path, capsys):
    from initlab import cli

    spec = tmp_path / "spec.toml"
    spec.write_text('trial = "sweep_test_trials:flaky"\n[grid]\nx = [1, 2]\n')
    assert cli.main(["sweep", "run", str(spec), "--out", str(tmp_path / "s"), "--workers", "0"]) == 0
    assert "2 trials: 1 ok, 0 diverged, 1 failed, 0 missing" in capsys.readouterr().out
    assert cli.main(["sweep", "status", str(tmp_path / "s"), "--json"]) == 0
    st = json.loads(capsys.readouterr().out)
    assert (st["total"], st["failed"], list(st["errors"].values())) == (2, 1, ["ArithmeticError: trial x=2 fails on purpose"])
    assert cli.main(["sweep", "status", str(tmp_path / "nope")]) == 2
    assert "is not a sweep folder" in capsys.readouterr().err
    spec.write_text('trial = "sweep_test_trials:flaky"\n[grid]\nx = [1, 2, 3]\n')
    assert cli.main(["sweep", "run", str(spec), "--out", str(tmp_path / "s"), "--workers", "0"]) == 2
    assert "--extend" in capsys.readouterr().err


def test_a_trial_writing_outside_its_folder_fails_alone(tmp_path):
    s = sw.run({"trial": "sweep_test_trials:escapes", "grid": {"x": [1]}}, tmp_path / "s", workers=0, quiet=True)
    (err,) = s.status()["errors"].values()
    assert err.startswith("TypeError") and "'../../outside.txt'" in err
    assert not (tmp_path / "outside.txt").exists()
