"""watch records the residual stream of a model with repeated blocks: per block, at the `every`
cadence, the same numbers inspect measures, without reading anything back before a flush; saved and
loaded with the history; residual_growth among the Watcher's findings."""
from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import initlab as il


def _encoder(layers: int = 3, d: int = 32, branch_scale: float = 1.0) -> nn.Module:
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(d, 4, 2 * d, dropout=0.0, batch_first=True, norm_first=True)
    enc = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
    with torch.no_grad():
        for blk in enc.layers:
            blk.linear2.weight.mul_(branch_scale)
            blk.self_attn.out_proj.weight.mul_(branch_scale)
    return nn.Sequential(enc, nn.Flatten(), nn.Linear(5 * d, 3))


def _data(device: str = "cpu"):
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(8, 5, 32, generator=g), torch.randint(0, 3, (8,), generator=g)
    return x.to(device), y.to(device)


def _train(model, w, steps, x, y):
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    for _ in range(steps):
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
        w.step()


def test_stream_every_step_cadence_equals_inspect(tmp_path):
    model = _encoder()
    x, y = _data()
    start = il.inspect(copy.deepcopy(model), x, y)  # the weights of step 0
    with il.watch(model, every=2, hist_every=None) as w:
        with torch.no_grad():
            model(x)  # a no_grad forward is not recorded
        _train(model, w, 5, x, y)
    a = w.arrays()
    assert a["stream_steps"].tolist() == [0, 2, 4] and a["stream_blocks"].tolist() == [b.name for b in start.blocks]
    for i, b in enumerate(start.blocks):
        assert a["stream_std"][0, i] == pytest.approx(b.std, rel=1e-5)
        assert a["stream_input_std"][0, i] == pytest.approx(b.input_std, rel=1e-5)
        assert a["branch_ratio"][0, i] == pytest.approx(b.branch_ratio, rel=1e-5)
    back = il.probes.Watcher.load(w.save(tmp_path / "h.npz"))
    for k in ("stream_steps", "stream_blocks", "stream_std", "branch_ratio"):
        assert np.array_equal(back.arrays()[k], a[k])
    page = Path(il.report.to_html(tmp_path / "h.npz", tmp_path / "h.html")).read_text()
    assert "id='transformer'" in page and "Residual stream" in page and "residual stream at step 4" in page


def test_growth_finding_from_watch_and_none_when_healthy():
    x, y = _data()
    for scale, want in ((50.0, True), (1.0, False)):
        model = _encoder(4, branch_scale=scale)
        with il.watch(model, every=1, hist_every=None) as w:
            _train(model, w, 2, x, y)
        kinds = [f.kind for f in w.findings()]
        assert ("residual_growth" in kinds) == want, (scale, kinds)


def test_stream_reads_nothing_back_before_a_flush():
    # meta tensors hold no data: any read raises, so steps that complete read nothing back
    model = _encoder().to("meta")
    x, y = _data("meta")
    reached = False
    with pytest.raises(NotImplementedError, match="meta"):
        with il.watch(model, every=1, hist_every=None, flush_every=10**9) as w:
            _train(model, w, 4, x, y)
            reached = True
    assert reached


def test_mlp_watch_has_no_stream_arrays():
    model = il.models.mlp([10, 16, 3], "relu", generator=torch.Generator().manual_seed(0))
    x = torch.randn(8, 10)
    with il.watch(model) as w:
        _train(model, w, 2, x, torch.zeros(8, dtype=torch.long))
    assert not any(k.startswith("stream_") for k in w.arrays())
