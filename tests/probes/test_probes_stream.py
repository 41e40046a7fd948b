"""watch's residual-stream recorder (probes/stream.py): the values equal inspect's float64 ResidualProbe,
no host sync until a flush, calls averaged per step, inactive steps not recorded."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from initlab.probes.residual import ResidualProbe
from initlab.probes.stream import StreamRecorder, block_stats
from initlab.probes.transformer_findings import diagnose_transformer


def _encoder(layers: int = 3, d: int = 32) -> nn.Module:
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(d, 4, 2 * d, dropout=0.0, batch_first=True, norm_first=True)
    return nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)


def _x(seed: int = 1) -> torch.Tensor:
    return torch.randn(8, 5, 32, generator=torch.Generator().manual_seed(seed))


def test_values_equal_the_inspect_probe():
    model = _encoder()
    rec, ref = StreamRecorder(model), ResidualProbe(model)
    rec.install(); ref.install()
    rec.active = True
    model(_x())
    rec.record(7)
    rec.remove(); ref.remove()
    a = rec.arrays()
    want = ref.records()
    assert a["stream_steps"].tolist() == [7] and a["stream_blocks"].tolist() == [b.name for b in want]
    for i, b in enumerate(want):
        assert a["stream_input_std"][0, i] == pytest.approx(b.input_std, rel=1e-5)
        assert a["stream_std"][0, i] == pytest.approx(b.std, rel=1e-5)
        assert a["branch_ratio"][0, i] == pytest.approx(b.branch_ratio, rel=1e-5)


def test_no_host_sync_before_flush_and_calls_averaged(monkeypatch):
    model = _encoder()
    rec = StreamRecorder(model)
    rec.install()
    x1, x2 = _x(1), 3 * _x(2)
    with monkeypatch.context() as mp:
        def boom(*a, **k):
            raise AssertionError("host sync before flush")
        for name in ("item", "cpu", "tolist", "numpy"):
            mp.setattr(torch.Tensor, name, boom)
        rec.active = True
        for step in range(3):
            model(x1)
            model(x2)
            rec.record(step)
        rec.active = False
        model(x1)  # an inactive call: not recorded
        rec.record(3)
    a = rec.arrays()
    rec.remove()
    assert a["stream_std"].shape == (3, 3) and a["stream_steps"].tolist() == [0, 1, 2]
    # the mean of the two calls' variances, checked against each call alone
    one = StreamRecorder(model); one.install(); one.active = True
    model(x1); one.record(0); model(x2); one.record(1)
    b = one.arrays(); one.remove()
    want = np.sqrt((b["stream_std"][0] ** 2 + b["stream_std"][1] ** 2) / 2)
    assert np.allclose(a["stream_std"][0], want, rtol=1e-6) and np.allclose(a["stream_std"][2], want, rtol=1e-6)
    assert not rec.handles


def test_block_stats_feed_the_growth_finding():
    """Branches scaled ×50 (the stream grows geometrically) fire residual_growth from watch's numbers."""
    model = _encoder(4)
    with torch.no_grad():
        for blk in model.layers:
            blk.linear2.weight.mul_(50)
            blk.self_attn.out_proj.weight.mul_(50)
    rec = StreamRecorder(model); rec.install(); rec.active = True
    model(_x()); rec.record(0)
    a = rec.arrays(); rec.remove()
    blocks = block_stats(a)
    assert [b.name for b in blocks] == [f"layers.{i}" for i in range(4)]
    assert all(math.isfinite(b.std) for b in blocks)
    ns = type("NS", (), {"blocks": blocks, "attention": [], "logits": None, "loss_kind": "probe"})
    assert [f.kind for f in diagnose_transformer(ns)] == ["residual_growth"]
    ok = _encoder(4)
    healthy = StreamRecorder(ok); healthy.install(); healthy.active = True
    ok(_x()); healthy.record(0)
    h = healthy.arrays(); healthy.remove()
    ns.blocks = block_stats(h)
    assert diagnose_transformer(ns) == []
