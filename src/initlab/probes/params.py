r"""``watch``'s parameter statistics at the step boundary: ‖∇W‖, ‖∇b‖ and the update ratio ‖ΔW‖/‖W‖.

At ``w.step()`` (after ``opt.step()``) every probed layer's weight and bias gradients are reduced with
one ``torch._foreach_norm``. The update ratio needs the weights before ``opt.step()``: at the step
boundary before each recorded step, at most :data:`UPDATE_ROWS` evenly spaced rows (units) of each
weight are copied into a preallocated snapshot, and

.. math:: \text{update ratio} = \frac{\lVert W_\text{before} - W_\text{after} \rVert}{\lVert W_\text{before} \rVert}

is measured on those rows (exact for layers with ≤ ``UPDATE_ROWS`` units). When the next step is
recorded too, its snapshot is the weights read now (they are the next step's "before"), so the weights
are read once per step, and ‖W‖ of that snapshot joins the same ``_foreach_norm``.

The parameters are looked up once (when layers are added and at each :meth:`ParamStats.refresh`, which
the Watcher calls at every flush), not at every step: a layer whose ``weight`` is replaced by another
``Parameter`` object is followed from the next flush on (``param.data = …`` is followed at once).

>>> import torch
>>> from initlab.probes.specs import classify
>>> net = torch.nn.Sequential(torch.nn.Linear(4, 3))
>>> ps = ParamStats(classify(net), update=True)
>>> ps.refresh({0: {"wgrad": "w", "bgrad": "b", "update": "u", "wnorm": "n", "coh": "c"}})
>>> ps.snapshot(); net(torch.ones(2, 4)).sum().backward()
>>> with torch.no_grad():
...     _ = net[0].weight.mul_(0.5)
>>> vals, keys = [], []; ps.record(vals, keys, extended=False, ahead=False)
>>> keys, round(float(vals[2] / vals[3]), 6)  # ‖W − W/2‖ / ‖W‖
(['w', 'b', 'u', 'n'], 0.5)
"""
from __future__ import annotations

from typing import Any, Mapping

import torch
from torch import Tensor

from .stats import sign_coherence

__all__ = ["ParamStats", "UPDATE_ROWS", "norms"]

UPDATE_ROWS = 64  # ‖ΔW‖/‖W‖ uses at most this many evenly spaced units (rows) per weight


def norms(ts: list[Tensor]) -> list[Tensor]:
    """‖t‖₂ of each tensor in one ``_foreach_norm``, in float32 or wider (float64 weights stay float64)."""
    try:
        return torch._foreach_norm(ts, 2, dtype=torch.float32)
    except RuntimeError:  # float64 tensors refuse a narrowing dtype
        return torch._foreach_norm(ts, 2)


