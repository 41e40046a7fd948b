"""A small, honest training loop: ``fit(model, data, loss=…, lr=…, steps=…) -> History``.

* Models output **logits**; the sigmoid/softmax belongs to the loss, which is computed stably
  (``log σ(z)`` by log-sum-exp), so a saturated unit gives a large finite cost, never ``inf``.

  ========== ==================================================================================
  ``loss``   cost per batch (``y`` int labels; ``K`` outputs)
  ========== ==================================================================================
  ``bce``    binary cross-entropy of σ(logits), averaged over examples *and* outputs (torch's
             ``binary_cross_entropy_with_logits``); with K > 1 outputs the labels are one-hot
  ``bce_sum`` the same summed over the K outputs, averaged over examples (Nielsen, ch. 3/5:
             :math:`C = -\\frac1n\\sum_x\\sum_j [y_j \\ln a_j + (1-y_j)\\ln(1-a_j)]`)
  ``ce``     softmax cross-entropy (``F.cross_entropy``)
  ``mse``    mean squared error of the raw outputs (one-hot labels when K > 1)
  callable   ``loss(logits, y) -> scalar``
  ========== ==================================================================================

* A run whose loss or parameters become NaN/Inf stops and is marked diverged, with the
  step and the first bad layer (the first non-finite output, from :func:`initlab.inspect`).
* Callbacks receive Lightning-named events (:class:`Callback`); a progress bar goes to stderr on a
  terminal for runs of 200 or more steps (no dependency), never with ``quiet=True``.
* The global torch RNG is forked and seeded with ``seed`` for the run (dropout, RReLU, shuffling are
  reproducible) and left as it was afterwards.

>>> import torch, initlab as il
>>> g = torch.Generator().manual_seed(0)
>>> x = torch.randn(200, 2, generator=g); y = (x[:, 0] > 0).long()
>>> model = torch.nn.Sequential(torch.nn.Linear(2, 1))
>>> h = il.train.fit(model, (x, y), loss="bce", lr=1.0, steps=100, quiet=True)
>>> h.final("accuracy") > 0.95, h.diverged
(True, False)
"""
from __future__ import annotations

import math
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .progress import Progress

__all__ = ["fit", "History", "Callback", "LOSSES", "make_loss", "accuracy", "evaluate"]

LOSSES = ("bce", "bce_sum", "ce", "mse")
_OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop")
LossFn = Callable[[Tensor, Tensor], Tensor]


# --- losses and accuracy ----------------------------------------------------------------------------
def _targets(logits: Tensor, y: Tensor) -> Tensor:
    """Float targets shaped like ``logits``: one-hot for int labels with K > 1 outputs."""
    if logits.dim() == 2 and logits.shape[1] > 1 and not torch.is_floating_point(y):
        return F.one_hot(y, logits.shape[1]).to(logits.dtype)
    return y.to(logits.dtype).reshape(logits.shape)


def make_loss(loss: str | LossFn) -> LossFn:
    """The loss function ``loss(logits, y)`` for a name in :data:`LOSSES` or a callable (returned)."""
    if callable(loss):
        return loss
    if loss == "bce":
        return lambda z, y: F.binary_cross_entropy_with_logits(z, _targets(z, y))
    if loss == "bce_sum":
        return lambda z, y: F.binary_cross_entropy_with_logits(
            z, _targets(z, y), reduction="sum") / z.shape[0]
    if loss == "ce":
        return lambda z, y: F.cross_entropy(z, y)
    if loss == "mse":
        return lambda z, y: F.mse_loss(z, _targets(z, y))
    raise ValueError(f"loss must be one of {LOSSES} or a callable loss(logits, y), got {loss!r}")


def accuracy(logits: Tensor, y: Tensor, threshold: float = 0.0) -> float | None:
    """Fraction correct: argmax for K > 1 outputs, ``logit > threshold`` for one; None for float targets."""
    if torch.is_floating_point(y):
        return None
    if logits.dim() == 2 and logits.shape[1] > 1:
        pred = logits.argmax(1)
    else:
        pred = (logits.reshape(-1) > threshold).long()
    return float((pred == y.reshape(-1)).float().mean())


@torch.no_grad()
def evaluate(model: nn.Module, x: Tensor, y: Tensor, loss: str | LossFn) -> dict[str, float | None]:
    """``{"loss", "accuracy"}`` of ``model`` on ``(x, y)`` in eval mode (mode restored after)."""
    was = model.training
    model.eval()
    try:
        z = model(x)
        return {"loss": float(make_loss(loss)(z, y)), "accuracy": accuracy(z, y, _threshold(loss))}
    finally:
        model.train(was)


