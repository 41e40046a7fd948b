"""How good is the diagnosis? A labeled zoo of models, each healthy or broken with one known cause.

Every case is a model and a *task*: ``data(generator) -> (inputs, targets)`` draws a fresh batch (MLPs and
the CNN: 10-class labels from a fixed random linear teacher; the language models: a sparse bigram chain
on V = 1,000 tokens, 4 successors per token — learnable, so a new batch is new data).

**Diagnosis.** :func:`initlab.inspect` on the case's first batch, the findings ranked by cause
(:func:`initlab.diagnosis.rank`); a broken case is *recalled* when its cause is the top finding and names
the right layer (prefix); a healthy case must have no warning.

**Fix success** (:func:`initlab.fix` with ``data=``: :mod:`initlab.diagnosis.check`). The broken model
and 3 draws of the fix (the model ``il.fix`` returns and two re-draws of the same schemes on the same layers)
each take k Adam steps (the case's learning rate, 1e-3) on fresh batches of the case's task, 3 batch
orders, and are scored on a held-out batch neither trained on; success when every fixed run ends below
every broken run by more than the fixed runs' own spread, and the fixed model's held-out loss fell.
Why this and not the former one-batch check (30 steps on the inspected batch, fixed ≤ 0.9 × broken): that
measured how fast a model memorizes one batch — a N(0, 1) untied LM head memorizes faster (its large
logits act as a large output learning rate) and Adam's per-parameter steps absorb a ×30 q/k scale on one
batch — not whether it trains; and a fraction of the loss is no measure of "clearly" for a loss that
starts at ln V and falls by tenths of a nat. Held-out data asks whether the model learns the task; the
draws and batch orders ask whether the difference is larger than what another draw of the fix would give.
``--null`` measures that: each healthy model against 3 other draws of itself, where nothing is to fix.
The check's rule calls 0 of those 6 pairs "better"; a first version (an order-only rank test, fixed = one
draw) called 3 of 6 "better": two draws of one healthy init train to consistently different losses,
which is why the fix's draws vary too.
k = 90 was chosen with :func:`choose_k` on the tune split's *healthy* models alone (``--choose-k``): the
smallest multiple of 10 at which every one of them lowers its held-out loss by ≥ 20 % (GPT-2 needs 90,
BERT 30, the encoder 20, the MLPs and the CNN 10–30) — the same rule as the former k, before any broken
case was scored.

Thresholds were tuned on the ``tune`` split (seed 0, base widths/depths/batches) and are frozen
(:class:`initlab.probes.Thresholds` defaults); the ``heldout`` split re-draws every case with other
seeds, widths, depths and batch sizes.

    PYTHONPATH=src python benchmarks/diagnosis.py [--split tune|heldout|all] [--seed S] [--fast] [--no-fix]
        [--steps K] [--seeds S] [--threads N] [--choose-k] [--null]

``--fast`` runs the small subset the tests run (tests/diagnosis/test_benchmark.py) on the ``FAST``
variant (small widths, 2-block d = 32 transformers); ``--seed`` keeps only the variants with that seed
(to run the splits in parallel processes).
"""
from __future__ import annotations

import argparse
import math
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


# --- builders: each returns (model, data); data(generator) -> (inputs, targets) draws a batch of the case's task
Data = Callable[[torch.Generator], tuple[Any, Any]]


def _gen(v: dict) -> torch.Generator:
    return torch.Generator().manual_seed(v["seed"])


