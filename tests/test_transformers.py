"""Transformers (issue 13): Hugging Face GPT-2/BERT built from configs (no downloads) and torch's own
transformer modules — probed, initialized, diagnosed and fixed."""
from __future__ import annotations

import math
import os

import pytest
import torch
from torch import nn

os.environ["HF_HUB_OFFLINE"] = "1"
transformers = pytest.importorskip("transformers")  # the "test" extra installs it
transformers.utils.logging.set_verbosity_error()

import initlab as il  # noqa: E402
from initlab.structure import residual_outputs  # noqa: E402

V = 1000


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def gpt2(layers: int = 2, d: int = 64, r: float = 0.02, **kw) -> nn.Module:
    torch.manual_seed(0)
    cfg = transformers.GPT2Config(n_layer=layers, n_embd=d, n_head=4, vocab_size=V, n_positions=32,
                                  initializer_range=r, bos_token_id=0, eos_token_id=0, **kw)
    return transformers.GPT2LMHeadModel(cfg)


def tokens(b: int = 4, t: int = 12, seed: int = 0) -> dict:
    x = torch.randint(0, V, (b, t), generator=gen(seed))
    return {"input_ids": x, "labels": x}


# --- see: Conv1D, the stream, attention, logits ------------------------------------------------------
def test_gpt2_conv1d_probed_with_fans_from_transposed_weight_and_manual_hook_numbers():
    model = gpt2()
    seen = {}
    h = model.transformer.h[0].attn.c_attn.register_forward_hook(lambda m, a, o: seen.setdefault("y", o.detach()))
    ins = il.inspect(model, tokens())
    h.remove()
    rec = ins["transformer.h.0.attn.c_attn"]
    assert (rec.kind, rec.module_type, rec.fan_in, rec.fan_out) == ("linear", "Conv1D", 64, 192)
    assert ins["transformer.h.0.mlp.c_proj"].fan_in == 256 and ins["transformer.h.0.mlp.c_proj"].fan_out == 64
    y = seen["y"].double()
    assert rec.mean == pytest.approx(float(y.mean()), rel=1e-9, abs=1e-12)
    assert rec.std == pytest.approx(float(y.std(correction=0)), rel=1e-9)
    assert rec.weight_std == pytest.approx(float(model.transformer.h[0].attn.c_attn.weight.detach().double().std(correction=0)))
    labels = [r.label for r in ins.layers]
    assert "transformer.wte" in labels and "lm_head" in labels  # embedding outputs and the head
    assert any("tied parameters: transformer.wte.weight = lm_head.weight" in n for n in ins.notes)
    assert "residual stream" in ins.table() and "attention" in ins.table()


def test_residual_stream_and_branch_ratio_equal_a_manual_hook():
    model = gpt2(layers=3)
    io, grads = [], {}
    first = lambda o: o if isinstance(o, torch.Tensor) else o[0]  # noqa: E731 - a tensor or a tuple by version

    def record(i, m, a, o):
        io.append((a[0].detach().double(), first(o).detach().double()))
        if first(o).requires_grad:  # ∂L/∂(block output) of inspect's own backward pass
            first(o).register_hook(lambda g: None if i in grads else grads.update({i: g.detach().double()}))
    hooks = [b.register_forward_hook(lambda m, a, o, i=i: record(i, m, a, o)) for i, b in enumerate(model.transformer.h)]
    ins = il.inspect(model, tokens())
    for hk in hooks:
        hk.remove()
    assert [b.name for b in ins.blocks] == [f"transformer.h.{i}" for i in range(3)]
    for b, (x, y) in zip(ins.blocks, io):
        assert b.std == pytest.approx(float(y.std(correction=0)), rel=1e-9)
        assert b.branch_ratio == pytest.approx(float((y - x).std(correction=0) / x.std(correction=0)), rel=1e-9)
        assert b.grad_norm is not None and b.grad_norm > 0
    assert [b.grad_norm for b in ins.blocks] == pytest.approx([float(grads[i].norm()) for i in range(3)], rel=1e-9)


