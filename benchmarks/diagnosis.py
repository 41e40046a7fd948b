"""How good is the diagnosis? A labeled zoo of models, each healthy or broken with one known cause.

For every case: :func:`initlab.inspect` at its batch, the findings ranked by cause
(:func:`initlab.diagnosis.rank`); a broken case is *recalled* when its cause is the top finding and
names the right layer (prefix); a healthy case must have no warning. Then :func:`initlab.fix` on
the fixable broken cases: success when the fixed model's loss after ``steps`` optimizer steps (default
k = 30 Adam steps at lr 1e-3 on the case's batch, :func:`initlab.fix`'s default, chosen on the tune split's
healthy models alone) is ≤ 0.9 × the broken model's.

Thresholds were tuned on the ``tune`` split (seed 0, base widths/depths/batches) and are frozen
(:class:`initlab.probes.Thresholds` defaults); the ``heldout`` split re-draws every case with other
seeds, widths, depths and batch sizes.

    PYTHONPATH=src python benchmarks/diagnosis.py [--split tune|heldout|all] [--seed S] [--fast] [--no-fix]

``--fast`` runs the small subset the tests run (tests/diagnosis/test_benchmark.py) on the ``FAST``
variant (small widths, 2-block d = 32 transformers); ``--seed`` keeps only the variants with that seed
(to run the splits in parallel processes).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
from torch import nn  # noqa: E402

import initlab as il  # noqa: E402
from initlab.diagnosis import rank  # noqa: E402

V = 1000


@dataclass
class Case:
    name: str
    build: Callable[[dict], tuple[nn.Module, Any, Any]]  # variant -> (model, inputs, targets)
    cause: str | None  # expected top finding kind; None: healthy
    layer: str = ""  # prefix of a layer the top finding must name ("" any)
    fixable: bool = True
    lr: float = 1e-3  # Adam's learning rate for the training check
    fast: bool = False


# --- builders -----------------------------------------------------------------------------------------
def _gen(v: dict) -> torch.Generator:
    return torch.Generator().manual_seed(v["seed"])


def _classif(v: dict, d_in: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    g = _gen(v)
    x = torch.randn(v["batch"], d_in, generator=g)
    teacher = torch.randn(d_in, 10, generator=g)
    return x, (x @ teacher).argmax(1)


def mlp(act: str, init: str | None, depth: int | None = None, **opts: Any):
    def build(v: dict):
        torch.manual_seed(v["seed"])
        w, L = v["width"], depth or v["depth"]
        m = il.models.mlp([32] + [w] * L + [10], act, init=init, generator=_gen(v), **opts)
        return (m, *_classif(v))
    return build


def mlp_nan(v: dict):
    m, x, y = mlp("relu", "he_normal")(v)
    with torch.no_grad():
        m.fc3.weight[0, 0] = float("nan")
    return m, x, y


def mlp_dead_lr(v: dict):
    m, x, y = mlp("relu", "he_normal")(v)
    opt = torch.optim.SGD(m.parameters(), lr=v.get("kill_lr", 1.0))
    for _ in range(3):  # a learning rate that kills the ReLUs within 3 steps
        opt.zero_grad()
        nn.functional.cross_entropy(m(x), y).backward()
        opt.step()
    return m, x, y


def positive_inputs(v: dict):
    torch.manual_seed(v["seed"])
    m = il.models.mlp([32, v["width"], v["width"], 10], "sigmoid", init="xavier_normal", generator=_gen(v))
    g = _gen(v)
    x = torch.rand(4, 32, generator=g)  # all positive, a small batch
    return m, x, torch.randint(0, 10, (4,), generator=g)


def cnn_bn(v: dict):
    torch.manual_seed(v["seed"])
    m = il.models.cnn(3, [8, 16], "relu", norm="batch", num_classes=10, init="he_normal", generator=_gen(v))
    g = _gen(v)
    return m, torch.randn(v["batch"], 3, 8, 8, generator=g), torch.randint(0, 10, (v["batch"],), generator=g)


def _tokens(v: dict) -> dict:
    x = torch.randint(0, V, (v["batch"], v["seq"]), generator=_gen(v))
    return {"input_ids": x, "labels": x}


def gpt2(r: float = 0.02, edit: Callable[[nn.Module], None] | None = None, **cfg: Any):
    def build(v: dict):
        from transformers import GPT2Config, GPT2LMHeadModel

        torch.manual_seed(v["seed"])
        c = GPT2Config(n_layer=v["layers"], n_embd=v["d"], n_head=4, vocab_size=V, n_positions=64,
                       initializer_range=r, bos_token_id=0, eos_token_id=0, **cfg)
        m = GPT2LMHeadModel(c)
        if edit is not None:
            with torch.no_grad():
                edit(m)
        return m, _tokens(v), None
    return build


def bert(r: float = 0.02):
    def build(v: dict):
        from transformers import BertConfig, BertForMaskedLM

        torch.manual_seed(v["seed"])
        c = BertConfig(num_hidden_layers=v["layers"], hidden_size=v["d"], num_attention_heads=4,
                       intermediate_size=4 * v["d"], vocab_size=V, max_position_embeddings=64, initializer_range=r)
        return BertForMaskedLM(c), _tokens(v), None
    return build


class Encoder(nn.Module):
    """Embedding → pre-LN ``nn.TransformerEncoder`` → LM head (torch's default inits)."""

    def __init__(self, layers: int, d: int):
        super().__init__()
        self.emb = nn.Embedding(V, d)
        layer = nn.TransformerEncoderLayer(d, 4, 4 * d, dropout=0.0, batch_first=True, norm_first=True)
        self.enc = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.head = nn.Linear(d, V)

    def forward(self, input_ids: torch.Tensor, labels: torch.Tensor | None = None) -> "LMOutput":
        logits = self.head(self.enc(self.emb(input_ids)))
        loss = None if labels is None else nn.functional.cross_entropy(logits.reshape(-1, V), labels.reshape(-1))
        return LMOutput(logits, loss)


@dataclass
class LMOutput:
    """Like a Hugging Face output: ``logits`` and ``loss`` (when given labels)."""

    logits: torch.Tensor
    loss: torch.Tensor | None = None


def encoder(v: dict):
    torch.manual_seed(v["seed"])
    return Encoder(v["layers"], v["d"]), _tokens(v), None


def _scale_qk(factor: float):
    def edit(m: nn.Module) -> None:
        d = m.config.n_embd
        for blk in m.transformer.h:
            blk.attn.c_attn.weight[:, :2 * d] *= factor
    return edit


def _scale_proj(factor: float):
    def edit(m: nn.Module) -> None:
        for blk in m.transformer.h:
            blk.attn.c_proj.weight *= factor
            blk.mlp.c_proj.weight *= factor
    return edit


def _big_head(m: nn.Module) -> None:
    m.lm_head.weight.normal_(0, 1.0)


CASES = [
    Case("mlp he relu", mlp("relu", "he_normal"), None, fast=True),
    Case("mlp xavier tanh", mlp("tanh", "xavier_normal"), None),
    Case("cnn bn relu", cnn_bn, None),
    Case("gpt2 default", gpt2(), None, fast=True),
    Case("bert default", bert(), None),
    Case("encoder pre-LN", encoder, None),
    Case("mlp zeros", mlp("relu", "zeros"), "symmetric_units", "fc1", fast=True),
    Case("mlp constant", mlp("tanh", "constant", value=0.05), "symmetric_units", "fc1"),
    Case("tanh N(0,0.01²)", mlp("tanh", "normal", depth=6, std=0.01), "forward_collapse", "fc"),
    Case("tanh N(0,1)", mlp("tanh", "normal", std=1.0), "saturation", "act", fast=True),
    Case("relu N(0,1)", mlp("relu", "normal", std=1.0), "exploding_activations", "fc"),
    # already Xavier: σ' ≤ 1/4 shrinks δ at any scale; il.fix says so (normalization is the structural fix)
    Case("sigmoid 12 layers", mlp("sigmoid", "xavier_normal", depth=12), "vanishing_gradients", "fc", fixable=False),
    Case("relu killed by lr", mlp_dead_lr, "dead_units", "act", fixable=False),
    Case("positive inputs, batch 4", positive_inputs, "non_zero_centered", "fc", fixable=False),
    Case("NaN weight at fc3", mlp_nan, "nonfinite", "fc3", fast=True),
    Case("gpt2 initializer_range 1", gpt2(1.0), "attention_collapse", "transformer.h.0", fast=True),
    Case("gpt2 q,k ×30", gpt2(edit=_scale_qk(30.0)), "attention_collapse", "transformer.h"),
    Case("gpt2 residual proj ×50", gpt2(edit=_scale_proj(50.0)), "residual_growth", "transformer.h"),
    Case("gpt2 untied head N(0,1)", gpt2(edit=_big_head, tie_word_embeddings=False), "exploding_logits", "logits"),
    Case("bert initializer_range 1", bert(1.0), "attention_collapse", "bert.encoder.layer.0"),
]

SPLITS = {
    "tune": [dict(seed=0, width=64, depth=4, batch=64, layers=4, d=64, seq=16)],
    "heldout": [dict(seed=1, width=96, depth=5, batch=48, layers=3, d=96, seq=12),
                dict(seed=2, width=48, depth=3, batch=64, layers=2, d=64, seq=16)],
}
FAST = dict(seed=2, width=48, depth=3, batch=64, layers=2, d=32, seq=8)  # the tests' subset: a held-out seed


def run_case(case: Case, v: dict, do_fix: bool, steps: int) -> dict:
    model, inputs, targets = case.build(v)
    t0 = time.time()
    found = rank(il.inspect(model, inputs, targets).findings())
    warn = [f for f in found if f.severity != "info"]
    top = found[0] if found else None
    if case.cause is None:
        ok = not warn
    else:
        ok = top is not None and top.kind == case.cause and (not case.layer or any(l.startswith(case.layer) for l in top.layers))
    row = {"case": case.name, "cause": case.cause or "healthy", "top": top.kind if top else "none",
           "ok": ok, "kinds": [f.kind for f in found], "fixed": None, "seconds": 0.0}
    if do_fix and case.cause is not None and case.fixable:
        rep = il.fix(model, inputs, targets, steps=steps, optimizer=lambda p, lr=case.lr: torch.optim.Adam(p, lr=lr))
        row["fixed"] = bool(rep.trains_better)
        row["loss"] = (rep.losses_broken[-1] if rep.losses_broken else None, rep.losses_fixed[-1] if rep.losses_fixed else None)
    row["seconds"] = time.time() - t0
    return row


def score(rows: list[dict]) -> str:
    kinds = sorted({r["cause"] for r in rows} | {r["top"] for r in rows if r["cause"] != "healthy"})
    lines = ["| finding kind | cases | top = cause (TP) | false top (FP) | precision | recall |",
             "|---|---|---|---|---|---|"]
    for k in kinds:
        if k in ("healthy", "none"):
            continue
        n = sum(r["cause"] == k for r in rows)
        tp = sum(r["cause"] == k and r["ok"] for r in rows)
        fp = sum(r["top"] == k and not (r["cause"] == k and r["ok"]) and (r["cause"] != "healthy" or bool(r["kinds"])) for r in rows)
        prec = f"{tp / (tp + fp):.2f}" if tp + fp else "-"
        rec = f"{tp / n:.2f}" if n else "-"
        lines.append(f"| {k} | {n} | {tp} | {fp} | {prec} | {rec} |")
    healthy = [r for r in rows if r["cause"] == "healthy"]
    broken = [r for r in rows if r["cause"] != "healthy"]
    fixes = [r for r in rows if r["fixed"] is not None]
    lines.append("")
    lines.append(f"healthy without warning: {sum(r['ok'] for r in healthy)}/{len(healthy)}; "
                 f"broken with the cause on top: {sum(r['ok'] for r in broken)}/{len(broken)}"
                 + (f"; il.fix trains better: {sum(r['fixed'] for r in fixes)}/{len(fixes)}" if fixes else ""))
    return "\n".join(lines)


def confusion(rows: list[dict]) -> str:
    causes = sorted({r["cause"] for r in rows})
    tops = sorted({r["top"] if r["cause"] != "healthy" or not r["ok"] else "none" for r in rows})
    head = "| cause \\ top finding | " + " | ".join(tops) + " |"
    out = [head, "|" + "---|" * (len(tops) + 1)]
    for c in causes:
        cells = [sum(r["cause"] == c and (r["top"] if r["cause"] != "healthy" or not r["ok"] else "none") == t
                     for r in rows) for t in tops]
        out.append(f"| {c} | " + " | ".join(str(x) if x else "." for x in cells) + " |")
    return "\n".join(out)


def _losses(r: dict) -> str:
    b, f = r.get("loss") or (None, None)
    return "" if b is None or f is None else f" (loss {b:.3g} → {f:.3g}, ratio {f / b:.2f})"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--split", choices=("tune", "heldout", "all"), default="all")
    p.add_argument("--fast", action="store_true")
    p.add_argument("--no-fix", action="store_true")
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--seed", type=int, default=None)
    a = p.parse_args(argv)
    splits = ["tune", "heldout"] if a.split == "all" else [a.split]
    cases = [c for c in CASES if c.fast] if a.fast else CASES
    variants = {"fast": [FAST]} if a.fast else {s: SPLITS[s] for s in splits}
    for s, vs in variants.items():
        rows = []
        for v in vs:
            if a.seed is not None and v["seed"] != a.seed:
                continue
            for c in cases:
                r = run_case(c, v, not a.no_fix, a.steps)
                rows.append(r)
                print(f"[{s} seed {v['seed']}] {c.name:28s} cause={r['cause']:22s} top={r['top']:22s} "
                      f"{'ok' if r['ok'] else 'MISS'} fixed={r['fixed']}{_losses(r)} ({r['seconds']:.0f}s)", flush=True)
        print(f"\n## {s} ({len(rows)} models)\n")
        print(score(rows))
        print()
        print(confusion(rows))
        print(flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
