r"""Initialization-only schemes for transformers, one record per parameter.

* ``gpt2`` (Radford et al. 2019; Hugging Face ``GPT2PreTrainedModel._init_weights``): every weight
  matrix and embedding :math:`\sim \mathcal N(0, \sigma^2)`, σ = ``std`` (the config's
  ``initializer_range``, default 0.02); the residual output projections (the last layer of each
  branch, :func:`initlab.structure.residual_outputs`) :math:`\sim \mathcal N(0, \sigma^2/(2L))`,
  L = the number of repeated blocks (two branches per block: the stream's variance after L blocks
  grows by 2L·σ²/(2L), independent of depth);
* ``small_init`` (Nguyen & Salazar 2019, "Transformers without Tears"): every weight matrix and
  embedding :math:`\sim \mathcal N(0, 2/(5d))`, d = the model width;
* ``ds_init`` (Zhang, Titov & Sennrich 2019, depth-scaled init): a weight of the l-th block (l = 1…L)
  :math:`\sim U(\pm\,\alpha\sqrt{6/(\text{fan\_in}+\text{fan\_out})}/\sqrt l)` (Xavier uniform scaled
  by α/√l, default α = 1); weight layers outside the blocks get Xavier uniform (l = 1); embeddings
  are kept (the method scales the blocks only).

All three set biases to 0 and norm layers to γ = 1, β = 0. ``nn.MultiheadAttention``'s packed
``in_proj_weight`` is drawn as three (d, d) slices q, k, v (fans d, d each), Hugging Face ``Conv1D``
through its transposed view; a parameter shared by two modules (GPT-2's ``lm_head.weight`` is
``wte.weight``) is set once, by its owner, and the other name is reported as tied. (DeepNorm, Fixup and
ReZero also change the forward pass: not initialization-only, not here.)

>>> import torch
>>> layer = torch.nn.TransformerEncoderLayer(64, 4, 256, batch_first=True)
>>> enc = torch.nn.TransformerEncoder(layer, 4, enable_nested_tensor=False)
>>> rep = init_transformer(enc, "gpt2", {}, torch.Generator().manual_seed(0))
>>> rep["layers.0.linear2"].expected_std == 0.02 / (2 * 4) ** 0.5
True
"""
from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from .. import init as _init
from ..structure import (attention_projections, block_width, is_norm, is_weight_layer, layer_fans, residual_blocks,
                         residual_outputs, weight_view)
from .records import InitReport, LayerInit
from .untouched import untouched

__all__ = ["TRANSFORMER_SCHEMES", "init_transformer", "model_width"]

TRANSFORMER_SCHEMES = ("gpt2", "small_init", "ds_init")


