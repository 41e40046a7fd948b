"""README's experiment table = what docs/results/update.py generates from the committed default-size results,
and each committed result is current: its config hash is the hash of the experiment's default config
today, and the git commit it ran on is in this repository's history."""
from __future__ import annotations

import importlib.util
import json
import subprocess
from pathlib import Path

import pytest

from initlab.experiments import registry
from initlab.experiments.runner import config_hash

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "docs" / "results"


def _load_update():
    spec = importlib.util.spec_from_file_location("results_update", RESULTS / "update.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


update = _load_update()
COMMITTED = sorted(p.name for p in RESULTS.iterdir() if (p / "summary.json").is_file())


def test_readme_table_is_generated_from_docs_results():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert readme == update.readme_with_table(readme, update.table()), (
        "README.md's experiment table differs from docs/results: run python docs/results/update.py readme")


def test_every_experiment_has_a_row_and_every_result_an_experiment():
    rows = [r[0] for r in update.ROWS]
    assert sorted(rows) == registry.names() and len(set(rows)) == len(rows)
    assert set(COMMITTED) <= set(registry.names())


@pytest.mark.parametrize("name", COMMITTED)
def test_committed_result_matches_todays_default_config(name):
    summary, meta = update.load(name)
    exp = registry.get(name)
    assert meta["experiment"] == name and meta["seed"] == 0
    assert meta["config_hash"] == config_hash(meta["config"])
    today = config_hash(exp.make_config(quick=meta["quick"]))
    assert meta["config_hash"] == today, (
        f"{name}: its default config changed since docs/results/{name} was made (stale result): rerun "
        f"`initlab run {name}` and `python docs/results/update.py collect …`")
    assert set(summary) <= set(exp.summary_keys), f"{name}: keys no longer written: {set(summary) - set(exp.summary_keys)}"
    for key, entry in summary.items():  # the stored verdicts follow the runner's rule
        if entry.get("reference"):
            from initlab.formats import agrees

            assert entry["agree"] == agrees(entry["ours"], entry["reference"]), key


def _in_git_checkout() -> bool:
    try:
        return subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--git-dir"], capture_output=True).returncode == 0
    except OSError:
        return False


@pytest.mark.parametrize("name", COMMITTED)
def test_committed_result_ran_on_a_commit_of_this_repository(name):
    _, meta = update.load(name)
    sha = meta["git_commit"]
    assert isinstance(sha, str) and len(sha) == 40 and all(c in "0123456789abcdef" for c in sha)
    if not _in_git_checkout():
        pytest.skip("not a git checkout (e.g. an sdist): the commit cannot be looked up")
    found = subprocess.run(["git", "-C", str(ROOT), "cat-file", "-e", f"{sha}^{{commit}}"], capture_output=True)
    assert found.returncode == 0, f"{name}: commit {sha} is not in this repository's history"


def test_formatter_reads_whole_keys_config_and_null():
    fmt = update._Summary({"dead_fraction_lr0.01": {"ours": 0.25}, "step": {"ours": None},
                           "n": {"ours": 3.0}}, {"steps": 15000})
    assert fmt.format("{dead_fraction_lr0.01:.0%} {step} {n} {config.steps:,}") == "25% — 3 15,000"
    with pytest.raises(KeyError, match="missing_key"):
        fmt.format("{missing_key}")


def test_collect_writes_summary_and_meta_and_needs_a_commit(tmp_path):
    import initlab as il

    runs = tmp_path / "runs"
    res = il.experiments.run("zigzag", quick=True, out=runs / "zigzag", quiet=True)
    cfg = json.loads((res.out / "config.json").read_text())
    assert cfg["config_hash"] == config_hash(registry.get("zigzag").make_config(quick=True))
    cfg["git"] = {"commit": None, "dirty": None}  # as from a tree outside git
    (res.out / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match="--commit"):
        update.collect(runs, None, results=tmp_path / "results")
    assert update.collect(runs, "a" * 40, results=tmp_path / "results") == ["zigzag"]
    out = tmp_path / "results" / "zigzag"
    assert (out / "summary.json").read_bytes() == (res.out / "summary.json").read_bytes()
    meta = json.loads((out / "meta.json").read_text())
    assert meta["git_commit"] == "a" * 40 and meta["quick"] is True and meta["config_hash"] == cfg["config_hash"]
    text = update.table(tmp_path / "results")
    assert "*quick size only (default not run)*" in text and "*not run at default size*" in text