class ParamStats:
    """The parameter statistics of the probed layers with a trainable weight (``specs``).

    :meth:`refresh` says which layers are recorded (spec index → that layer's keys, a mapping with
    ``wgrad``, ``bgrad``, ``update``, ``wnorm``, ``coh``); :meth:`snapshot` copies the sampled weight
    rows before a recorded step; :meth:`record` appends the step's values and keys.
    """

    def __init__(self, specs: list[Any], update: bool):
        self.specs = [sp for sp in specs if sp.weight is not None and sp.weight.requires_grad]
        self.update = bool(update) and bool(self.specs)
        self._layers: list[tuple[Any, Tensor, Tensor | None, Mapping[str, Any]]] = []
        self._rows: tuple[tuple[int, ...], list[Tensor]] | None = None  # (data pointers, row views)
        self.snap: list[Tensor] | None = None     # the sampled rows before the step
        self.snap_norms: list[Tensor] | None = None
        self._spare: list[Tensor] | None = None   # the next snapshot, taken while this one is consumed
        self.fresh = False  # snap already holds the weights of the step about to be armed

    def refresh(self, layer_keys: Mapping[int, Mapping[str, Any]] | None = None) -> None:
        """Look the parameters up again; record the layers in ``layer_keys`` (spec index → keys; the
        others are still snapshotted, so that their first recorded step has an update ratio)."""
        layer_keys = layer_keys or {}
        old = [w for _, w, _, _ in self._layers]
        self._layers = [(sp, sp.weight, sp.bias, layer_keys.get(sp.index)) for sp in self.specs]
        if any(w is None for _, w, _, _ in self._layers):  # a weight removed: follow it no more
            self._layers = [e for e in self._layers if e[1] is not None]
        new = [w for _, w, _, _ in self._layers]
        if len(new) != len(old) or any(a is not b for a, b in zip(old, new)):
            self.reset()  # other Parameter objects: the snapshots no longer match them

    def reset(self) -> None:
        """Drop the snapshots (closing the Watcher, or after the parameters changed)."""
        self.snap = self.snap_norms = self._spare = self._rows = None
        self.fresh = False

    def _update_rows(self) -> list[Tensor]:
        """Views of at most ``UPDATE_ROWS`` evenly spaced rows of each weight, made again only when a
        weight's storage changes (slicing ten weights costs ~60 µs)."""
        ws = [w for _, w, _, _ in self._layers]
        key = tuple(w.data_ptr() for w in ws)
        if self._rows is None or self._rows[0] != key:
            out = []
            for w in ws:
                w = w.detach()
                out.append(w[::-(-w.shape[0] // UPDATE_ROWS)] if w.dim() >= 2 and w.shape[0] > UPDATE_ROWS else w)
            self._rows = (key, out)
        return self._rows[1]

    def snapshot(self) -> None:
        """Copy the sampled rows (and their norms) before a recorded step, unless :attr:`fresh`."""
        if self.fresh:  # the step just recorded took this snapshot (record(ahead=True))
            self.fresh = False
            return
        if not (self.update and self._layers):
            return
        rows = self._update_rows()
        if self.snap is None:
            self.snap = [r.clone() for r in rows]
        else:
            torch._foreach_copy_(self.snap, rows)
        self.snap_norms = list(norms(rows))

    def record(self, vals: list[Tensor], keys: list, extended: bool, ahead: bool) -> None:
        """Append ‖∇W‖, ‖∇b‖ of each recorded layer, its update ratio's two norms when a snapshot was
        taken (``ahead``: the next step is recorded too, so take its snapshot now), and on ``extended``
        steps the sign coherence of its weight gradient."""
        layers = self._layers
        if not layers:
            return
        wg, bg = [], []
        for sp, w, b, kt in layers:
            if kt is None:  # no column yet (never called on a recorded step)
                continue
            g = w.grad
            if g is not None:
                wg.append((sp, g.detach() if g.requires_grad else g, kt))
            if b is not None and b.grad is not None:
                g = b.grad
                bg.append((g.detach() if g.requires_grad else g, kt))
        tensors = [g for _, g, _ in wg] + [g for g, _ in bg]
        keys += [kt["wgrad"] for _, _, kt in wg] + [kt["bgrad"] for _, kt in bg]
        n = len(tensors)
        upd = self.update and self.snap is not None
        if upd:
            rows = self._update_rows()
            if ahead:  # the next step records too: its snapshot is the weights now (read once)
                if self._spare is None:
                    self._spare = [r.clone() for r in rows]
                else:
                    torch._foreach_copy_(self._spare, rows)
                rows = self._spare
            torch._foreach_sub_(self.snap, rows)  # W_before − W_after (sampled rows)
            tensors += self.snap
            if ahead:
                tensors += self._spare
        if tensors:  # one _foreach_norm for ‖∇W‖, ‖∇b‖, ‖ΔW‖ (and the next ‖W‖) of every layer
            ns = norms(tensors)
            vals += ns[:n]
            if upd:
                m = len(layers)
                for (_, _, _, kt), d, wn in zip(layers, ns[n:n + m], self.snap_norms):
                    if kt is not None:
                        vals += (d, wn)
                        keys += (kt["update"], kt["wnorm"])
                if ahead:
                    self.snap, self._spare = self._spare, self.snap
                    self.snap_norms = list(ns[n + m:])
                    self.fresh = True
        if extended:
            for sp, g, kt in wg:
                if sp.kind in ("linear", "conv") and g.dim() >= 2:
                    vals.append(sign_coherence(g))
                    keys.append(kt["coh"])
