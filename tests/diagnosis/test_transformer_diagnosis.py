"""Issue 13 follow-ups: ``il.compare`` on transformers (per chain, the rest n/a with a reason), the depth
trends on the main path (no ``vanishing_gradients`` from a branch's internal δ), and ``il.fix``'s held-out
training check."""
from __future__ import annotations

import math
import os

import pytest
import torch
from torch import nn

os.environ["HF_HUB_OFFLINE"] = "1"
transformers = pytest.importorskip("transformers")
transformers.utils.logging.set_verbosity_error()

import initlab as il  # noqa: E402
from initlab.diagnosis.check import HeldoutCheck, heldout_check  # noqa: E402
from initlab.probes.findings import main_path  # noqa: E402

V = 100


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def tokens(b: int = 16, t: int = 16, seed: int = 0) -> dict:
    x = torch.randint(0, V, (b, t), generator=gen(seed))
    return {"input_ids": x, "labels": x}


def bert_cls(seed: int, d: int = 64, layers: int = 4) -> nn.Module:
    torch.manual_seed(seed)
    cfg = transformers.BertConfig(hidden_size=d, num_hidden_layers=layers, num_attention_heads=4,
                                  intermediate_size=4 * d, vocab_size=V, max_position_embeddings=32)
    return transformers.BertForSequenceClassification(cfg)


# --- compare -----------------------------------------------------------------------------------------
def test_compare_gpt2_predicts_the_layers_reading_a_layernorm_and_marks_the_rest():
    torch.manual_seed(0)
    m = transformers.GPT2LMHeadModel(transformers.GPT2Config(n_layer=2, n_embd=64, n_head=4, vocab_size=V,
                                                              n_positions=32, bos_token_id=0, eos_token_id=0))
    ins = il.inspect(m, tokens())
    cmp = il.compare(ins)
    rows = {r.layer: r for r in cmp.rows}
    predicted = {n for n, r in rows.items() if r.predicted_std is not None}
    assert predicted == {f"transformer.h.{i}.{x}" for i in (0, 1) for x in ("attn.c_attn", "mlp.c_fc")} | {"lm_head"}
    for n in predicted:  # y = xWᵀ with x the LN output: std = √(σ_w² · E[x²]), σ_w² = n_in · Var(w) (independent)
        r, rec = rows[n], next(s for s in ins.layers if s.name == n)
        ln = {"lm_head": "transformer.ln_f"}.get(n, n.replace("attn.c_attn", "ln_1").replace("mlp.c_fc", "ln_2"))
        x = next(s for s in ins.layers if s.name == ln)
        assert r.predicted_std == pytest.approx(math.sqrt(rec.weight_std ** 2 * rec.fan_in * (x.std ** 2 + x.mean ** 2)),
                                                rel=1e-6)
        assert r.std_ratio == pytest.approx(1.0, abs=0.12), (n, r)
        assert ln in r.note
    for n in set(rows) - predicted:  # the attention/MLP output projections: input is the mix / an unrecorded GELU
        assert rows[n].note.startswith("n/a: ") and rows[n].std_ratio is None
    assert "note" in str(cmp).splitlines()[0]


@pytest.mark.parametrize("kind", ["bert", "encoder"])
def test_compare_bert_and_torch_encoder(kind):
    if kind == "bert":
        torch.manual_seed(0)
        m = transformers.BertForMaskedLM(transformers.BertConfig(
            hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128, vocab_size=V,
            max_position_embeddings=32))
        cmp = il.compare(il.inspect(m, tokens()))
        want = {f"bert.encoder.layer.{i}.{x}" for i in (0, 1) for x in
                ("attention.self.query", "attention.self.key", "attention.self.value", "intermediate.dense")}
        want |= {"cls.predictions.transform.dense", "cls.predictions.decoder"}
    else:
        torch.manual_seed(0)
        m = nn.TransformerEncoder(nn.TransformerEncoderLayer(64, 4, 128, batch_first=True, norm_first=True), 2,
                                  enable_nested_tensor=False)
        cmp = il.compare(il.inspect(m, torch.randn(8, 16, 64, generator=gen())))
        want = {"layers.0.linear1", "layers.1.linear1"}
    rows = {r.layer: r for r in cmp.rows}
    assert {n for n, r in rows.items() if r.predicted_std is not None} == want
    assert all(rows[n].std_ratio == pytest.approx(1.0, abs=0.12) for n in want), [(n, rows[n].std_ratio) for n in want]
    assert all(r.note.startswith("n/a: ") for n, r in rows.items() if n not in want)


def test_compare_without_blocks_is_unchanged_and_norm_nets_still_refused():
    m = il.models.mlp([32, 64, 64, 10], "tanh", init="xavier_normal", generator=gen())
    cmp = il.compare(il.inspect(m, torch.randn(64, 32, generator=gen(1))))
    assert all(r.note == "" and r.predicted_std is not None for r in cmp.rows)
    cnn = il.models.cnn(3, [8], "relu", norm="batch", num_classes=4, init="he_normal", generator=gen())
    with pytest.raises(ValueError, match="normalization"):
        il.compare(il.inspect(cnn, torch.randn(8, 3, 8, 8, generator=gen())))