def _entropy(w: torch.Tensor) -> torch.Tensor:
    """Per head mean over rows of H(p)/ln(S) from attention weights (B, H, T, S)."""
    h = -(w * w.clamp_min(1e-300).log()).sum(-1) / math.log(w.shape[-1])
    return h.mean(dim=(0, 2))


def test_mha_attention_entropy_equals_the_weights_the_module_returns():
    torch.manual_seed(0)
    mha = nn.MultiheadAttention(32, 4, batch_first=True)
    with torch.no_grad():
        mha.in_proj_weight.mul_(4.0)  # sharper attention, a non-trivial entropy
    model = nn.ModuleDict({"attn": mha})
    x = torch.randn(3, 10, 32, generator=gen())
    probe = il.probes.attention.AttentionProbe()
    probe.watch_modules(model)
    with probe:
        _, w = mha(x, x, x, need_weights=True, average_attn_weights=False)
    probe.remove()
    rec = probe.records[0]
    assert rec.source == "mha" and rec.heads == 4
    assert rec.entropy == pytest.approx(_entropy(w.double()).tolist(), rel=1e-6)
    assert 0.05 < min(rec.entropy) < 0.95
    # q and k per head from the packed in_proj_weight's slices, computed by hand
    q = nn.functional.linear(x, mha.in_proj_weight[:32], mha.in_proj_bias[:32]).detach().double()
    k = nn.functional.linear(x, mha.in_proj_weight[32:64], mha.in_proj_bias[32:64]).detach().double()
    assert rec.q_std == pytest.approx([float(q[..., 8 * h:8 * h + 8].std(correction=0)) for h in range(4)], rel=1e-6)
    assert rec.k_std == pytest.approx([float(k[..., 8 * h:8 * h + 8].std(correction=0)) for h in range(4)], rel=1e-6)


def test_sdpa_and_eager_softmax_paths_agree_on_gpt2():
    recs = {}
    for impl in ("sdpa", "eager"):
        model = gpt2(r=0.3, attn_implementation=impl)
        ins = il.inspect(model, tokens(t=10))
        recs[impl] = ins.attention
    assert [a.source for a in recs["sdpa"]] == ["sdpa", "sdpa"]
    assert [a.source for a in recs["eager"]] == ["softmax", "softmax"]
    for a, b in zip(recs["sdpa"], recs["eager"]):
        assert a.name == b.name
        assert a.entropy == pytest.approx(b.entropy, rel=1e-5)
        assert a.logit_std == pytest.approx(b.logit_std, rel=1e-4)


def test_mha_fast_path_is_disabled_while_probing_and_restored():
    layer = nn.TransformerEncoderLayer(32, 4, 64, batch_first=True)
    enc = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False).eval()
    before = torch.backends.mha.get_fastpath_enabled()
    ins = il.inspect(enc, torch.randn(2, 6, 32, generator=gen()))
    assert torch.backends.mha.get_fastpath_enabled() == before
    assert any("fast path was disabled" in n for n in ins.notes)
    assert [a.source for a in ins.attention] == ["mha", "mha"] and len(ins.blocks) == 2


# --- initialize ----------------------------------------------------------------------------------------
def test_conv1d_initialized_with_its_own_fans():
    model = gpt2(d=128)
    rep = il.initialize(model, "he_normal", generator=gen())
    r = rep["transformer.h.0.mlp.c_fc"]  # Conv1D(nf=512, nx=128): fan_in 128
    assert (r.type, r.fan_in, r.fan_out) == ("Conv1D", 128, 512)
    assert model.transformer.h[0].mlp.c_fc.weight.std().item() == pytest.approx(math.sqrt(2 / 128), rel=0.03)
    assert model.transformer.h[0].mlp.c_proj.weight.std().item() == pytest.approx(math.sqrt(2 / 512), rel=0.03)
    # the tied head is never re-initialized through lm_head (the embedding keeps its std)
    assert model.lm_head.weight is model.transformer.wte.weight
    assert model.transformer.wte.weight.std().item() == pytest.approx(0.02, rel=0.03)
    assert any(k == "lm_head.weight" and "tied" in why for k, why in rep.untouched)


