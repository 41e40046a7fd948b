"""watch on real transformer models during training (issue 12 §2 "Real models"): a Hugging Face GPT-2
(its ``Conv1D`` layers, tied head), a Hugging Face BERT and a ``torch.nn.TransformerEncoder``, each
trained a few optimizer steps under ``il.watch``; every recorded row equals an independent
``il.inspect`` of a copy of the model taken just before that step, on the same batch."""
from __future__ import annotations

import copy
import os

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import initlab as il

os.environ["HF_HUB_OFFLINE"] = "1"
V, B, T = 200, 4, 10


def _hf():
    t = pytest.importorskip("transformers")  # the "test" extra installs it
    t.utils.logging.set_verbosity_error()
    return t


def _gpt2():
    t = _hf()
    torch.manual_seed(0)
    cfg = t.GPT2Config(n_layer=2, n_embd=32, n_head=4, vocab_size=V, n_positions=16, resid_pdrop=0.0,
                       embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=0, eos_token_id=0)
    return t.GPT2LMHeadModel(cfg)


def _bert():
    t = _hf()
    torch.manual_seed(0)
    cfg = t.BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                       vocab_size=V, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, num_labels=3)
    return t.BertForSequenceClassification(cfg)


class _Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        layer = nn.TransformerEncoderLayer(32, 4, 64, dropout=0.0, batch_first=True)
        self.embed = nn.Embedding(V, 32)
        self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.head = nn.Linear(32, 3)

    def forward(self, ids):
        return self.head(self.encoder(self.embed(ids)).mean(dim=1))


def _batches(kind: str, steps: int):
    g = torch.Generator().manual_seed(3)
    out = []
    for _ in range(steps):
        ids = torch.randint(0, V, (B, T), generator=g)
        if kind == "gpt2":
            out.append(({"input_ids": ids, "labels": ids}, None))
        elif kind == "bert":
            out.append(({"input_ids": ids, "labels": torch.randint(0, 3, (B,), generator=g)}, None))
        else:
            out.append((ids, torch.randint(0, 3, (B,), generator=g)))
    return out


def _loss(model, x, y):
    return model(**x).loss if isinstance(x, dict) else F.cross_entropy(model(x), y)


@pytest.mark.parametrize("kind", ["gpt2", "bert", "encoder"])
def test_watched_training_equals_inspect_of_each_step(kind):
    model = {"gpt2": _gpt2, "bert": _bert, "encoder": _Encoder}[kind]()
    batches = _batches(kind, 3)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    refs = []
    with il.watch(model, hist_every=2) as w:
        for x, y in batches:
            refs.append(il.inspect(copy.deepcopy(model), x, y))  # the weights this step starts from
            opt.zero_grad()
            _loss(model, x, y).backward()
            opt.step()
            w.step()
    a = w.arrays()
    layers = list(a["layers"])
    assert a["steps"].tolist() == [0, 1, 2] and a["hist_steps"].tolist() == [0, 2]
    if kind == "gpt2":  # every Conv1D is seen, with fans from its transposed (in, out) weight
        conv = [n for n in layers if n.endswith(("c_attn", "c_proj", "c_fc"))]
        assert len(conv) == 2 * 4
        j = layers.index("transformer.h.0.mlp.c_fc")
        assert (a["layer_fan_in"][j], a["layer_fan_out"][j]) == (32, 128)
    if kind == "encoder":  # nn.MultiheadAttention's projections are probed (fast path off)
        assert any("self_attn" in n for n in layers)
    checked = 0
    for i, ins in enumerate(refs):
        for rec in ins.layers:
            name = rec.name if rec.call_index == 0 else f"{rec.name}#{rec.call_index}"
            if name not in layers:
                continue
            j = layers.index(name)
            for k in ("mean", "std", "grad_norm", "grad_std"):
                want = getattr(rec, k)
                if want is None or not np.isfinite(want):
                    continue
                # a mean is exact to float32 rounding of the sums: relative to the std it sits beside
                tol = 1e-5 * rec.std if k == "mean" else 1e-7
                assert a[k][i, j] == pytest.approx(want, rel=2e-4, abs=tol), (i, name, k)
                checked += 1
            if rec.weight_grad_norm is not None:
                assert a["weight_grad_norm"][i, j] == pytest.approx(rec.weight_grad_norm, rel=1e-4), (i, name)
        assert set(layers) >= {r.name for r in ins.layers if r.call_index == 0 and r.std is not None}
    assert checked >= 3 * 4 * 10
    # the residual stream of the repeated blocks is recorded on every step, as inspect measures it
    assert a["stream_steps"].tolist() == [0, 1, 2]
    for i, ins in enumerate(refs):
        assert [b.name for b in ins.blocks] == a["stream_blocks"].tolist()
        np.testing.assert_allclose(a["stream_std"][i], [b.std for b in ins.blocks], rtol=1e-4)
    warned = [f.kind for f in w.findings() if f.severity == "warning"]
    assert not warned, warned  # healthy models stay quiet
