"""initlab.diagnosis.compare (il.compare) against the probes' LayerStats (Inspection, Watcher), and the theory CLI."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from torch import nn

import initlab as il
from initlab.cli import main


def _mlp(act, width=300, depth=4, sw2=1.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    layers: list[nn.Module] = []
    for _ in range(depth):
        lin = nn.Linear(width, width)
        nn.init.normal_(lin.weight, std=math.sqrt(sw2 / width), generator=g)
        nn.init.zeros_(lin.bias)
        layers += [lin, act()]
    out = nn.Linear(width, 10)  # drawn from g too: the test must not depend on the global RNG
    nn.init.normal_(out.weight, std=math.sqrt(1.0 / width), generator=g)
    nn.init.zeros_(out.bias)
    layers.append(out)
    return nn.Sequential(*layers), torch.randn(512, width, generator=g)


def test_compare_with_inspection_tanh():
    model, x = _mlp(nn.Tanh)
    ins = il.inspect(model, x)
    cmp = il.compare(ins, q0=float(x.double().pow(2).mean()))
    rows = cmp.rows
    assert [r.layer for r in rows] == ["0", "2", "4", "6", "8"]
    assert [r.measured_at for r in rows] == ["1", "3", "5", "7", "8"]  # activation outputs; the last: its linear
    for r in rows:
        assert abs(r.std_ratio - 1) < 0.05, r
        assert abs(r.grad_ratio - 1) < 0.10, r
    assert rows[-1].grad_ratio == pytest.approx(1.0)  # the anchor
    # the measured values are the LayerStats' own
    assert rows[0].measured_std == ins["1"].std and rows[0].measured_grad_norm == ins["1"].grad_norm
    d = cmp.to_dict()
    assert set(d["rows"][0]) >= {"predicted_std", "measured_std", "std_ratio", "predicted_grad_norm",
                                 "measured_grad_norm", "grad_ratio"}
    assert "pred std" in str(cmp)


def test_compare_relu_he_and_list_of_layerstats():
    # one draw of a width-300 ReLU net fluctuates by ~5% per layer: the median over 5 draws, hidden layers
    # (the last layer has only 10 units)
    ratios = []
    for seed in range(5):
        model, x = _mlp(nn.ReLU, sw2=2.0, seed=seed)
        ratios.append([r.std_ratio for r in il.compare(il.inspect(model, x).layers).rows[:-1]])
    assert np.all(np.abs(np.median(ratios, axis=0) - 1) < 0.10), np.median(ratios, axis=0)


def test_compare_with_watcher_first_step():
    model, x = _mlp(nn.Tanh, depth=3)
    pred = il.theory.predict(model)
    with il.watch(model) as w:
        model(x).pow(2).mean().backward()
        w.step()
    cmp = il.compare(w, prediction=pred)
    assert len(cmp.rows) == 4 and all(abs(r.std_ratio - 1) < 0.05 for r in cmp.rows)
    cmp2 = il.compare(w)  # one step: predicted from the model's (still initial) weights
    assert all(abs(r.std_ratio - 1) < 0.05 for r in cmp2.rows)
    # and those predictions equal an independent recursion on the weights: q^l = σ_w² E[tanh(h)²] (np.tanh),
    # q^1 = σ_w² q0 with q0 = 1, the last layer linear
    q, want = 1.0, []
    for lin in model[::2]:
        q = float(lin.weight.detach().double().var(correction=0)) * lin.in_features * q
        if lin is model[-1]:
            want.append(math.sqrt(q))
        else:
            m1 = il.gaussian.expect(np.tanh, q)
            q = il.gaussian.expect(lambda x: np.tanh(x) ** 2, q)
            want.append(math.sqrt(q - m1 * m1))
    assert [r.predicted_std for r in cmp2.rows] == pytest.approx(want, rel=1e-9)
    # after training, the model's weights are no longer those of the first step: said, not hidden
    torch.optim.SGD(model.parameters(), lr=1.0).step()
    with il.watch(model) as w2:
        for _ in range(2):
            model(x).pow(2).mean().backward()
            w2.step()
    with pytest.warns(UserWarning, match="trained since"):
        il.compare(w2)


def test_compare_bad_input():
    with pytest.raises(ValueError, match="Inspection"):
        il.compare(42)


def test_cli_text_json_and_phase_diagram(capsys, tmp_path):
    assert main(["theory", "tanh", "--sigma-w2", "1.5", "--sigma-b2", "0.05", "--depth", "4"]) == 0
    text = capsys.readouterr().out
    assert "0.418037" in text and "0.938636" in text and "ordered" in text
    assert main(["theory", "tanh", "--sigma-w2", str(25 / 9), "--depth", "3", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["phase"] == "chaotic" and abs(d["chi1"] - 1.2098) < 1e-4 and len(d["std"]) == 3
    assert main(["theory", "tanh", "--sigma-w2", "1.0", "--depth", "2"]) == 0
    assert "critical" in capsys.readouterr().out
    png = tmp_path / "pd.png"
    assert main(["theory", "tanh", "--sigma-w2", "1.5", "--sigma-b2", "0.05", "--depth", "20",
                 "--phase-diagram", str(png), "--resolution", "5", "4"]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["theory", "relu", "--sigma-w2", "2.5", "--depth", "2"]) == 0
    assert "without bound" in capsys.readouterr().out
    # q* = 0 (§1.4): χ₁ is the limit σ_w²/2, the gradient depth scale is given, and 6 ξ_c is said not to apply
    assert main(["theory", "relu", "--sigma-w2", "1.44", "--sigma-b2", "0", "--depth", "2"]) == 0
    text = capsys.readouterr().out
    assert "chi1    = 0.72 " in text and "xi_grad = -1/ln chi1 = 3.0441\n" in text
    assert "6 xi_c does not apply" in text and "trainable depth 6 xi_c" not in text
    assert main(["theory", "relu", "--sigma-w2", "1.44", "--json", "--depth", "2"]) == 0
    d = json.loads(capsys.readouterr().out, parse_constant=lambda c: pytest.fail(f"non-standard JSON {c}"))
    # strict JSON: ξ_c = ∞ and the NaN trainable depth are null (bounds_depth says why)
    assert d["chi1"] == pytest.approx(0.72) and d["bounds_depth"] is False and d["xi_c"] is None
    assert d["trainable_depth"] is None
    assert main(["theory", "tanh", "--sigma-w2", "0", "--depth", "2"]) == 2
    assert "sigma_w2" in capsys.readouterr().err
    assert main(["theory", "tanh", "--sigma-w2", "1", "--depth", "0"]) == 2
    assert "depth" in capsys.readouterr().err


def test_phase_diagram_axes():
    from initlab.theory.plot import phase_diagram

    fig = phase_diagram("tanh", resolution=(4, 3), point=(1.5, 0.05), depth=50)
    ax = fig.axes[0]
    assert "sigma_w" in ax.get_xlabel() and "sigma_b" in ax.get_ylabel() and ax.get_title()
    import matplotlib.pyplot as plt

    plt.close(fig)
