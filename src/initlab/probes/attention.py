r"""Attention at initialization: per head, the std of the logits :math:`QK^\top/\sqrt{d_h}` and the
entropy of the attention weights, normalized by the log of the number of keys a query may see
(1: uniform attention, 0: one-hot).

Where it is read. Attention weights live inside a module's forward, so forward hooks do not see them;
three places do:

* ``nn.MultiheadAttention``: a forward hook with its inputs recomputes :math:`q = xW_q^\top + b_q`,
  :math:`k = xW_k^\top + b_k` from the packed ``in_proj_weight`` (its masks come with the call), the
  same numbers whichever path torch takes inside. :func:`initlab.inspect` disables the fused fast
  path meanwhile (``torch.backends.mha.set_fastpath_enabled(False)``) so the per-head q/k stds
  (``q_std``, ``k_std``), the module's own record (its output after ``out_proj``: probed as one layer)
  and the block records see the unfused computation, and says so in ``Inspection.notes``;
* ``F.scaled_dot_product_attention`` (Hugging Face's default ``sdpa`` attention, ``torch.nn``
  modules that call it) and ``softmax`` over the last dim of a ≥3-d tensor called inside a
  repeated block (Hugging Face's ``eager`` attention, whose input is the scaled, masked logits) are
  intercepted by a :class:`torch.overrides.TorchFunctionMode`. A mode, not monkey-patching: it sees
  calls made through any alias (``torch.nn.functional.``, ``torch.``, ``Tensor.softmax``) in any
  module, is scoped to the ``with`` block (nothing leaks if the forward raises), and is how torch
  itself recommends intercepting functions. The call itself is passed through unchanged.

Cost. The weights are B·H·T·S numbers; the probe recomputes logits on at most ``max_batch``
examples and ``max_rows`` query rows (evenly spaced, the last one included) for every head, in
float64 on a detached copy — once per :func:`initlab.inspect`, never in ``watch``'s per-step path.
What was sampled is in the record (``rows``, ``batch``), and what could not be seen (fused kernels
called outside these three places, e.g. flash-attention extensions) is said in ``Inspection.notes``
when no attention call was found in a model that has attention modules.

>>> import torch
>>> mha = torch.nn.MultiheadAttention(16, 4, batch_first=True)
>>> probe = AttentionProbe()
>>> probe.watch_modules(torch.nn.Sequential(mha))
>>> x = torch.randn(2, 5, 16)
>>> with probe:
...     _ = mha(x, x, x)
>>> probe.remove(); rec = probe.records[0]
>>> rec.heads, len(rec.entropy), 0 < rec.mean_entropy <= 1
(4, 4, True)
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode

__all__ = ["AttentionStats", "AttentionProbe", "attention_summary"]

_SOFTMAX = {F.softmax, torch.softmax, Tensor.softmax}


@dataclass
class AttentionStats:
    """One attention call: per head the logit std and the normalized entropy (mean over sampled rows)."""

    name: str
    source: str  # "mha", "sdpa" or "softmax"
    heads: int
    logit_std: list[float] = field(default_factory=list)
    entropy: list[float] = field(default_factory=list)
    max_weight: list[float] = field(default_factory=list)  # mean over rows of the largest weight
    rows: int = 0
    batch: int = 0
    queries: int = 0
    keys: int = 0
    # per head, the population std of the query and key projections (sampled rows / all keys); empty
    # where only the logits were seen (a softmax call)
    q_std: list[float] = field(default_factory=list)
    k_std: list[float] = field(default_factory=list)

    @property
    def mean_entropy(self) -> float:
        return float(sum(self.entropy) / len(self.entropy)) if self.entropy else math.nan

    @property
    def max_logit_std(self) -> float:
        return max(self.logit_std) if self.logit_std else math.nan

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["mean_entropy"] = self.mean_entropy
        return d


def _rows(t: int, max_rows: int) -> Tensor:
    if t <= max_rows:
        return torch.arange(t)
    return torch.linspace(0, t - 1, max_rows).round().long().unique()


def attention_summary(logits: Tensor, valid: Tensor) -> tuple[list[float], list[float], list[float]]:
    r"""Per head (dim 1 of (B, H, R, S) ``logits``; ``valid`` broadcastable, True where a key is visible):
    the population std of the visible logits, the mean over rows with ≥ 2 visible keys of
    :math:`H(p)/\ln n_{\text{visible}}` (p = softmax over the visible keys), and the mean largest weight.

    >>> lg = torch.zeros(1, 2, 3, 4); lg[0, 1, :, 0] = 100.0
    >>> s, h, m = attention_summary(lg, torch.ones(1, 1, 1, 4, dtype=torch.bool))
    >>> [round(v, 3) for v in h], [round(v, 3) for v in m]
    ([1.0, 0.0], [0.25, 1.0])
    """
    valid = valid.expand_as(logits)
    masked = logits.masked_fill(~valid, -math.inf)
    p = torch.softmax(masked, dim=-1).nan_to_num(0.0)
    logp = torch.log_softmax(masked, dim=-1)
    ent = -(p * logp.masked_fill(~valid, 0.0)).sum(-1)  # (B, H, R)
    n = valid.sum(-1)
    ok = n >= 2
    norm = torch.where(ok, ent / n.clamp(min=2).double().log(), torch.zeros_like(ent))
    stds, ents, maxw = [], [], []
    for h in range(logits.shape[1]):
        v = logits[:, h][valid[:, h]]
        v = v[torch.isfinite(v)]
        stds.append(float(v.std(correction=0)) if v.numel() > 1 else math.nan)
        okh = ok[:, h]
        ents.append(float(norm[:, h][okh].mean()) if okh.any() else math.nan)
        maxw.append(float(p[:, h].amax(-1)[okh].mean()) if okh.any() else math.nan)
    return stds, ents, maxw


class AttentionProbe(TorchFunctionMode):
    """Records attention calls while active (``with probe:``); see the module docs."""

    def __init__(self, where: Callable[[], str | None] | None = None, max_rows: int = 64, max_batch: int = 8):
        super().__init__()
        self.where = where or (lambda: None)
        self.max_rows, self.max_batch = max_rows, max_batch
        self.records: list[AttentionStats] = []
        self.handles: list[Any] = []
        self._in_mha = 0  # > 0 inside nn.MultiheadAttention (its hook records it) or inside our own math

    # --- nn.MultiheadAttention: recompute q, k from the call's inputs -------------------------------
    def watch_modules(self, model: nn.Module) -> None:
        names = {id(m): n for n, m in model.named_modules()}
        for m in model.modules():
            if isinstance(m, nn.MultiheadAttention):
                self.handles.append(m.register_forward_pre_hook(self._mha_pre, with_kwargs=True))
                self.handles.append(m.register_forward_hook(
                    lambda mod, a, kw, o, name=names[id(m)]: self._mha(mod, name, a, kw), with_kwargs=True))

    def remove(self) -> None:
        for h in self.handles:
            h.remove()
        self.handles.clear()

    def _mha_pre(self, m: nn.Module, args: tuple, kwargs: dict) -> None:
        self._in_mha += 1

    def _mha(self, m: nn.MultiheadAttention, name: str, args: tuple, kwargs: dict) -> None:
        try:  # still counted as inside: the softmax of our own summary is not an attention call
            self._mha_record(m, name, args, kwargs)
        finally:
            self._in_mha -= 1

    def _mha_record(self, m: nn.MultiheadAttention, name: str, args: tuple, kwargs: dict) -> None:
        names = ("query", "key", "value", "key_padding_mask", "need_weights", "attn_mask")
        call = dict(zip(names, args)) | kwargs
        q_in, k_in = call["query"].detach().double(), call["key"].detach().double()
        if not m.batch_first and q_in.dim() == 3:
            q_in, k_in = q_in.transpose(0, 1), k_in.transpose(0, 1)
        if q_in.dim() == 2:
            q_in, k_in = q_in[None], k_in[None]
        d, h = m.embed_dim, m.num_heads
        if m.in_proj_weight is not None:
            wq, wk = m.in_proj_weight[:d], m.in_proj_weight[d:2 * d]
        else:
            wq, wk = m.q_proj_weight, m.k_proj_weight
        bq = bk = None
        if m.in_proj_bias is not None:
            bq, bk = m.in_proj_bias[:d], m.in_proj_bias[d:2 * d]
        with torch.no_grad():
            q = F.linear(q_in, wq.detach().double(), None if bq is None else bq.detach().double())
            k = F.linear(k_in, wk.detach().double(), None if bk is None else bk.detach().double())
            B, T, S = q.shape[0], q.shape[1], k.shape[1]
            q = q.view(B, T, h, d // h).transpose(1, 2)
            k = k.view(B, S, h, d // h).transpose(1, 2)
            valid = torch.ones(B, 1, T, S, dtype=torch.bool)
            mask = call.get("attn_mask")
            if isinstance(mask, Tensor):
                mk = mask.detach()
                mk = ~mk if mk.dtype == torch.bool else torch.isfinite(mk) & (mk > -1e4)
                valid = valid & (mk.reshape(-1, mk.shape[-2], mk.shape[-1])[:1].view(1, 1, T, S))
            if call.get("is_causal"):
                valid = valid & torch.ones(T, S, dtype=torch.bool).tril()
            kpm = call.get("key_padding_mask")
            if isinstance(kpm, Tensor):
                keep = ~kpm.bool() if kpm.dtype == torch.bool else torch.isfinite(kpm) & (kpm > -1e4)
                valid = valid & keep.view(B, 1, 1, S)
            self._record(q, k, valid, 1 / math.sqrt(d // h), "mha", name)

    # --- functions: scaled_dot_product_attention and softmax ---------------------------------------
    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        if self._in_mha == 0:
            try:
                if func is F.scaled_dot_product_attention:
                    self._sdpa(*args, **kwargs)
                elif func in _SOFTMAX and self.where() is not None:
                    self._softmax(*args, **kwargs)
            except Exception:  # noqa: BLE001 - a probe never breaks the forward pass
                pass
        return func(*args, **kwargs)

    def _sdpa(self, query: Tensor, key: Tensor, value: Tensor, attn_mask: Tensor | None = None,
              dropout_p: float = 0.0, is_causal: bool = False, scale: float | None = None, **_: Any) -> None:
        if query.dim() != 4:
            return
        with torch.no_grad():
            q, k = query.detach().double(), key.detach().double()
            if k.shape[1] != q.shape[1]:  # grouped-query attention: repeat the kv heads
                k = k.repeat_interleave(q.shape[1] // k.shape[1], dim=1)
            T, S = q.shape[-2], k.shape[-2]
            valid = torch.ones(1, 1, T, S, dtype=torch.bool)
            if is_causal:
                valid = valid & torch.ones(T, S, dtype=torch.bool).tril()
            if isinstance(attn_mask, Tensor):
                mk = attn_mask.detach()
                keep = mk if mk.dtype == torch.bool else torch.isfinite(mk) & (mk > -1e4)
                valid = valid & keep.expand(*keep.shape[:-2], T, S).cpu()
            s = scale if scale is not None else 1 / math.sqrt(q.shape[-1])
            self._record(q, k, valid, s, "sdpa", self.where() or "attention")

    def _softmax(self, x: Tensor, dim: int | None = None, *a: Any, **kw: Any) -> None:
        dim = kw.get("dim", dim)
        if not isinstance(x, Tensor) or x.dim() < 3 or dim not in (-1, x.dim() - 1) or x.shape[-1] < 2:
            return
        with torch.no_grad():
            lg = x.detach().double()
            lg = lg.reshape(-1, *lg.shape[-3:]) if lg.dim() >= 4 else lg[None]
            bsel = torch.arange(min(lg.shape[0], self.max_batch))
            rows = _rows(lg.shape[-2], self.max_rows)
            lg = lg[bsel][:, :, rows]
            valid = torch.isfinite(lg) & (lg > torch.finfo(x.dtype).min / 2) & (lg > -1e4)
            self._store(lg, valid, "softmax", self.where() or "attention", x.shape[-2], x.shape[-1])

    def _record(self, q: Tensor, k: Tensor, valid: Tensor, scale: float, source: str, name: str) -> None:
        bsel = torch.arange(min(q.shape[0], self.max_batch))
        rows = _rows(q.shape[-2], self.max_rows)
        qs, ks = q[bsel][:, :, rows], k[bsel]
        lg = (qs @ ks.transpose(-1, -2)) * scale
        v = valid.to(lg.device)
        v = v[bsel] if v.shape[0] == q.shape[0] and v.shape[0] > 1 else v
        v = v[:, :, rows] if v.shape[-2] == q.shape[-2] else v
        self._store(lg, v, source, name, q.shape[-2], k.shape[-2])
        self.records[-1].q_std = [float(qs[:, h].std(correction=0)) for h in range(qs.shape[1])]
        self.records[-1].k_std = [float(ks[:, h].std(correction=0)) for h in range(ks.shape[1])]

    def _store(self, lg: Tensor, valid: Tensor, source: str, name: str, T: int, S: int) -> None:
        stds, ents, maxw = attention_summary(lg.cpu(), valid.cpu())
        self.records.append(AttentionStats(name, source, lg.shape[1], stds, ents, maxw,
                                           rows=lg.shape[-2], batch=lg.shape[0], queries=T, keys=S))
