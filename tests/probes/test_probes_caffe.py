"""Inspection.caffe(): Caffe's debug_info lines (net.cpp ForwardDebugInfo/BackwardDebugInfo/Backward),
every number checked against autograd (issue 10 §1.6)."""
from __future__ import annotations

import re

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import initlab as il
from probes_testlib import gen

LINE = re.compile(r"^\[(Forward|Backward)\] Layer (\S+), (top|bottom|param) blob (\S+) (data|diff): (\S+)$")
NET = re.compile(r"^\[Backward\] All net params \(data, diff\): L1 norm = \((\S+), (\S+)\); L2 norm = \((\S+), (\S+)\)$")


def _parse(text):
    lines = text.splitlines()
    parsed = [LINE.match(s) for s in lines[:-1]]
    assert all(parsed), [s for s, m in zip(lines, parsed) if not m]
    net = NET.match(lines[-1])
    assert net, lines[-1]
    return [m.groups()[:5] + (float(m.group(6)),) for m in parsed], [float(v) for v in net.groups()]


def _mean_abs(t):
    return float(t.detach().double().abs().mean())


@pytest.mark.parametrize("inplace", [False, True])
def test_chain_bottom_diffs_are_input_gradients(inplace):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(inplace=inplace), nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 3))
    x, y = torch.randn(20, 6, generator=gen(1)), torch.randint(0, 3, (20,), generator=gen(2))
    ins = il.inspect(model, x, y)
    lines, net = _parse(ins.caffe())

    # autograd by hand on a non-in-place copy of the same weights
    ref = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 3))
    ref.load_state_dict(model.state_dict())
    outs, h = [], x
    for m in ref:
        h = m(h)
        h.retain_grad()
        outs.append(h)
    F.cross_entropy(h, y).backward()

    fwd = [ln for ln in lines if ln[0] == "Forward"]
    bwd = [ln for ln in lines if ln[0] == "Backward"]
    tops = [(ln[1], ln[5]) for ln in fwd if ln[2] == "top"]
    assert [t[0] for t in tops] == ["0", "1", "2", "3", "4"]
    for (_, v), o in zip(tops, outs):
        assert v == pytest.approx(_mean_abs(o), rel=1e-5)
    # backward: layers last to first; each bottom is the previous layer's output; the net input gets no line
    bottoms = [(ln[1], ln[3], ln[5]) for ln in bwd if ln[2] == "bottom"]
    assert [(b[0], b[1]) for b in bottoms] == [("4", "3"), ("3", "2"), ("2", "1"), ("1", "0")]
    for layer, _, v in bottoms:
        assert v == pytest.approx(_mean_abs(outs[int(layer) - 1].grad), rel=1e-5)
    params = {(ln[1], ln[3]): ln[5] for ln in bwd if ln[2] == "param"}
    for i in (0, 2, 4):
        assert params[(str(i), "0")] == pytest.approx(_mean_abs(ref[i].weight.grad), rel=1e-5)
        assert params[(str(i), "1")] == pytest.approx(_mean_abs(ref[i].bias.grad), rel=1e-5)
    order = [ln[1] for ln in bwd]
    assert order == sorted(order, reverse=True)  # backward order
    # Caffe's order within a layer: bottom diffs, then param blob 0, then 1
    assert [ln[2:4] for ln in bwd if ln[1] == "2"] == [("bottom", "1"), ("param", "0"), ("param", "1")]
    ps = list(ref.parameters())
    assert net[0] == pytest.approx(sum(float(p.detach().abs().sum()) for p in ps), rel=1e-5)
    assert net[1] == pytest.approx(sum(float(p.grad.abs().sum()) for p in ps), rel=1e-5)
    assert net[2] == pytest.approx(float(torch.cat([p.detach().reshape(-1) for p in ps]).norm()), rel=1e-5)
    assert net[3] == pytest.approx(float(torch.cat([p.grad.reshape(-1) for p in ps]).norm()), rel=1e-5)


class Branch(nn.Module):
    """h feeds two layers: Caffe (through its split layer) gives each its own share of ∂L/∂h."""

    def __init__(self):
        super().__init__()
        self.inp, self.a, self.b = nn.Linear(5, 7), nn.Linear(7, 4), nn.Linear(7, 4)

    def forward(self, x):
        h = self.inp(x)
        return self.a(h) + 2.0 * self.b(h.clone())


def test_branch_bottom_diff_is_the_layers_own_share():
    torch.manual_seed(1)
    model = Branch()
    x = torch.randn(9, 5, generator=gen(3))
    t = torch.randn(9, 4, generator=gen(4))
    lines, _ = _parse(il.inspect(model, x, t).caffe())
    bottoms = {ln[1]: (ln[3], ln[5]) for ln in lines if ln[2] == "bottom"}

    h = model.inp(x).detach().requires_grad_(True)
    ya, yb = model.a(h), model.b(h)
    ya.retain_grad()
    yb.retain_grad()
    F.mse_loss(ya + 2.0 * yb, t).backward()
    share_a = ya.grad @ model.a.weight  # ∂L/∂h through a alone: Wₐᵀ δₐ
    share_b = yb.grad @ model.b.weight
    assert bottoms["a"] == ("inp", pytest.approx(_mean_abs(share_a), rel=1e-5))
    # b's input is h.clone(), an unprobed op's output: named after b
    assert bottoms["b"] == ("b.input", pytest.approx(_mean_abs(share_b), rel=1e-5))
    assert _mean_abs(share_a) != pytest.approx(_mean_abs(h.grad), rel=1e-2)  # not the total ∂L/∂h
    assert "inp" not in bottoms  # its input is the net's input