def test_auto_gives_the_output_layer_gain_one_when_fx_cannot_trace():
    model = gpt2(tie_word_embeddings=False)
    rep = il.initialize(model, "auto", generator=gen())
    head = rep["lm_head"]
    assert (head.activation, head.gain, head.activation_source) == ("none", 1.0, "detected")
    assert model.lm_head.weight.std().item() == pytest.approx(1 / math.sqrt(64), rel=0.05)


def test_three_schemes_stds_against_their_formulas():
    L, d = 4, 128
    model = gpt2(layers=L, d=d)
    rep = il.initialize(model, "gpt2", generator=gen())
    h = model.transformer.h
    assert residual_outputs(model)["transformer.h.0"] == ["transformer.h.0.attn.c_proj", "transformer.h.0.mlp.c_proj"]
    assert h[1].attn.c_attn.weight.std().item() == pytest.approx(0.02, rel=0.03)
    assert h[1].mlp.c_proj.weight.std().item() == pytest.approx(0.02 / math.sqrt(2 * L), rel=0.03)
    assert rep["transformer.h.1.mlp.c_proj"].expected_std == pytest.approx(0.02 / math.sqrt(2 * L))
    assert model.transformer.wte.weight.std().item() == pytest.approx(0.02, rel=0.03)
    assert rep["transformer.wte"].scheme == "gpt2" and rep["transformer.h.0.ln_1"].scheme == "ones"
    assert rep["lm_head"].scheme == "tied"
    assert float(h[0].attn.c_attn.bias.abs().max()) == 0.0

    il.initialize(model, "small_init", generator=gen())
    s = math.sqrt(2 / (5 * d))
    for w in (h[2].attn.c_attn.weight, h[2].mlp.c_proj.weight, model.transformer.wte.weight):
        assert w.std().item() == pytest.approx(s, rel=0.03)

    rep = il.initialize(model, "ds_init", alpha=1.0, generator=gen())
    for l in (1, 4):  # block l: U(±√(6/(fan_in+fan_out))/√l), std = bound/√3
        w = h[l - 1].mlp.c_fc.weight
        bound = math.sqrt(6 / (d + 4 * d)) / math.sqrt(l)
        assert w.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.03)
        assert float(w.abs().max()) <= bound + 1e-7
    assert any("embedding kept" in why for _, why in rep.untouched)


def test_transformer_schemes_slice_mha_in_proj_into_q_k_v():
    layer = nn.TransformerEncoderLayer(64, 4, 256, batch_first=True)
    enc = nn.TransformerEncoder(layer, 3, enable_nested_tensor=False)
    rep = il.initialize(enc, "gpt2", generator=gen())
    names = [r.name for r in rep.layers]
    assert "layers.0.self_attn.in_proj_weight[q]" in names and "layers.2.self_attn.in_proj_weight[v]" in names
    q = rep["layers.0.self_attn.in_proj_weight[k]"]
    assert (q.fan_in, q.fan_out) == (64, 64)
    assert enc.layers[0].self_attn.in_proj_weight.std().item() == pytest.approx(0.02, rel=0.05)
    assert enc.layers[0].linear2.weight.std().item() == pytest.approx(0.02 / math.sqrt(6), rel=0.05)
    assert enc.layers[0].self_attn.out_proj.weight.std().item() == pytest.approx(0.02 / math.sqrt(6), rel=0.05)


# --- findings --------------------------------------------------------------------------------------------
def test_findings_fire_on_broken_gpt2_and_stay_silent_on_healthy():
    assert il.inspect(gpt2(layers=3), tokens()).findings() == []
    kinds = {f.kind for f in il.inspect(gpt2(layers=3, r=1.0), tokens()).findings()}
    assert {"residual_growth", "attention_collapse", "exploding_logits"} <= kinds
    f = next(f for f in il.inspect(gpt2(layers=3, r=1.0), tokens()).findings() if f.kind == "attention_collapse")
    assert f.evidence["collapsed_fraction"] > 0.9 and f.fix and "transformer.h.0" in f.layers