def _threshold(loss: str | LossFn) -> float:
    return 0.5 if loss == "mse" else 0.0  # mse regresses 0/1 labels directly; the others see logits


# --- history and callbacks ----------------------------------------------------------------------------
@dataclass
class History:
    """What :func:`fit` recorded.

    ``records``: ``(step, split, metric, value)`` rows, ``step`` = updates done before the value was
    measured (train loss at step t is the loss the t-th update descended). ``diverged_step`` is the
    update at which a NaN/Inf appeared and ``diverged_layer`` the first layer carrying it.
    """

    records: list[tuple[int, str, str, float]] = field(default_factory=list)
    steps: int = 0
    epochs: int = 0
    diverged: bool = False
    diverged_step: int | None = None
    diverged_layer: str | None = None
    message: str = ""
    watcher: Any = None
    seconds: float = 0.0

    def log(self, step: int, split: str, metric: str, value: float | None) -> None:
        if value is not None:
            self.records.append((int(step), split, metric, float(value)))

    def series(self, metric: str = "loss", split: str = "train") -> tuple[np.ndarray, np.ndarray]:
        """``(steps, values)`` of one metric, as arrays."""
        rows = [(s, v) for s, sp, m, v in self.records if sp == split and m == metric]
        if not rows:
            return np.zeros(0, np.int64), np.zeros(0)
        s, v = zip(*rows)
        return np.asarray(s, np.int64), np.asarray(v, np.float64)

    def final(self, metric: str = "loss", split: str = "train") -> float:
        """The last recorded value (NaN if none)."""
        _, v = self.series(metric, split)
        return float(v[-1]) if len(v) else math.nan

    def arrays(self) -> dict[str, np.ndarray]:
        """The Watcher's arrays (CONTRACTS.md) when ``fit(watch=…)`` ran, else ``{}``."""
        return dict(self.watcher.arrays()) if self.watcher is not None else {}

    def __repr__(self) -> str:
        state = f"diverged at step {self.diverged_step} ({self.diverged_layer})" if self.diverged else "ok"
        return (f"History(steps={self.steps}, epochs={self.epochs}, train loss={self.final():.4g}, "
                f"{state})")


class Callback:
    """Training events named as in PyTorch Lightning; override the ones you need.

    ``state`` is the live :class:`FitState` (model, optimizer, step, epoch, history); set
    ``state.should_stop = True`` to end training after the current step.
    """

    def on_fit_start(self, state: "FitState") -> None: ...
    def on_train_epoch_start(self, state: "FitState") -> None: ...
    def on_train_batch_start(self, state: "FitState", batch: tuple[Tensor, Tensor]) -> None: ...
    def on_after_backward(self, state: "FitState") -> None: ...
    def on_train_batch_end(self, state: "FitState", loss: float) -> None: ...
    def on_train_epoch_end(self, state: "FitState") -> None: ...
    def on_validation_end(self, state: "FitState", metrics: dict[str, float | None]) -> None: ...
    def on_fit_end(self, state: "FitState") -> None: ...


@dataclass
class FitState:
    model: nn.Module
    optimizer: torch.optim.Optimizer
    history: History
    step: int = 0
    epoch: int = 0
    should_stop: bool = False


_SHOW: list[list[Any]] = []  # [label, fits so far] of the innermost show_progress block


@contextmanager
def show_progress(label: str) -> Iterator[None]:
    """Within the block every :func:`fit` shows a progress bar (:class:`initlab.progress.Progress`: tqdm on a
    terminal, a plain line every 10 s otherwise), ``quiet=True`` ones too: ``initlab run`` of a long
    experiment uses it. Outside it, a fit shows a bar only on a terminal, for 200+ steps, unless quiet."""
    _SHOW.append([label, 0])
    try:
        yield
    finally:
        _SHOW.pop()


def _progress_bar(total: int, quiet: bool) -> Progress:
    if _SHOW:
        _SHOW[-1][1] += 1
        return Progress(total, label=f"{_SHOW[-1][0]} fit {_SHOW[-1][1]}", unit="step", every=10.0)
    return Progress(total, label="fit", unit="step", quiet=quiet or total < 200, plain=False)


# --- fit ------------------------------------------------------------------------------------------------
def _make_optimizer(model: nn.Module, optimizer: Any, lr: float | None, momentum: float) -> torch.optim.Optimizer:
    if isinstance(optimizer, torch.optim.Optimizer):
        return optimizer
    if optimizer not in _OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {_OPTIMIZERS} or a torch.optim.Optimizer, got {optimizer!r}")
    if lr is None or not (isinstance(lr, (int, float)) and lr > 0):
        raise ValueError(f"lr must be a positive number, got {lr!r}")
    params = [p for p in model.parameters() if p.requires_grad]
    if optimizer == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum)
    if optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, momentum=momentum)
    return (torch.optim.Adam if optimizer == "adam" else torch.optim.AdamW)(params, lr=lr)