def teacher_task(v: dict, shape: tuple[int, ...] = (32,), positive: bool = False) -> Data:
    """Classification by a fixed random linear teacher: y = argmax(x·W) over 10 classes (learnable, and a
    new batch is new data). ``positive``: x ~ U(0, 1) (all positive), labels from the centred x."""
    d_in = math.prod(shape)
    teacher = torch.randn(d_in, 10, generator=torch.Generator().manual_seed(10_000 + v["seed"]))

    def data(g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.rand(v["batch"], *shape, generator=g) if positive else torch.randn(v["batch"], *shape, generator=g)
        return x, ((x - 0.5 if positive else x).reshape(len(x), -1) @ teacher).argmax(1)
    return data


def bigram_task(v: dict, successors: int = 4) -> Data:
    """Token sequences of a sparse Markov chain on V tokens: each token has ``successors`` random successors
    (equally likely), the first token is uniform. Entropy rate ln 4 ≈ 1.39 nats vs. ln V ≈ 6.91 for a
    model that has learned nothing; a next-token model must learn a V × V table's sparse structure."""
    succ = torch.randint(0, V, (V, successors), generator=torch.Generator().manual_seed(20_000 + v["seed"]))

    def data(g: torch.Generator) -> tuple[dict, None]:
        x = torch.empty(v["batch"], v["seq"], dtype=torch.long)
        x[:, 0] = torch.randint(0, V, (v["batch"],), generator=g)
        for t in range(1, v["seq"]):
            x[:, t] = succ[x[:, t - 1], torch.randint(0, successors, (v["batch"],), generator=g)]
        return {"input_ids": x, "labels": x}, None
    return data


def mlp(act: str, init: str | None, depth: int | None = None, **opts: Any):
    def build(v: dict):
        torch.manual_seed(v["seed"])
        w, L = v["width"], depth or v["depth"]
        m = il.models.mlp([32] + [w] * L + [10], act, init=init, generator=_gen(v), **opts)
        return m, teacher_task(v)
    return build


def mlp_nan(v: dict):
    m, data = mlp("relu", "he_normal")(v)
    with torch.no_grad():
        m.fc3.weight[0, 0] = float("nan")
    return m, data


KILL_LRS = (1.0, 2.0, 4.0, 8.0)  # fixed before scoring: the case's lr is the first that kills half a layer


def mlp_dead_lr(v: dict):
    """A learning rate that kills the ReLUs within 3 SGD steps. Labelled by measurement: the lr is the first
    of :data:`KILL_LRS` after which ≥ 50 % of some layer's units output 0 on the whole batch (a He-ReLU
    MLP at init: ≤ 5 % in the zoo); the fraction reached is kept in ``v["killed"]`` and printed."""
    for lr in KILL_LRS:
        m, data = mlp("relu", "he_normal")(v)
        x, y = data(_gen(v))
        opt = torch.optim.SGD(m.parameters(), lr=lr)
        for _ in range(3):
            opt.zero_grad()
            nn.functional.cross_entropy(m(x), y).backward()
            opt.step()
        with torch.no_grad():
            h, dead = x, 0.0
            for layer in m:
                h = layer(h)
                if isinstance(layer, nn.ReLU):
                    dead = max(dead, float((h <= 0).all(0).double().mean()))
        if dead >= 0.5:
            break
    v["killed"] = (lr, dead)
    return m, data


def positive_inputs(v: dict):
    torch.manual_seed(v["seed"])
    m = il.models.mlp([32, v["width"], v["width"], 10], "sigmoid", init="xavier_normal", generator=_gen(v))
    return m, teacher_task(dict(v, batch=4), positive=True)  # all positive, a small batch


def cnn_bn(v: dict):
    torch.manual_seed(v["seed"])
    m = il.models.cnn(3, [8, 16], "relu", norm="batch", num_classes=10, init="he_normal", generator=_gen(v))
    return m, teacher_task(v, (3, 8, 8))


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
        return m, bigram_task(v)
    return build


def bert(r: float = 0.02):
    def build(v: dict):
        from transformers import BertConfig, BertForMaskedLM

        torch.manual_seed(v["seed"])
        c = BertConfig(num_hidden_layers=v["layers"], hidden_size=v["d"], num_attention_heads=4,
                       intermediate_size=4 * v["d"], vocab_size=V, max_position_embeddings=64, initializer_range=r)
        return BertForMaskedLM(c), bigram_task(v)
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
    return Encoder(v["layers"], v["d"]), bigram_task(v)


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
STEPS = 90  # the check's k: choose_k on the tune split (--choose-k)
SEEDS = 3  # runs per model in the held-out check (il.fix's default)
FAST = dict(seed=2, width=48, depth=3, batch=64, layers=2, d=32, seq=8)  # the tests' subset: a held-out seed


def run_case(case: Case, v: dict, do_fix: bool, steps: int = STEPS, seeds: int = SEEDS) -> dict:
    v = dict(v)  # a builder may note what it measured (v["killed"])
    model, data = case.build(v)
    inputs, targets = data(_gen(v))  # the batch inspected (and fixed on)
    t0 = time.time()
    found = rank(il.inspect(model, inputs, targets).findings())
    warn = [f for f in found if f.severity != "info"]
    top = found[0] if found else None
    if case.cause is None:
        ok = not warn
    else:
        ok = top is not None and top.kind == case.cause and (not case.layer or any(l.startswith(case.layer) for l in top.layers))
    row = {"case": case.name, "cause": case.cause or "healthy", "top": top.kind if top else "none",
           "ok": ok, "kinds": [f.kind for f in found], "fixed": None, "seconds": 0.0,
           "note": f" (lr {v['killed'][0]:g}: {v['killed'][1]:.0%} of a layer dead)" if "killed" in v else ""}
    if do_fix and case.cause is not None and case.fixable:
        rep = il.fix(model, inputs, targets, steps=steps, data=data, seeds=seeds,
                     optimizer=lambda p, lr=case.lr: torch.optim.Adam(p, lr=lr))
        row["fixed"] = bool(rep.trains_better)
        if rep.check is not None:
            c = rep.check
            row["loss"] = (c.broken_start, sum(c.broken) / len(c.broken), c.fixed_start, sum(c.fixed) / len(c.fixed),
                           min(c.broken) - max(c.fixed), max(c.fixed) - min(c.fixed))
    row["seconds"] = time.time() - t0
    return row


def null_check(v: dict, steps: int = STEPS, seeds: int = SEEDS) -> int:
    """The criterion's false-positive rate: each healthy model against ``seeds`` other draws of the same case
    (same scheme, nothing to fix), in the places of "broken" and "fixed": the check should rarely call the
    other draws better. Returns how many pairs it did."""
    from initlab.diagnosis import heldout_check

    hits = 0
    for c in (c for c in CASES if c.cause is None):
        a, data = c.build(v)
        others = lambda s, c=c: c.build(dict(v, seed=v["seed"] + 100 + s))[0]  # noqa: E731
        r = heldout_check(a, others, data, steps=steps, seeds=seeds, optimizer=lambda p, lr=c.lr: torch.optim.Adam(p, lr=lr))
        hits += r.trains_better
        print(f"{c.name:28s} held-out loss a: {[round(x, 3) for x in r.broken]}, other draw: "
              f"{[round(x, 3) for x in r.fixed]} -> 'trains better': {r.trains_better}", flush=True)
    return hits


def choose_k(v: dict, max_steps: int = 300, drop: float = 0.2, every: int = 10) -> int:
    """The training check's k, from the *healthy* cases alone: the smallest multiple of ``every`` at which
    every healthy model's held-out loss (seed 0, the check's optimizer) is ≤ (1 − drop) × its start."""
    from initlab.diagnosis.check import HELDOUT_SEED, heldout_curve

    need = 0
    for c in (c for c in CASES if c.cause is None):
        model, data = c.build(v)
        held = data(torch.Generator().manual_seed(HELDOUT_SEED))
        curve = heldout_curve(model, data, 0, max_steps, None, lambda p, lr=c.lr: torch.optim.Adam(p, lr=lr), held,
                              every=every, until=lambda cv: cv[-1] <= (1 - drop) * cv[0])
        k = every * (len(curve) - 1) if curve[-1] <= (1 - drop) * curve[0] else math.inf
        print(f"{c.name:28s} held-out loss every {every} steps: {[round(x, 3) for x in curve]} -> k = {k}", flush=True)
        need = max(need, k)
    return need


def _per_kind(rows: list[dict]) -> dict[str, list[str]]:
    """kind -> [cases, TP, FP, precision, recall] (top finding vs cause)."""
    kinds = sorted({r["cause"] for r in rows} | {r["top"] for r in rows if r["cause"] != "healthy"})
    out = {}
    for k in kinds:
        if k in ("healthy", "none"):
            continue
        n = sum(r["cause"] == k for r in rows)
        tp = sum(r["cause"] == k and r["ok"] for r in rows)
        fp = sum(r["top"] == k and not (r["cause"] == k and r["ok"]) and (r["cause"] != "healthy" or bool(r["kinds"])) for r in rows)
        out[k] = [str(n), str(tp), str(fp), f"{tp / (tp + fp):.2f}" if tp + fp else "-", f"{tp / n:.2f}" if n else "-"]
    return out


def _summary(rows: list[dict]) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
    """(passed, of) for: healthy without warning, broken with the cause on top, il.fix trains better."""
    healthy = [r for r in rows if r["cause"] == "healthy"]
    broken = [r for r in rows if r["cause"] != "healthy"]
    fixes = [r for r in rows if r["fixed"] is not None]
    return ((sum(r["ok"] for r in healthy), len(healthy)), (sum(r["ok"] for r in broken), len(broken)),
            (sum(bool(r["fixed"]) for r in fixes), len(fixes)))


def _ratio(a: int, b: int, pct: bool = False) -> str:
    return "-" if not b else f"{a}/{b}" + (f" ({100 * a / b:.0f} %)" if pct else "")


def score(rows: list[dict]) -> str:
    lines = ["| finding kind | cases | top = cause (TP) | false top (FP) | precision | recall |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {k} | " + " | ".join(v) + " |" for k, v in _per_kind(rows).items()]
    h, b, f = _summary(rows)
    lines += ["", f"healthy without warning: {_ratio(*h)}; broken with the cause on top: {_ratio(*b)}"
              + (f"; il.fix trains better: {_ratio(*f)}" if f[1] else "")]
    return "\n".join(lines)


def readme_table(by_split: dict[str, list[dict]]) -> str:
    """The README's tables: both splits side by side."""
    t, h = _per_kind(by_split["tune"]), _per_kind(by_split["heldout"])
    nt, nh = len(by_split["tune"]), len(by_split["heldout"])
    out = ["| finding kind | tune: cases | TP | FP | precision | recall | held-out: cases | TP | FP | precision | recall |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]
    out += [f"| {k} | " + " | ".join(t.get(k, ["0"] * 5) + h.get(k, ["0"] * 5)) + " |" for k in sorted(set(t) | set(h))]
    st, sh = _summary(by_split["tune"]), _summary(by_split["heldout"])
    out += ["", f"| | tune ({nt} models) | held-out ({nh} models) |", "|---|---|---|"]
    for i, what in enumerate(("healthy without any warning", "broken with the cause on top, right layer (recall)",
                              "`il.fix` trains better (held-out check)")):
        out.append(f"| {what} | {_ratio(*st[i], pct=i > 0)} | {_ratio(*sh[i], pct=i > 0)} |")
    return "\n".join(out)


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
    if not r.get("loss"):
        return ""
    b0, b, f0, f, gap, spread = r["loss"]
    return (f" (held-out loss broken {b0:.3g} → {b:.3g}, fixed {f0:.3g} → {f:.3g}, ratio {f / b:.2f}; gap {gap:.3g}"
            f" vs spread {spread:.3g})")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--split", choices=("tune", "heldout", "all"), default="all")
    p.add_argument("--fast", action="store_true")
    p.add_argument("--no-fix", action="store_true")
    p.add_argument("--steps", type=int, default=STEPS)
    p.add_argument("--seeds", type=int, default=SEEDS)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1: a shared machine)")
    p.add_argument("--choose-k", action="store_true", help="print how k is chosen on the tune split's healthy cases")
    p.add_argument("--null", action="store_true", help="the check on healthy model pairs (its false-positive rate)")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    if a.choose_k:
        print(f"k = {choose_k(SPLITS['tune'][0])}")
        return 0
    if a.null:
        n = sum(1 for c in CASES if c.cause is None)
        print(f"null check: 'trains better' for {null_check(SPLITS['tune'][0], a.steps, a.seeds)}/{n} healthy pairs")
        return 0
    splits = ["tune", "heldout"] if a.split == "all" else [a.split]
    cases = [c for c in CASES if c.fast] if a.fast else CASES
    variants = {"fast": [FAST]} if a.fast else {s: SPLITS[s] for s in splits}
    by_split: dict[str, list[dict]] = {}
    for s, vs in variants.items():
        rows = by_split.setdefault(s, [])
        for v in vs:
            if a.seed is not None and v["seed"] != a.seed:
                continue
            for c in cases:
                r = run_case(c, v, not a.no_fix, a.steps, a.seeds)
                rows.append(r)
                print(f"[{s} seed {v['seed']}] {c.name:28s} cause={r['cause']:22s} top={r['top']:22s} "
                      f"{'ok' if r['ok'] else 'MISS'}{r['note']} fixed={r['fixed']}{_losses(r)} ({r['seconds']:.0f}s)", flush=True)
        print(f"\n## {s} ({len(rows)} models)\n")
        print(score(rows))
        print()
        print(confusion(rows))
        print(flush=True)
    if set(by_split) == {"tune", "heldout"} and a.seed is None:
        print("## README\n\n" + readme_table(by_split), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