def test_exploding_logits_alone_on_an_untied_big_head():
    model = gpt2(tie_word_embeddings=False)
    with torch.no_grad():
        model.lm_head.weight.normal_(0, 1.0, generator=gen())
    kinds = [f.kind for f in il.inspect(model, tokens()).findings()]
    assert kinds == ["exploding_logits"]


# --- fix -------------------------------------------------------------------------------------------------
def test_fix_gpt2_initializer_range_one_trains_better():
    model = gpt2(r=1.0)
    rep = il.fix(model, tokens(b=8), steps=8)
    assert rep.changed and rep.actions[0].scheme == "gpt2"
    gone = {k for k, before, after in rep.per_finding() if before and not after}
    assert {"attention_collapse", "exploding_logits"} <= gone
    assert rep.trains_better, rep.table()
    assert rep.losses_fixed[-1] < 0.9 * rep.losses_broken[-1]


@pytest.mark.parametrize("init,opts,kind", [("zeros", {}, "symmetric_units"),
                                            ("normal", {"std": 1.0}, "saturation")])
def test_fix_mlp_cases(init, opts, kind):
    torch.manual_seed(0)
    model = il.models.mlp([32, 64, 64, 64, 64, 10], "tanh", init=init, generator=gen(), **opts)
    x = torch.randn(64, 32, generator=gen(1))
    y = (x @ torch.randn(32, 10, generator=gen(2))).argmax(1)
    rep = il.fix(model, x, y, steps=30, optimizer=lambda p: torch.optim.Adam(p, lr=1e-2))
    assert rep.findings_before[0].kind == kind
    assert [a.scheme for a in rep.actions] == ["auto"] and not rep.findings_after
    assert rep.trains_better, rep.table()


def test_fix_nan_weight_reinitializes_and_reports_the_unfixable():
    torch.manual_seed(0)
    model = il.models.mlp([16, 32, 32, 4], "relu", init="he_normal", generator=gen())
    with torch.no_grad():
        model.fc2.weight[0, 0] = float("nan")
    x, y = torch.randn(32, 16, generator=gen(1)), torch.randint(0, 4, (32,), generator=gen(2))
    rep = il.fix(model, x, y, steps=5)
    assert rep.findings_before[0].kind == "nonfinite" and not rep.findings_after
    assert torch.isfinite(model.fc2.weight).all() and rep.trains_better
    # all-positive inputs are not an initialization problem: nothing changes
    m2 = il.models.mlp([16, 32, 4], "sigmoid", init="xavier_normal", generator=gen())
    before = [p.detach().clone() for p in m2.parameters()]
    rep2 = il.fix(m2, torch.rand(2, 16, generator=gen()), torch.randint(0, 4, (2,), generator=gen()), steps=0)
    assert not rep2.changed and any(k == "non_zero_centered" for k, _ in rep2.not_fixable)
    assert all(torch.equal(a, b) for a, b in zip(before, m2.parameters()))


def test_fix_undoes_a_reinit_that_leaves_its_finding_sigmoid_depth():
    """12 Xavier sigmoid layers: δ shrinks at any weight scale (σ' ≤ 1/4), so auto's re-draw keeps
    vanishing_gradients; fix restores the model bit for bit and reports it not fixable by initialization."""
    torch.manual_seed(0)
    model = il.models.mlp([32] + [64] * 12 + [10], "sigmoid", init="xavier_normal", generator=gen())
    x = torch.randn(64, 32, generator=gen(1))
    y = (x @ torch.randn(32, 10, generator=gen(2))).argmax(1)
    before = [p.detach().clone() for p in model.parameters()]
    rep = il.fix(model, x, y, steps=5)
    assert rep.findings_before[0].kind == "vanishing_gradients"
    assert not rep.changed and rep.trains_better is None and not rep.losses_fixed
    assert any(k == "vanishing_gradients" and "normalization" in why for k, why in rep.not_fixable)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_fix_rejects_bad_arguments():
    with pytest.raises(ValueError, match="steps"):
        il.fix(nn.Linear(2, 2), torch.randn(4, 2), steps=-1)
    with pytest.raises(ValueError, match="model"):
        il.fix("model", torch.randn(4, 2))