def model_width(model: nn.Module) -> int | None:
    """d: the embedding dim of the first ``nn.Embedding``, else the input width of the first block,
    else the median fan_in of the weight layers."""
    for m in model.modules():
        if isinstance(m, nn.Embedding):
            return m.embedding_dim
    for _, b in residual_blocks(model):
        d = block_width(b)
        if d is not None:
            return d
    fan_ins = sorted(layer_fans(m)[0] or 0 for m in model.modules() if is_weight_layer(m))
    return fan_ins[len(fan_ins) // 2] if fan_ins else None  # no embedding, no blocks: the median fan_in


def _block_index(name: str, blocks: list[str]) -> int | None:
    """1-based index of the block that holds module ``name`` (None outside the blocks)."""
    for i, b in enumerate(blocks):
        if name == b or name.startswith(b + "."):
            return i + 1
    return None


def _rule(scheme: str, fan_in: int, fan_out: int, l: int | None, residual: bool, L: int, d: int | None,
          opts: dict) -> tuple[str, float, str]:
    """(distribution "normal"/"uniform", its std, a note) for one weight."""
    if scheme == "gpt2":
        std = float(opts.get("std", 0.02))
        if residual:
            return "normal", std / math.sqrt(2 * L), f"residual output projection: σ/√(2·{L})"
        return "normal", std, ""
    if scheme == "small_init":
        if d is None:
            raise ValueError("small_init needs the model width d: no nn.Embedding and no repeated blocks "
                             "found; pass d=... as an option")
        return "normal", math.sqrt(2 / (5 * d)), f"√(2/(5·{d}))"
    alpha = float(opts.get("alpha", 1.0))
    depth = l or 1
    bound = alpha * math.sqrt(6 / (fan_in + fan_out)) / math.sqrt(depth)
    return "uniform", bound / math.sqrt(3), (f"block {depth}: Xavier·α/√{depth}" if l else "outside the blocks: Xavier")


def _draw(w: Tensor, dist: str, std: float, g: torch.Generator | None) -> None:
    if dist == "normal":
        _init.normal_(w, std, generator=g)
    else:
        b = math.sqrt(3) * std
        _init.with_generator(w, g, lambda t, gen: nn.init.uniform_(t, -b, b, generator=gen))


def _record(name: str, m: nn.Module, w: Tensor, fan_in: int, fan_out: int, scheme: str, std: float | None,
            bias: str, note: str, act: str = "none") -> LayerInit:
    return LayerInit(name=name, type=type(m).__name__, fan_in=fan_in, fan_out=fan_out, scheme=scheme, gain=None,
                     activation=act, activation_source="detected" if act == "none" else "assumed",
                     expected_std=std, weight_std=float(w.detach().float().std()) if w.numel() > 1 else 0.0,
                     bias=bias, note=note)


def _zero_bias(p: Any, done: set[int]) -> str:
    if not isinstance(p, nn.Parameter):
        return "none"
    if id(p) in done:
        return "tied (set once)"
    with torch.no_grad():
        p.zero_()
    done.add(id(p))
    return "zeros"


def init_transformer(model: nn.Module, scheme: str, opts: dict, generator: torch.Generator | None) -> InitReport:
    """Apply ``gpt2``, ``small_init`` or ``ds_init`` (module docs) to every weight, embedding, norm and
    bias of ``model``; the report has one record per parameter set (``layers``: weight layers and
    attention projections; ``others``: embeddings and norms), the ties and what was left alone."""
    blocks = [n for n, _ in residual_blocks(model)]
    outs = {n for names in residual_outputs(model).values() for n in names}
    L = int(opts.get("n_layers", len(blocks) or 1))
    d = opts.get("d", model_width(model))
    owner = {}
    for pname, p in model.named_parameters(remove_duplicate=False):
        owner.setdefault(id(p), pname)
    done: set[int] = set()
    records: list[LayerInit] = []
    report = InitReport(scheme, records, options=dict(opts))
    with torch.no_grad():
        for name, m in model.named_modules():
            l = _block_index(name, blocks)
            w = getattr(m, "weight", None)
            if isinstance(w, nn.Parameter) and owner[id(w)] != f"{name}.weight":  # tied: set by its owner only
                records.append(_record(name, m, w, *layer_fans(m) if is_weight_layer(m) else (0, 0), "tied",
                                       None, _zero_bias(getattr(m, "bias", None), done),
                                       f"weight is {owner[id(w)]} (tied): set once, there"))
                report.notes.append(f"{name}.weight is tied to {owner[id(w)]}: one parameter, initialized once")
                continue
            if is_weight_layer(m):
                fi, fo = layer_fans(m)
                dist, std, note = _rule(scheme, fi, fo, l, name in outs, L, d, opts)
                _draw(weight_view(m), dist, std, generator)
                done.add(id(w))
                records.append(_record(name, m, w, fi, fo, scheme, std, _zero_bias(getattr(m, "bias", None), done),
                                       note))
            elif isinstance(m, nn.MultiheadAttention):
                for lab, pname, view in attention_projections(m):
                    fi, fo = view.shape[1], view.shape[0]
                    dist, std, note = _rule(scheme, fi, fo, l, False, L, d, opts)
                    _draw(view, dist, std, generator)
                    records.append(_record(f"{name}.{pname}[{lab}]", m, view, fi, fo, scheme, std,
                                           "zeros" if m.in_proj_bias is not None else "none", note))
                    done.add(id(getattr(m, pname)))
                _zero_bias(m.in_proj_bias, done)
                for b in (m.bias_k, m.bias_v):
                    if isinstance(b, nn.Parameter):
                        _zero_bias(b, done)
            elif isinstance(m, nn.Embedding) and isinstance(w, nn.Parameter):
                if scheme == "ds_init":
                    continue  # reported untouched below
                _, std, note = _rule(scheme, m.embedding_dim, m.num_embeddings, None, False, L, d, opts)
                _init.normal_(w, std, generator=generator)
                done.add(id(w))
                report.others.append(_record(name, m, w, m.embedding_dim, m.num_embeddings, scheme, std, "none", note))
            elif is_norm(m) and isinstance(w, nn.Parameter):
                w.fill_(1.0)
                done.add(id(w))
                report.others.append(LayerInit(name=name, type=type(m).__name__, fan_in=0, fan_out=w.numel(),
                                         scheme="ones", gain=None, activation="none", activation_source="detected",
                                         expected_std=0.0, weight_std=0.0,
                                         bias=_zero_bias(getattr(m, "bias", None), done), note="norm: γ = 1, β = 0"))
    report.untouched = untouched(model, done)
    if scheme == "ds_init":
        report.untouched = [(k, "ds_init scales the blocks only: embedding kept" if "embedding" in why else why)
                            for k, why in report.untouched]
    report.notes.append(f"{len(blocks)} repeated block(s) found; residual output projections: "
                        f"{len(outs)}" + (f"; width d = {d}" if d else ""))
    return report