def _split_data(data: Any) -> tuple[Any, tuple[Tensor, Tensor] | None]:
    """(train source, test pair or None). A train source is an (x, y) pair or an iterable of batches."""
    from .data import Dataset

    if isinstance(data, Dataset):
        return (data.x_train, data.y_train), (data.x_test, data.y_test)
    if isinstance(data, (tuple, list)) and len(data) == 2 and all(isinstance(t, Tensor) for t in data):
        if len(data[0]) != len(data[1]):
            raise ValueError(f"x and y must have the same length, got {len(data[0])} and {len(data[1])}")
        return (data[0], data[1]), None
    if isinstance(data, torch.utils.data.DataLoader) or isinstance(data, Iterable):
        return data, None
    raise ValueError(f"data must be a Dataset, an (x, y) pair of tensors or a DataLoader, got {type(data).__name__}")


def _batches(source: Any, batch_size: int | None, gen: torch.Generator) -> Iterator[tuple[Tensor, Tensor]]:
    """One epoch of batches."""
    if isinstance(source, tuple):
        x, y = source
        if batch_size is None or batch_size >= len(x):
            yield x, y
            return
        order = torch.randperm(len(x), generator=gen)
        for i in range(0, len(x), batch_size):
            idx = order[i:i + batch_size]
            yield x[idx], y[idx]
        return
    for batch in source:
        if not (isinstance(batch, (tuple, list)) and len(batch) >= 2):
            raise ValueError("each DataLoader batch must be an (x, y) pair")
        yield batch[0], batch[1]


def _nonfinite_param(named: list[tuple[str, Tensor]]) -> str | None:
    """The module name of the first parameter (in registration order) holding a NaN/Inf."""
    named = [(n, p) for n, p in named if p.numel()]
    if not named:
        return None
    # one fused reduction for the common, all-finite case: max |x| is NaN/Inf iff some x is
    peaks = torch._foreach_norm([p.detach() for _, p in named], float("inf"))
    if bool(torch.isfinite(torch.stack(peaks)).all()):
        return None
    for (name, _), peak in zip(named, peaks):
        if not bool(torch.isfinite(peak)):
            return name.rsplit(".", 1)[0] if "." in name else name
    return None


def _first_bad_layer(model: nn.Module, x: Tensor) -> str | None:
    """The first layer whose forward output holds a NaN/Inf (:func:`initlab.inspect`, call order), else
    the first whose parameters do; None when only the loss overflowed."""
    from . import probes

    try:  # forward only: an infinite loss would make every layer's gradient NaN
        insp = probes.inspect(model, x, loss_fn="none")
        bad = next((layer.name for layer in insp.layers if layer.nonfinite_forward), None)
    except ValueError:  # nothing the probes record (no Linear/Conv/norm/activation module)
        bad = None
    return bad or _nonfinite_param(list(model.named_parameters()))