# --- the main path -----------------------------------------------------------------------------------
@pytest.mark.parametrize("seed,d,layers", [(0, 32, 2), (1, 64, 4), (2, 96, 3)])
def test_bert_classifier_has_no_vanishing_gradient_from_branch_internal_layers(seed, d, layers):
    """The former false positive: δ of q/k/intermediate shrink ×0.02·√d inside each branch, the stream does not."""
    m = bert_cls(seed, d, layers)
    x = torch.randint(0, V, (16, 12), generator=gen(seed))
    ins = il.inspect(m, {"input_ids": x, "labels": torch.randint(0, 2, (16,), generator=gen(seed))})
    w = [r for r in ins.layers if r.kind == "linear"]
    g = [r.grad_norm for r in reversed(w)][:4]  # classifier, pooler, output.dense, intermediate.dense
    assert g[3] / g[0] < 1e-2  # the old chain: the trend was there, read across branch-internal layers
    assert not [f for f in ins.findings() if f.severity != "info"]
    path = main_path(ins.layers, ins.blocks)
    assert [s.label for s in path] == [b.name for b in ins.blocks] + ["bert.pooler.dense", "classifier"]


def test_main_path_keeps_a_non_residual_stack_of_blocks():
    """Repeated blocks without a residual: the block output is its last activation, so the trend stays."""
    torch.manual_seed(0)
    body = nn.Sequential(*[nn.Sequential(nn.Linear(64, 64), nn.Sigmoid()) for _ in range(10)])
    m = nn.Sequential(nn.Linear(32, 64), nn.Sigmoid(), body, nn.Linear(64, 10))
    ins = il.inspect(m, torch.randn(64, 32, generator=gen()), torch.randint(0, 10, (64,), generator=gen(1)))
    assert len(ins.blocks) == 10
    assert "vanishing_gradients" in [f.kind for f in ins.findings()]


# --- the held-out training check ---------------------------------------------------------------------
def _teacher_data(batch: int = 32):
    w = torch.randn(16, 4, generator=gen(7))

    def data(g):
        x = torch.randn(batch, 16, generator=g)
        return x, (x @ w).argmax(1)
    return data


def test_heldout_check_cannot_pass_for_identical_models_and_passes_for_a_real_fix():
    data = _teacher_data()
    opt = lambda p: torch.optim.Adam(p, lr=1e-2)  # noqa: E731
    torch.manual_seed(0)
    a = il.models.mlp([16, 32, 32, 4], "tanh", init="xavier_normal", generator=gen())
    same = heldout_check(a, a, data, steps=20, optimizer=opt)
    assert same.broken == same.fixed and not same.trains_better  # ties are not "clearly below"
    z = il.models.mlp([16, 32, 32, 4], "tanh", init="zeros")
    r = heldout_check(z, a, data, steps=20, optimizer=opt)
    assert r.trains_better and min(r.broken) - max(r.fixed) > max(r.fixed) - min(r.fixed) and max(r.fixed) < r.fixed_start
    assert all(torch.equal(p, q) for p, q in zip(z.parameters(), il.models.mlp([16, 32, 32, 4], "tanh", init="zeros").parameters()))


@pytest.mark.parametrize("fixed,start,want", [([1.0, 1.1, 1.2], 3.0, True),   # gap 0.8 > spread 0.2
                                              ([1.0, 1.5, 1.9], 3.0, False),  # gap 0.1 < spread 0.9
                                              ([1.0, 1.1, 2.5], 3.0, False),  # overlaps a broken run
                                              ([1.0, 1.1, 1.2], 1.1, False),  # no lower than before training
                                              ([1.0, math.nan, 1.2], 3.0, False)])
def test_heldout_criterion(fixed, start, want):
    c = HeldoutCheck(steps=1, broken=[2.0, 2.1, 2.2], fixed=fixed, broken_start=3.0, fixed_start=start)
    assert c.trains_better is want
    assert HeldoutCheck(steps=1, broken=[math.inf] * 3, fixed=[1.0, 1.0, 1.0], fixed_start=2.0).trains_better


def test_fix_with_data_uses_the_heldout_check():
    data = _teacher_data(64)
    torch.manual_seed(0)
    m = il.models.mlp([16, 32, 32, 32, 4], "tanh", init="normal", std=1.0, generator=gen())
    x, y = data(gen(3))
    rep = il.fix(m, x, y, steps=30, data=data, seeds=2, optimizer=lambda p: torch.optim.Adam(p, lr=1e-2))
    assert rep.findings_before[0].kind == "saturation" and rep.changed
    assert rep.check is not None and len(rep.check.fixed) == 2 and not rep.losses_fixed
    assert rep.check.fixed[0] != rep.check.fixed[1]  # two draws of the fix (and two batch orders)
    assert rep.trains_better is rep.check.trains_better is True
    assert "held-out check (30 steps × 2 seeds)" in rep.table()
    with pytest.raises(ValueError, match="data"):
        il.fix(m, x, y, data=[1, 2])
