"""``initlab inspect``: factories from files and modules, random or saved batches, JSON, errors."""
from __future__ import annotations

import json
import textwrap

import pytest
import torch

from initlab.cli import main

FACTORY = textwrap.dedent('''
    import torch
    from torch import nn

    def make_model():
        return nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 5))

    def zeros():
        m = make_model()
        for p in m.parameters():
            nn.init.zeros_(p)
        return m

    def not_a_model():
        return 3
''')


@pytest.fixture
def factory(tmp_path):
    path = tmp_path / "models_for_cli.py"
    path.write_text(FACTORY)
    return str(path)


def test_table_and_findings(factory, capsys):
    assert main(["inspect", f"{factory}:make_model", "--input-shape", "8,1,8,8", "--caffe"]) == 0
    out = capsys.readouterr().out
    assert "loss (probe)" in out and "conv" in out and "findings" in out
    assert "[Forward] Layer 0, top blob 0 data:" in out
    # Caffe's backward lines: the diff of each layer's bottom (input) blob, never of its top
    assert "[Backward] Layer 1, bottom blob 0 diff:" in out and "[Backward] Layer 3, bottom blob 3.input diff:" in out
    assert "[Backward] Layer 0, bottom" not in out and "top blob 0 diff" not in out  # the net input: no diff
    assert "[Backward] All net params (data, diff): L1 norm = (" in out


def test_zero_model_json_and_ce(factory, capsys):
    assert main(["inspect", f"{factory}:zeros", "--input-shape", "8,1,8,8", "--loss", "ce", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["loss_kind"] == "ce, random targets" and [r["kind"] for r in d["layers"]] == ["conv", "activation", "linear"]
    assert "symmetric_units" in {f["kind"] for f in d["findings"]}


def test_batch_file_and_module_path(factory, tmp_path, capsys):
    batch = tmp_path / "b.pt"
    torch.save({"inputs": torch.randn(6, 1, 8, 8), "targets": torch.randint(0, 5, (6,))}, batch)
    assert main(["inspect", f"{factory}:make_model", "--batch", str(batch), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["loss_kind"] == "ce"
    assert main(["inspect", "torch.nn:Tanh", "--input-shape", "4,3", "--loss", "none"]) == 0


def test_checkpoint_and_init(factory, tmp_path, capsys):
    ck = tmp_path / "w.pt"
    torch.manual_seed(0)
    src = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(144, 5))
    torch.save(src.state_dict(), ck)
    assert main(["inspect", f"{factory}:zeros", "--input-shape", "8,1,8,8", "--checkpoint", str(ck), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["layers"][0]["weight_std"] == pytest.approx(float(src[0].weight.detach().double().std(correction=0)))
    assert main(["inspect", f"{factory}:zeros", "--input-shape", "8,1,8,8", "--init", "he_normal", "--json"]) == 0
    assert "symmetric_units" not in {f["kind"] for f in json.loads(capsys.readouterr().out)["findings"]}


@pytest.mark.parametrize("argv, message", [
    (["{f}"], "MODULE:FACTORY"),
    (["{f}:nope", "--input-shape", "2,1,8,8"], "no callable 'nope'"),
    (["{f}:not_a_model", "--input-shape", "2,1,8,8"], "must return a torch.nn.Module"),
    (["{f}:make_model"], "--input-shape"),
    (["{f}:make_model", "--input-shape", "2,a"], "positive integers"),
    (["{f}:make_model", "--input-shape", "2,3,8,8"], "in_channels=1"),
    (["missing_dir/x.py:f", "--input-shape", "2"], "no such file"),
    (["no_such_module_xyz:f", "--input-shape", "2"], "cannot import module"),
])
def test_errors_exit_2(factory, capsys, argv, message):
    assert main(["inspect"] + [a.format(f=factory) for a in argv]) == 2
    assert message in capsys.readouterr().err
