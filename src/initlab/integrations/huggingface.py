r"""A Hugging Face ``transformers.TrainerCallback`` that watches the Trainer's model.

``Trainer(..., callbacks=[InitlabCallback()])`` attaches :func:`initlab.watch` to the model when
training begins, calls ``Watcher.step`` in ``on_optimizer_step`` (after ``optimizer.step()``, before
the Trainer's ``model.zero_grad()``: the weight gradients and the update ‖ΔW‖/‖W‖ are those of the
optimizer step), and on every training log (``logging_steps``) adds the latest recorded per-layer
statistics to the log as ``initlab/{layer}/{stat}``: they enter ``trainer.state.log_history`` and every
``report_to`` integration that runs after this callback (:meth:`InitlabCallback.attach` puts it first,
so all of them see the values). Values reach the host at those logs and at the Watcher's own flushes
(every ``flush_every`` recorded steps); nothing waits in between. At the end the
findings are logged (and on the first log that sees a non-finite value), and the history is saved as
``initlab_watch.npz`` in ``args.output_dir`` (``initlab report`` renders it).

Steps: the recorded step ``s`` is the ``s``-th optimizer step (0-based); a log row with ``"step": n``
carries step ``n − 1``. With ``gradient_accumulation_steps = A > 1`` each module runs A times per step and
its micro-batches are recorded as separate calls (``name``, ``name#1``, …); the Trainer scales the loss
by 1/A, and so the δ statistics. Under DDP (``args.world_size > 1``; a process group initialized without
torchrun's environment, where the Trainer trains alone, is not merged over) the ranks' records are merged
into those of the global batch (:mod:`initlab.probes.distributed`; δ of the mean of the ranks' losses,
the loss DDP descends): each training log flushes on every process (a collective; the Trainer logs on
every process, so every process's logs carry the same merged values), and only process 0 reports the
findings and saves. With ``average_tokens_across_devices=True`` (the default) the Trainer multiplies each
process's loss by the world size W, which makes (1/W)·Σ_r L_r the one-process loss only for models whose
loss divides by the global ``num_items_in_batch`` (causal LM heads); for a model whose ``forward`` takes
``**kwargs`` but whose loss is its own local mean (``BertForSequenceClassification`` in transformers 5)
the Trainer descends W × the one-process loss, and the δ and weight-gradient statistics are W × a
one-process run's. Under ``fp16`` the δ statistics are those of the unscaled loss: the callback hands
the GradScaler of the Trainer's (accelerate-wrapped) optimizer to ``watch(..., grad_scaler=)``.
"""
from __future__ import annotations

import logging
import os
from typing import Any

from ..probes.tensorboard import check_stats
from ..probes.watcher import DEFAULT_EVERY, DEFAULT_HIST_EVERY
from . import FILENAME, lazy_class

__all__ = ["InitlabCallback", "FILENAME", "LOGGED_STATS"]

# the statistics added to each training log (all of them are kept in the saved history)
LOGGED_STATS = ("mean", "std", "grad_norm", "weight_grad_norm", "update_ratio")
_log = logging.getLogger("initlab")


def _make_class() -> type:
    try:
        from transformers import TrainerCallback
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("initlab.integrations.huggingface needs transformers: pip install 'initlab[hf]'") from e

    class InitlabCallback(_Mixin, TrainerCallback):  # type: ignore[misc, valid-type]
        """Watch the Trainer's model (see the module docstring for the steps and what is logged).

        Args:
            every, hist_every, flush_every, bins, update_ratio: as in :func:`initlab.watch`.
            stats: the statistics added to the training logs (names of ``initlab.formats.STATS``).
            findings: log the findings at the end (``"end"``) or not (``"never"``); the first
                non-finite step is logged in any case.
            save: write ``initlab_watch.npz`` in ``args.output_dir`` at the end (process 0).

        >>> from initlab.integrations.huggingface import InitlabCallback
        >>> InitlabCallback(every=4).every
        4
        """

    InitlabCallback.__module__, InitlabCallback.__qualname__ = __name__, "InitlabCallback"
    return InitlabCallback


