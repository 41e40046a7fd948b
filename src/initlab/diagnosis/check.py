r"""The training check behind :attr:`FixReport.trains_better <initlab.diagnosis.fix.FixReport>`: does the
fixed model train better than the broken one?

**Held-out check** (when ``data`` is given: ``data(generator) -> (inputs, targets)`` draws a training
batch). For each of S seeds s (default 3) the broken and the fixed model each take k = ``steps`` steps of
the user's optimizer (same class and learning rate) on the same fresh batches
:math:`\mathrm{data}(G_s)`, and then each is scored on one held-out batch that neither trained on:

.. math::

    \text{trains\_better} \iff \max_s L^{\text{fixed}}_k(s) < \min_s L^{\text{broken}}_k(s)
    \ \text{and}\ \max_s L^{\text{fixed}}_k(s) < L^{\text{fixed}}_0 .

Every fixed run ends below every broken run (the rank-sum statistic U = 0: if the fix changed nothing,
the 2S final losses would be exchangeable and this would happen with probability 1/C(2S, S) = 1/20 for
S = 3, a one-sided Mann–Whitney test at 5 %), and the fixed model's held-out loss fell (it learned
something that generalizes). "Clearly below" is thereby *beyond the spread the training's own randomness
(batch order, dropout) produces*, not a fixed fraction of the loss: a fraction is meaningless for a
loss that starts at ln V and falls by tenths of a nat in k steps. The held-out batch is why this measures
training and not memorization: a model that fits one batch fast (large output weights act as a large
output learning rate) shows it; a model that learns the data's structure shows it on new data.

**One-batch check** (no ``data``): both models take k steps on ``inputs``/``targets``; trains_better
when the fixed loss after k steps is ≤ ``margin`` × the broken one (default 0.9), or only the fixed one is
finite. This measures optimization on that batch, and says so in the report's notes.

>>> import torch
>>> from torch import nn
>>> g = torch.Generator().manual_seed(0)
>>> w = torch.randn(8, 3, generator=g)
>>> def data(gen):
...     x = torch.randn(32, 8, generator=gen)
...     return x, (x @ w).argmax(1)
>>> good, bad = nn.Linear(8, 3), nn.Linear(8, 3)
>>> with torch.no_grad():
...     _ = bad.weight.fill_(0.0)
>>> r = heldout_check(bad, good, data, steps=20, optimizer=lambda p: torch.optim.SGD(p, lr=0.5))
>>> len(r.broken), len(r.fixed)
(3, 3)
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..probes.output import model_output

__all__ = ["train_losses", "heldout_check", "HeldoutCheck", "HELDOUT_SEED"]

HELDOUT_SEED = 2**31 - 1  # the held-out batch's generator seed when none is given (the training seeds are 0..S-1)
Optimizer = Callable[[Any], torch.optim.Optimizer]


def loss_of(out: Any, targets: Any, loss_fn: Any) -> Tensor | None:
    """The loss of a model output: ``loss_fn``, else the output's own ``loss`` (Hugging Face with labels),
    else cross-entropy for integer targets and MSE for float ones (None: no loss can be formed)."""
    y, _ = model_output(out)
    if callable(loss_fn):
        return loss_fn(y, targets) if targets is not None else loss_fn(y)
    if targets is None:
        lo = getattr(out, "loss", None)
        return lo if isinstance(lo, Tensor) else None
    if isinstance(targets, Tensor) and not targets.is_floating_point():
        seq = y.dim() > 2 and y.shape[:-1] == targets.shape
        return F.cross_entropy(y.reshape(-1, y.shape[-1]) if seq else y, targets.reshape(-1) if seq else targets)
    return F.mse_loss(y, targets)


def call(model: nn.Module, inputs: Any) -> Any:
    """``model(**inputs)`` for a mapping, ``model(*inputs)`` for a tuple/list, else ``model(inputs)``."""
    if isinstance(inputs, Mapping):
        return model(**inputs)
    if isinstance(inputs, (tuple, list)):
        return model(*inputs)
    return model(inputs)


def _adam(p: Any) -> torch.optim.Optimizer:
    return torch.optim.Adam(p, lr=1e-3)


def train_losses(model: nn.Module, inputs: Any, targets: Any = None, loss_fn: Any = None,
                 optimizer: Optimizer | None = None, steps: int = 30) -> list[float]:
    """Losses of ``steps`` optimizer steps on one batch (``steps + 1`` values; stops at NaN/Inf)."""
    opt = (optimizer or _adam)(model.parameters())
    model.train()
    out: list[float] = []
    for i in range(steps + 1):
        opt.zero_grad()
        loss = loss_of(call(model, inputs), targets, loss_fn)
        if loss is None:
            return []
        out.append(float(loss.detach()))
        if i == steps or not math.isfinite(out[-1]):
            break
        loss.backward()
        opt.step()
    return out


def _eval(model: nn.Module, batch: tuple[Any, Any], loss_fn: Any) -> float:
    was = model.training
    model.eval()
    with torch.no_grad():
        loss = loss_of(call(model, batch[0]), batch[1], loss_fn)
    model.train(was)
    return float(loss) if loss is not None else math.nan


def _train_on_data(model: nn.Module, data: Callable[[torch.Generator], tuple[Any, Any]], seed: int, steps: int,
                   loss_fn: Any, optimizer: Optimizer | None, heldout: tuple[Any, Any]) -> float:
    """Held-out loss after ``steps`` steps on batches ``data(G)``, G seeded ``seed`` (dropout too, without
    touching the caller's global RNG); NaN/Inf once the training loss is not finite."""
    gen = torch.Generator().manual_seed(seed)
    opt = (optimizer or _adam)(model.parameters())
    model.train()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for _ in range(steps):
            x, y = data(gen)
            opt.zero_grad()
            loss = loss_of(call(model, x), y, loss_fn)
            if loss is None:
                raise ValueError("the training check found no loss: give targets, a loss_fn, or inputs with labels")
            if not math.isfinite(float(loss.detach())):
                return math.inf
            loss.backward()
            opt.step()
    return _eval(model, heldout, loss_fn)


@dataclass
class HeldoutCheck:
    """Held-out losses after ``steps`` steps, one per seed, and before training (``*_start``)."""

    steps: int
    broken: list[float] = field(default_factory=list)
    fixed: list[float] = field(default_factory=list)
    broken_start: float = math.nan
    fixed_start: float = math.nan

    @property
    def trains_better(self) -> bool:
        """Every fixed run below every broken run, and the fixed model's held-out loss fell (module docs)."""
        f = [v if math.isfinite(v) else math.inf for v in self.fixed]
        b = [v if math.isfinite(v) else math.inf for v in self.broken]
        if not f or not b or not all(math.isfinite(v) for v in f):
            return False
        return max(f) < min(b) and (not math.isfinite(self.fixed_start) or max(f) < self.fixed_start)

    def ratio(self) -> float:
        """Mean fixed / mean broken held-out loss after training (an effect size; NaN when not finite)."""
        b, f = sum(self.broken) / len(self.broken), sum(self.fixed) / len(self.fixed)
        return f / b if math.isfinite(b) and math.isfinite(f) and b else math.nan


def heldout_check(broken: nn.Module, fixed: nn.Module, data: Callable[[torch.Generator], tuple[Any, Any]], *,
                  steps: int = 30, seeds: int = 3, loss_fn: Any = None, optimizer: Optimizer | None = None,
                  heldout: tuple[Any, Any] | None = None) -> HeldoutCheck:
    """Train copies of ``broken`` and ``fixed`` on ``data`` with ``seeds`` seeds; score on ``heldout``
    (default: ``data`` drawn with seed :data:`HELDOUT_SEED`). The models themselves are not changed."""
    if not callable(data):
        raise ValueError(f"data must be a callable data(generator) -> (inputs, targets), got {type(data).__name__}")
    if not (isinstance(seeds, int) and seeds >= 1):
        raise ValueError(f"seeds must be an int >= 1, got {seeds!r}")
    held = heldout if heldout is not None else data(torch.Generator().manual_seed(HELDOUT_SEED))
    out = HeldoutCheck(steps, broken_start=_eval(broken, held, loss_fn), fixed_start=_eval(fixed, held, loss_fn))
    for s in range(seeds):
        out.broken.append(_train_on_data(copy.deepcopy(broken), data, s, steps, loss_fn, optimizer, held))
        out.fixed.append(_train_on_data(copy.deepcopy(fixed), data, s, steps, loss_fn, optimizer, held))
    return out