def fit(model: nn.Module, data: Any, *, loss: str | LossFn, optimizer: Any = "sgd",
        lr: float | None = None, momentum: float = 0.0, batch_size: int | None = None,
        steps: int | None = None, epochs: int | None = None, seed: int = 0,
        watch: dict[str, Any] | None = None, callbacks: Iterable[Callback] = (),
        eval_every: int | None = None, quiet: bool = False) -> History:
    """Train ``model`` on ``data`` and return its :class:`History`.

    Args:
        data: a :class:`initlab.data.Dataset` (train on ``x_train``, evaluate on ``x_test`` too), an
            ``(x, y)`` pair, or a ``DataLoader`` yielding ``(x, y)`` batches.
        loss: ``"bce" | "bce_sum" | "ce" | "mse"`` or ``loss(logits, y)`` (see the module table).
        optimizer: ``"sgd" | "adam" | "adamw" | "rmsprop"`` (with ``lr``, ``momentum``) or a
            ``torch.optim.Optimizer``.
        batch_size: ``None`` = full batch (one update per epoch); ignored for a DataLoader.
        steps / epochs: stop after this many updates / passes (at least one of them).
        watch: options of :func:`initlab.watch`; the Watcher is stepped after every update and
            kept in ``History.watcher``.
        eval_every: full-batch runs record the train loss at every step and the test set every
            ``eval_every`` steps (default: ~200 points); mini-batch runs record both per epoch.
    """
    if steps is None and epochs is None:
        raise ValueError("give steps or epochs (or both), got neither")
    for nm, v in (("steps", steps), ("epochs", epochs), ("batch_size", batch_size), ("eval_every", eval_every)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
            raise ValueError(f"{nm} must be a positive integer or None, got {v!r}")
    loss_fn = make_loss(loss)
    thr = _threshold(loss)
    opt = _make_optimizer(model, optimizer, lr, momentum)
    train_src, test = _split_data(data)
    full_batch = isinstance(train_src, tuple) and (batch_size is None or batch_size >= len(train_src[0]))
    max_steps = steps if steps is not None else math.inf
    max_epochs = epochs if epochs is not None else math.inf
    if full_batch:
        total = int(min(max_steps, max_epochs))
    elif isinstance(train_src, tuple):
        per_epoch = math.ceil(len(train_src[0]) / batch_size)  # type: ignore[operator]
        total = int(min(max_steps, per_epoch * max_epochs))
    else:
        total = int(min(max_steps, len(train_src) * max_epochs)) if hasattr(train_src, "__len__") else steps or 0
    eval_every = eval_every or max(1, total // 200)
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    if isinstance(train_src, tuple):
        train_src = tuple(t.to(device) for t in train_src)
    if test is not None:
        test = tuple(t.to(device) for t in test)  # type: ignore[assignment]

    history = History()
    state = FitState(model, opt, history)
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    cbs = list(callbacks)
    bar = _progress_bar(total, quiet)
    gen = torch.Generator().manual_seed(seed)
    t0 = time.perf_counter()

    def emit(event: str, *args: Any) -> None:
        for cb in cbs:
            fn = getattr(cb, event, None)
            if fn is not None:
                fn(state, *args)

    def eval_test() -> None:
        if test is not None:
            m = evaluate(model, test[0], test[1], loss)
            history.log(state.step, "test", "loss", m["loss"])
            history.log(state.step, "test", "accuracy", m["accuracy"])
            emit("on_validation_end", m)

    def diverge(where: str, layer: str | None) -> None:
        history.diverged, history.diverged_step, history.diverged_layer = True, state.step, layer
        history.message = (f"diverged at step {state.step}: {where} became NaN/Inf"
                           + (f", first in layer {layer!r}" if layer else ""))
        state.should_stop = True

    watcher_cm = None
    if watch is not None:
        from . import probes

        watcher_cm = probes.watch(model, **watch)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        watcher = watcher_cm.__enter__() if watcher_cm is not None else None
        history.watcher = watcher
        try:
            model.train()
            emit("on_fit_start")
            while state.step < total and state.epoch < max_epochs and not state.should_stop:
                emit("on_train_epoch_start")
                sums = [0.0, 0.0, 0]  # loss·n, correct, n (epoch means for mini-batch runs)
                acc: float | None = None
                for xb, yb in _batches(train_src, None if full_batch else batch_size, gen):
                    xb, yb = xb.to(device), yb.to(device)
                    emit("on_train_batch_start", (xb, yb))
                    opt.zero_grad(set_to_none=True)
                    z = model(xb)
                    cost = loss_fn(z, yb)
                    value = float(cost.detach())
                    if not math.isfinite(value):
                        diverge("the loss", _first_bad_layer(model, xb))
                        break
                    acc = accuracy(z.detach(), yb, thr)
                    if full_batch:
                        history.log(state.step, "train", "loss", value)
                        history.log(state.step, "train", "accuracy", acc)
                        if state.step % eval_every == 0:
                            eval_test()
                    else:
                        n = len(yb)
                        sums[0] += value * n
                        sums[1] += (acc or 0.0) * n
                        sums[2] += n
                    cost.backward()
                    emit("on_after_backward")
                    opt.step()
                    state.step += 1
                    bad = _nonfinite_param(named)  # a NaN/Inf gradient shows up here too
                    if bad is not None:
                        diverge("a parameter", bad)
                        break
                    if watcher is not None:
                        watcher.step()
                    emit("on_train_batch_end", value)
                    bar.advance(state.step, loss=value)
                    if state.step >= total or state.should_stop:
                        break
                state.epoch += 1
                if not full_batch and sums[2]:
                    history.log(state.step, "train", "loss", sums[0] / sums[2])
                    if acc is not None:
                        history.log(state.step, "train", "accuracy", sums[1] / sums[2])
                    if not history.diverged:
                        eval_test()
                emit("on_train_epoch_end")
            if full_batch and not history.diverged:  # the cost after the last update
                m = evaluate(model, train_src[0], train_src[1], loss)
                history.log(state.step, "train", "loss", m["loss"])
                history.log(state.step, "train", "accuracy", m["accuracy"])
                eval_test()
            emit("on_fit_end")
        finally:
            bar.close()
            if watcher_cm is not None:
                watcher_cm.__exit__(None, None, None)
    history.steps, history.epochs = state.step, state.epoch
    history.seconds = time.perf_counter() - t0
    return history