class _Mixin:
    def __init__(self, every: int = DEFAULT_EVERY, hist_every: int | None = DEFAULT_HIST_EVERY, *,
                 flush_every: int = 100, bins: int = 30, update_ratio: bool = True,
                 stats: tuple[str, ...] = LOGGED_STATS, findings: str = "end", save: bool = True):
        from ..probes.watcher import Watcher

        Watcher(None, every=every, hist_every=hist_every, flush_every=flush_every, bins=bins)  # checks the arguments
        stats = check_stats(stats)
        if findings not in ("end", "never"):
            raise ValueError(f"findings must be one of ['end', 'never'], got {findings!r}")
        self.every, self.hist_every, self.flush_every, self.bins = every, hist_every, flush_every, bins
        self.update_ratio, self.stats, self.findings_when, self.save = update_ratio, stats, findings, save
        self.watcher: Any = None
        self.findings: list[Any] = []
        self.path: str | None = None
        self._nonfinite_reported = False

    def attach(self, trainer: Any) -> "_Mixin":
        """Add this callback to ``trainer`` first, so the ``report_to`` integrations log its values."""
        trainer.callback_handler.callbacks.insert(0, self)
        return self

    def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, **kw: Any) -> None:
        from ..probes.watcher import watch

        if model is None:
            raise ValueError("InitlabCallback: the Trainer passed no model to on_train_begin")
        # merge over the processes exactly when the Trainer trains data-parallel (not whenever a process
        # group happens to be initialized: without torchrun's environment the Trainer trains alone)
        self.watcher = watch(model, every=self.every, hist_every=self.hist_every, flush_every=self.flush_every,
                             bins=self.bins, update_ratio=self.update_ratio, distributed=args.world_size > 1,
                             grad_scaler=getattr(kw.get("optimizer"), "scaler", None))  # fp16: accelerate's
        self.watcher.__enter__()

    def on_optimizer_step(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        if self.watcher is not None:
            self.watcher.step()

    def on_log(self, args: Any, state: Any, control: Any, logs: dict | None = None, **kw: Any) -> None:
        if self.watcher is None or logs is None or "loss" not in logs:
            return  # evaluation logs and the final summary carry no training step of their own
        import numpy as np

        self.watcher.flush()  # the one flush (host copy) per log; under DDP a collective (every process logs)
        a = self.watcher.arrays()
        rows = np.flatnonzero(a["steps"] <= state.global_step - 1)
        if len(rows):
            i = rows[-1]
            new = {f"initlab/{name}/{k}": float(a[k][i, j]) for k in self.stats
                   for j, name in enumerate(a["layers"]) if np.isfinite(a[k][i, j])}
            logs.update(new)
            if state.log_history and state.log_history[-1].get("step") == state.global_step:
                state.log_history[-1].update(new)
        nf = [x for x in (a["nonfinite_forward"], a["nonfinite_backward"]) if x.size]
        if not self._nonfinite_reported and any((x > 0).any() for x in nf):
            self._nonfinite_reported = True
            self._report("non-finite", state)

    def on_train_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        if self.watcher is None:
            return
        self.watcher.close()
        if self.findings_when == "end":
            self._report("end", state)
        if self.save and state.is_world_process_zero:
            from ..formats import write_npz

            self.path = str(write_npz(os.path.join(args.output_dir, FILENAME), self.watcher.arrays()))

    def _report(self, when: str, state: Any) -> None:
        self.findings = self.watcher.findings()  # every process holds them (the merged history); process 0 says them
        if not state.is_world_process_zero:
            return
        text = "\n".join(f"- [{f.severity}] {f.message}" for f in self.findings) or "no findings"
        _log.warning("initlab findings (%s, step %d):\n%s", when, state.global_step, text)


# InitlabCallback is built on first use, so this module imports without transformers
__getattr__ = lazy_class(__name__, globals(), "InitlabCallback", _make_class)

