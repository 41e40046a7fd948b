r"""``il.fix(model, inputs, targets=None, loss_fn=None) -> FixReport``: apply the remedies that are
initialization changes, and check that they help.

1. :func:`initlab.inspect` the model and rank its findings (:func:`~initlab.diagnosis.rank.rank`).
2. Plan: each finding whose remedy is an initialization names the layers and the scheme —

   * a transformer (repeated blocks holding attention or an embedding): ``gpt2`` (N(0, 0.02²), residual
     output projections ÷√(2L), embeddings too: it answers residual growth, attention collapse and
     saturated logits at once); a post-LN stack (``norm_first=False``, or blocks that end in a norm)
     whose only problem is the stream gradient gets ``ds_init`` (depth-scaled, made for post-LN);
   * any other model: ``auto`` (N(0, g²/fan_in), g the forward gain of the activation after each
     layer) on the layers whose activation was detected, and LSUV on the others — but never on a
     layer inside a residual block: unit variance per branch is exactly what makes the stream grow;
   * not fixable by initialization (reported, nothing changed): all-positive inputs
     (``non_zero_centered``: centre the data), update ratios (the learning rate), NaN/Inf that does
     not come from a parameter (the data or the loss).

3. Apply the plan (:func:`initlab.initialize` with ``layers=``: the model changes only in the layers
   the report lists), inspect again, and report each finding before and after. When an ``auto``/LSUV
   re-initialization leaves every finding it was for in place (12 sigmoid layers: σ' ≤ 1/4 shrinks δ
   at any weight scale), it is undone (the model is restored, the report lists no change) and the
   findings are reported as not fixable by initialization, with the structural fix (normalization
   layers, a zero-centred activation). A re-init that removes the findings is still judged by training.
4. Train check (not circular: the detectors' silence is not the criterion; :mod:`initlab.diagnosis.check`).
   With ``data`` (a callable drawing training batches): the held-out check — the broken model and ``seeds``
   draws of the fix (the returned model and re-draws of the same schemes on the same layers) each take
   ``steps`` steps of the user's optimizer on fresh batches and are scored on a batch neither trained on;
   ``trains_better`` when every fixed run ends below every broken run by more than the fixed runs' spread,
   and the fixed model's held-out loss fell. Without ``data``: the one-batch check — ``steps`` steps on
   ``inputs``/``targets``, ``trains_better`` when the fixed loss is ≤ ``margin`` × the broken one (default
   0.9), or only the fixed one is finite; it measures optimization on that batch and the report says so.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from torch import nn

from .. import initialize as _initialize
from ..initialize import InitReport
from ..probes import Finding, Inspection, inspect
from ..probes.transformer import has_attention
from ..structure import follow, is_norm, residual_blocks, weight_layers
from .check import HeldoutCheck, heldout_check, train_losses
from .rank import rank

__all__ = ["fix", "FixReport", "FixAction", "train_losses"]

_INIT_FIXABLE = {"symmetric_units", "forward_collapse", "exploding_activations", "vanishing_gradients",
                 "exploding_gradients", "saturation", "uncontrolled_magnitudes", "dead_units", "residual_growth",
                 "attention_collapse", "exploding_logits", "residual_gradient", "nonfinite"}
_NO_EFFECT = ("re-initializing the named layers (auto: N(0, g²/fan_in)) left it in place, so the change was "
              "undone: not an initialization problem at this depth/activation (e.g. sigmoid: σ' ≤ 1/4 and a mean "
              "of 1/2 at any scale); add normalization layers (BatchNorm/LayerNorm) or use a zero-centred "
              "activation (tanh, ReLU family)")
_WHY_NOT = {"non_zero_centered": "the inputs are all positive: centre or normalize the data (not an initialization)",
            "update_ratio": "the step size: change the learning rate (not an initialization)"}


@dataclass
class FixAction:
    """One re-initialization: for which findings, which layers, with which scheme and why."""

    findings: list[str]
    scheme: str
    layers: list[str]
    why: str
    report: InitReport | None = None


@dataclass
class FixReport:
    """Before/after of :func:`fix`. ``changed``: whether any parameter was re-initialized."""

    before: Inspection
    after: Inspection
    findings_before: list[Finding]
    findings_after: list[Finding]
    actions: list[FixAction] = field(default_factory=list)
    not_fixable: list[tuple[str, str]] = field(default_factory=list)
    losses_broken: list[float] = field(default_factory=list)
    losses_fixed: list[float] = field(default_factory=list)
    trains_better: bool | None = None
    notes: list[str] = field(default_factory=list)
    check: HeldoutCheck | None = None

    @property
    def changed(self) -> bool:
        return any(a.layers for a in self.actions)

    def per_finding(self) -> list[tuple[str, bool, bool]]:
        """(kind, present before, present after) for every kind seen before or after."""
        b = {f.kind for f in self.findings_before}
        a = {f.kind for f in self.findings_after}
        return [(k, k in b, k in a) for k in dict.fromkeys([f.kind for f in self.findings_before]
                                                           + [f.kind for f in self.findings_after])]

    def table(self) -> str:
        """The two layer tables side by side (std and ‖δ‖ of each layer call), then findings and training."""
        from ..probes.records import finite

        def f(v: float | None) -> str:
            return format(v, ".3g") if finite(v) else "-"

        after = {r.label: r for r in self.after.layers}
        rows = [(r.label, r.kind, f(r.std), f(after[r.label].std) if r.label in after else "-",
                 f(r.grad_norm), f(after[r.label].grad_norm) if r.label in after else "-") for r in self.before.layers]
        head = ("layer", "kind", "std before", "std after", "|δ| before", "|δ| after")
        w = [max(len(x) for x in col) for col in zip(head, *rows)]
        line = lambda c: "  ".join(x.ljust(n) if i < 2 else x.rjust(n) for i, (x, n) in enumerate(zip(c, w))).rstrip()  # noqa: E731
        out = [line(head), line(tuple("-" * n for n in w))] + [line(r) for r in rows]
        if self.before.blocks:
            out.append("")
            out += [f"{b.name}: stream std {f(b.std)} → {f(c.std)}, branch/stream {f(b.branch_ratio)} → "
                    f"{f(c.branch_ratio)}" for b, c in zip(self.before.blocks, self.after.blocks)]
        out.append("")
        out += [f"{k}: {'present' if bb else 'absent'} → {'present' if aa else 'gone'}" for k, bb, aa in self.per_finding()]
        out += [f"applied {a.scheme} to {len(a.layers)} layer(s) for {', '.join(a.findings)}: {a.why}" for a in self.actions]
        out += [f"not fixable by initialization: {k}: {why}" for k, why in self.not_fixable]
        if self.losses_broken:
            out.append(f"training ({len(self.losses_broken) - 1} steps): loss broken {f(self.losses_broken[0])} → "
                       f"{f(self.losses_broken[-1])}, fixed {f(self.losses_fixed[0])} → {f(self.losses_fixed[-1])}; "
                       f"trains better: {self.trains_better}")
        c = self.check
        if c is not None:
            out.append(f"held-out check ({c.steps} steps × {len(c.fixed)} seeds): loss broken {f(c.broken_start)} → "
                       f"{', '.join(f(v) for v in c.broken)}, fixed {f(c.fixed_start)} → "
                       f"{', '.join(f(v) for v in c.fixed)}; trains better: {self.trains_better}")
        out += [f"note: {n}" for n in self.notes]
        return "\n".join(out)

    def __str__(self) -> str:
        return self.table()


def _post_ln(model: nn.Module) -> bool:
    blocks = residual_blocks(model)
    if not blocks:
        return False
    b = blocks[0][1]
    nf = getattr(b, "norm_first", None)
    if nf is not None:
        return not bool(nf)
    leaves = [m for m in b.modules() if any(True for _ in m.parameters(recurse=False))]
    return bool(leaves) and is_norm(leaves[-1])


def _is_transformer(model: nn.Module) -> bool:
    return bool(residual_blocks(model)) and (has_attention(model) or
                                             any(isinstance(m, nn.Embedding) for m in model.modules()))


def _plan(model: nn.Module, findings: list[Finding]) -> tuple[list[FixAction], list[tuple[str, str]]]:
    kinds = [f.kind for f in findings if f.severity != "info"]
    fixable = [k for k in kinds if k in _INIT_FIXABLE]
    skip = [(k, _WHY_NOT.get(k, "no initialization remedy")) for k in dict.fromkeys(kinds) if k not in _INIT_FIXABLE]
    if "nonfinite" in fixable:
        bad = [n for n, p in model.named_parameters() if not torch.isfinite(p).all()]
        if not bad:
            fixable.remove("nonfinite")
            skip.append(("nonfinite", "no parameter is NaN/Inf: the data, the loss or an operation makes it"))
    if not fixable:
        return [], skip
    names = [n for n, _ in weight_layers(model)]
    if _is_transformer(model):
        scheme = "ds_init" if _post_ln(model) and set(fixable) == {"residual_gradient"} else "gpt2"
        why = ("depth-scaled Xavier for a post-LN stack (Zhang et al. 2019)" if scheme == "ds_init" else
               "N(0, 0.02²) with residual output projections ÷√(2L) (Radford et al. 2019); never LSUV on residual branches")
        return [FixAction(list(dict.fromkeys(fixable)), scheme, [n for n, _ in model.named_modules() if n], why)], skip
    fol = follow(model, weight_layers(model))
    in_blocks = tuple(b + "." for b, _ in residual_blocks(model))
    known = [n for n in names if fol[n].source == "detected" or fol[n].output or n.startswith(in_blocks)]
    unknown = [n for n in names if n not in known]
    acts = [FixAction(list(dict.fromkeys(fixable)), "auto", known,
                      "N(0, g²/fan_in) with g the forward gain of the activation after each layer")]
    if unknown:
        acts.append(FixAction(list(dict.fromkeys(fixable)), "lsuv", unknown,
                              "activation after these layers not detected: layer-sequential unit variance on the data"))
    return acts, skip


def fix(model: nn.Module, inputs: Any, targets: Any = None, loss_fn: Any = None, *, steps: int = 30,
        optimizer: Callable[[Any], torch.optim.Optimizer] | None = None, margin: float = 0.9,
        data: Callable[[torch.Generator], tuple[Any, Any]] | None = None, seeds: int = 3,
        heldout: tuple[Any, Any] | None = None, generator: torch.Generator | None = None) -> FixReport:
    """Inspect, re-initialize what the findings name, inspect again, and check training (module docs).

    Args:
        model: changed in place, only in the layers ``FixReport.actions`` list.
        inputs, targets, loss_fn: as for :func:`initlab.inspect` (``loss_fn`` a name or a callable).
        steps: optimizer steps of the training check (0: no check). 30 suits the one-batch check; the
            held-out check's k was tuned to 90 on the diagnosis benchmark's healthy models (GPT-2 needs
            90 steps to lower its held-out loss by 20 %, the MLPs 10–30): pass ``steps=90`` with ``data``
            for models that learn slowly.
        optimizer: ``optimizer(params) -> torch.optim.Optimizer`` (default Adam, lr 1e-3).
        margin: the one-batch check (no ``data``): the fixed loss after ``steps`` ≤ margin × the broken one.
        data: ``data(generator) -> (inputs, targets)``, a fresh training batch per call: the held-out check
            (:mod:`initlab.diagnosis.check`: ``seeds`` runs each, scored on ``heldout``).
        seeds: runs per model of the held-out check (the fix's draws 0 … seeds − 1; 0 is the model returned).
        heldout: ``(inputs, targets)`` neither model trains on (default: ``data`` at a seed of its own).
        generator: the re-initialization's random draws (default: seed 0).
    """
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not (isinstance(steps, int) and steps >= 0):
        raise ValueError(f"steps must be an int >= 0, got {steps!r}")
    if not (0 < margin <= 1):
        raise ValueError(f"margin must be in (0, 1], got {margin!r}")
    if data is not None and not callable(data):
        raise ValueError(f"data must be None or a callable data(generator) -> (inputs, targets), got {data!r}")
    gen = generator if generator is not None else torch.Generator().manual_seed(0)
    before = inspect(model, inputs, targets, loss_fn)
    found = rank(before.findings())
    actions, skip = _plan(model, found)
    saved = {k: v.detach().clone() for k, v in model.state_dict().items()} if actions else {}
    broken = copy.deepcopy(model) if steps and actions else None
    plan = [(a.scheme, list(a.layers), {"data": inputs} if a.scheme == "lsuv" else {}) for a in actions]
    for a, (scheme, layers, extra) in zip(actions, plan):
        a.report = _initialize(model, scheme, generator=gen, layers=layers, **extra)
        if scheme not in ("auto", "lsuv"):
            a.layers = [r.name for r in a.report.layers + a.report.others]
    after = inspect(model, inputs, targets, loss_fn) if actions else before
    kept = {f.kind for f in after.findings() if f.severity != "info"}
    planned = {k for act in actions for k in act.findings}
    if actions and all(act.scheme in ("auto", "lsuv") for act in actions) and planned <= kept:
        model.load_state_dict(saved)  # undone: the report lists no change
        skip += [(k, _NO_EFFECT) for k in sorted(planned)]
        actions, after, broken = [], before, None
    rep = FixReport(before, after, found, rank(after.findings()), actions, skip)
    if broken is not None:
        train_loss = None if isinstance(loss_fn, str) else loss_fn
        if data is not None:
            draw = lambda s: copy.deepcopy(model) if s == 0 else _redraw(broken, plan, s)  # noqa: E731
            rep.check = heldout_check(broken, draw, data, steps=steps, seeds=seeds, loss_fn=train_loss,
                                      optimizer=optimizer, heldout=heldout)
            rep.trains_better = rep.check.trains_better
        else:
            _one_batch_check(rep, broken, model, inputs, targets, train_loss, optimizer, steps, margin)
    return rep


def _redraw(broken: nn.Module, plan: list[tuple[str, list[str], dict]], s: int) -> nn.Module:
    """Draw s ≥ 1 of the fix: the same schemes on the same layers of a copy of the broken model."""
    m = copy.deepcopy(broken)
    g = torch.Generator().manual_seed(2**20 + s)  # one stream across the actions, as draw 0's
    for scheme, layers, extra in plan:
        _initialize(m, scheme, generator=g, layers=layers, **extra)
    return m


def _one_batch_check(rep: FixReport, broken: nn.Module, model: nn.Module, inputs: Any, targets: Any, loss_fn: Any,
                     optimizer: Any, steps: int, margin: float) -> None:
    rep.losses_broken = train_losses(broken, inputs, targets, loss_fn, optimizer, steps)
    rep.losses_fixed = train_losses(copy.deepcopy(model), inputs, targets, loss_fn, optimizer, steps)
    if rep.losses_broken and rep.losses_fixed:
        b, f = rep.losses_broken[-1], rep.losses_fixed[-1]
        rep.trains_better = (math.isfinite(f) and not math.isfinite(b)) or \
            (math.isfinite(f) and math.isfinite(b) and f <= margin * b)
        rep.notes.append("one-batch check: it measures optimization on the given batch, not generalization; "
                         "pass data= for the held-out check")
    else:
        rep.notes.append("no training check: give targets, a loss_fn, or inputs with labels (model loss)")
