"""The top-level CLI: --version/--help, the activation table, the demo, and bad input as one clear line."""
import json
import subprocess
import sys

import pytest

import initlab as il
from initlab.cli import main


def test_version_and_help(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0
    assert capsys.readouterr().out.strip() == f"initlab {il.__version__}"
    assert main([]) == 0
    out = capsys.readouterr().out
    for command in ("activations", "demo", "inspect", "theory", "list", "run", "report"):
        assert command in out


def test_activations_table_text_and_json(capsys):
    assert main(["activations", "relu", "tanh"]) == 0
    out = capsys.readouterr().out
    assert "relu" in out and "tanh" in out and "1.414214" in out  # √2: relu's torch/forward/backward gain
    assert main(["activations", "--json", "sigmoid"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["name"] == "sigmoid" and row["max_slope"] == pytest.approx(0.25)
    assert row["range"] == [0.0, 1.0]
    assert main(["activations", "--json", "relu"]) == 0
    (row,) = json.loads(capsys.readouterr().out, parse_constant=lambda c: pytest.fail(f"non-standard JSON {c}"))
    assert row["range"] == [0.0, "inf"]


def test_demo_prints_table_and_init_report(capsys):
    assert main(["demo", "--activation", "relu", "--scheme", "he_normal"]) == 0
    out = capsys.readouterr().out
    assert "InitReport" in out and "fc_out" in out and "he_normal" in out


@pytest.mark.parametrize("argv,words", [
    (["activations", "rleu"], ["activation must be one of", "'rleu'", "relu"]),
    (["demo", "--scheme", "hee"], ["hee", "he_normal"]),
    (["demo", "--activation", "nope"], ["nope", "tanh"]),
])
def test_bad_input_is_one_line_and_exit_2(capsys, argv, words):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("initlab: error: ") and "Traceback" not in err
    for w in words:
        assert w in err


def test_console_script_no_traceback():
    proc = subprocess.run([sys.executable, "-m", "initlab", "activations", "rleu"], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "activation must be one of" in proc.stderr


def test_theory_json_is_strict_json_with_null_for_infinite_depths(capsys):
    """ReLU at σ_w² = 2, σ_b² = 0: ξ_c = ∞ and ξ_∇ = −1/ln χ₁ = ∞ (χ₁ = 1) are null, not `Infinity`."""
    assert main(["theory", "relu", "--sigma-w2", "2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out, parse_constant=lambda c: pytest.fail(f"non-standard JSON {c}"))
    mf = il.theory.mean_field("relu", 2.0, 0.0)
    assert mf.xi_c == float("inf") and out["xi_c"] is None and out["xi_grad"] is None
    assert out["chi1"] == pytest.approx(mf.chi1) == 1.0 and out["bounds_depth"] is False
    # q¹ = σ_w²·q0 = 2 and ReLU keeps it: q^l = σ_w²·q^(l−1)/2
    assert len(out["q"]) == 10 and all(v == pytest.approx(2.0) for v in out["q"])
