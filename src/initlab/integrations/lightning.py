r"""A Lightning callback that watches the LightningModule while it trains.

``trainer = L.Trainer(callbacks=[InitlabCallback()])`` records the per-layer statistics of
:func:`initlab.watch` on every ``every``-th optimizer step (5 by default, as ``watch``), logs them through the trainer's loggers (scalars
``initlab/{layer}/{stat}``; histograms too when the logger is TensorBoard), reports the findings, and
saves the history as ``initlab_watch.npz`` in the trainer's log dir (``initlab report`` renders it).

What each Lightning hook sees (automatic optimization, the order Lightning calls them):

* the forward hooks record the outputs of ``training_step``; validation runs under ``no_grad`` and is
  not recorded;
* ``on_after_backward``: every δ = ∂L/∂output of this micro-batch has been seen; ``.grad`` holds the
  gradients accumulated so far, still multiplied by the AMP loss scale under ``16-mixed`` (GradScaler);
* ``on_before_optimizer_step``: ``.grad`` is the full accumulated gradient, unscaled; the weights are
  those before the update;
* ``on_train_batch_end`` (where this callback calls ``Watcher.step``): after ``optimizer.step``; the
  weights are updated (‖ΔW‖/‖W‖) and ``.grad`` is still the unscaled accumulated gradient
  (Lightning zeroes it before the next backward). Hence ``weight_grad_norm`` and ``update_ratio`` are
  those of the optimizer step.

Steps are optimizer steps: ``Watcher.step`` is called only on batches where ``trainer.global_step``
advanced, so the recorded step ``s`` is the ``s``-th optimizer step (0-based; ``global_step`` = s+1
after it). With ``accumulate_grad_batches = A > 1`` each module runs A times per step and its
micro-batches are recorded as separate calls (layers ``name``, ``name#1``, …, ``name#{A-1}``); Lightning
divides the loss by A, so their δ statistics are 1/A of an unaccumulated run's. Under ``16-mixed`` the
δ statistics (``grad_norm``, ``grad_std``) are those of the unscaled loss: the callback hands the
precision plugin's GradScaler to :func:`initlab.watch` (``grad_scaler=``), which divides each step's δ
by the scale its backward used; ``bf16-mixed`` has no scaler. Values reach the host when they are logged, every
``trainer.log_every_n_steps`` steps (and at the end), and at the Watcher's own flushes (every ``flush_every``
recorded steps). Under DDP (``trainer.world_size > 1``; a process
group initialized around a one-process Trainer is not merged over) the ranks' records are merged into
those of the global batch (:mod:`initlab.probes.distributed`; δ statistics are those of the loss DDP
descends, the mean of the ranks' losses): each log flushes on every rank (a collective; Lightning calls
these hooks on every rank at the same step), then rank 0 alone logs, reports the findings and saves.
"""
from __future__ import annotations

import logging
import os
from typing import Any

from . import FILENAME, lazy_class
from ..probes.tensorboard import check_stats
from ..probes.watcher import DEFAULT_EVERY, DEFAULT_HIST_EVERY
from .tensorboard import DEFAULT_STATS, log as tb_log

__all__ = ["InitlabCallback", "FILENAME"]

FINDINGS = ("end", "epoch", "never")
_log = logging.getLogger("initlab")


def _callback_base() -> type:
    try:
        from lightning.pytorch.callbacks import Callback
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("initlab.integrations.lightning needs Lightning: pip install 'initlab[lightning]'") from e
    return Callback


def _make_class() -> type:
    Callback = _callback_base()

    class InitlabCallback(_Mixin, Callback):  # type: ignore[misc, valid-type]
        """Watch the LightningModule during ``fit`` (see the module docstring for what each hook sees).

        Args:
            every, hist_every, flush_every, bins, update_ratio: as in :func:`initlab.watch`.
            findings: ``"end"`` (after training), ``"epoch"`` (after each training epoch and the end)
                or ``"never"``; the first non-finite step is reported when it is logged in any case.
            stats: the statistics logged as scalars (all are kept in the saved history).
            save: write ``initlab_watch.npz`` in the trainer's log dir at the end (rank 0).

        >>> from initlab.integrations.lightning import InitlabCallback
        >>> InitlabCallback(every=2, hist_every=10).every
        2
        """

    InitlabCallback.__module__, InitlabCallback.__qualname__ = __name__, "InitlabCallback"
    return InitlabCallback


class _Mixin:
    def __init__(self, every: int = DEFAULT_EVERY, hist_every: int | None = DEFAULT_HIST_EVERY, *,
                 flush_every: int = 100, bins: int = 30, update_ratio: bool = True, findings: str = "end",
                 stats: tuple[str, ...] = DEFAULT_STATS, save: bool = True):
        super().__init__()
        if findings not in FINDINGS:
            raise ValueError(f"findings must be one of {list(FINDINGS)}, got {findings!r}")
        from ..probes.watcher import Watcher

        Watcher(None, every=every, hist_every=hist_every, flush_every=flush_every, bins=bins)  # checks the arguments
        self.every, self.hist_every, self.flush_every, self.bins = every, hist_every, flush_every, bins
        self.update_ratio, self.findings_when, self.stats, self.save = update_ratio, findings, check_stats(stats), save
        self.watcher: Any = None
        self.findings: list[Any] = []
        self.path: str | None = None
        self._logged: int | None = None
        self._last_global = 0
        self._nonfinite_reported = False

    # --- Lightning hooks ----------------------------------------------------------------------------
    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        from ..probes.watcher import watch

        self.watcher = watch(pl_module, every=self.every, hist_every=self.hist_every, flush_every=self.flush_every,
                             bins=self.bins, update_ratio=self.update_ratio,
                             distributed=trainer.world_size > 1,  # the Trainer's processes, not any process group
                             grad_scaler=getattr(trainer.precision_plugin, "scaler", None))  # 16-mixed
        self.watcher.__enter__()
        self._last_global = trainer.global_step

    def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        if self.watcher is None or trainer.global_step == self._last_global:
            return  # accumulating: the optimizer has not stepped
        self._last_global = trainer.global_step
        self.watcher.step()
        if trainer.global_step % max(int(trainer.log_every_n_steps), 1) == 0:
            self._write(trainer)

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        if self.watcher is not None and self.findings_when == "epoch":
            self._write(trainer)
            self._report(trainer, "epoch")

    def on_train_end(self, trainer: Any, pl_module: Any) -> None:
        if self.watcher is None:
            return
        self.watcher.close()
        self._write(trainer)
        if self.findings_when != "never":
            self._report(trainer, "end")
        d = (trainer.log_dir or trainer.default_root_dir) if self.save else None  # log_dir broadcasts: every rank
        if self.save and trainer.is_global_zero:
            from ..formats import write_npz

            self.path = str(write_npz(os.path.join(d, FILENAME), self.watcher.arrays()))

    def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
        if self.watcher is not None:  # no flush under DDP: the other ranks may not be there to merge
            self.watcher.__exit__(type(exception), exception, None)

    # --- logging ------------------------------------------------------------------------------------
    def _write(self, trainer: Any) -> None:
        w = self.watcher
        w.flush()  # the one flush (host copy) per log; under DDP a collective, so on every rank
        if not trainer.is_global_zero:
            return
        a = w.arrays()
        for logger in trainer.loggers:
            writer = _tensorboard_writer(logger)
            if writer is not None:
                tb_log(w, writer, since=self._logged, stats=self.stats, prefix="initlab/")
            else:
                _log_metrics(logger, a, self._logged, self.stats)
        self._logged = int(a["steps"][-1]) if len(a["steps"]) else self._logged
        nf = a["nonfinite_forward"], a["nonfinite_backward"]
        if not self._nonfinite_reported and any((x > 0).any() for x in nf if x.size):
            self._nonfinite_reported = True
            self._report(trainer, "non-finite")

    def _report(self, trainer: Any, when: str) -> None:
        self.findings = self.watcher.findings()  # every rank holds them (the merged history); rank 0 says them
        if not trainer.is_global_zero:
            return
        text = "\n".join(f"- [{f.severity}] {f.message}" for f in self.findings) or "no findings"
        _log.warning("initlab findings (%s, step %d):\n%s", when, trainer.global_step, text)
        for logger in trainer.loggers:
            writer = _tensorboard_writer(logger)
            if writer is not None:
                writer.add_text("initlab/findings", text, global_step=trainer.global_step)


def _tensorboard_writer(logger: Any) -> Any:
    """The SummaryWriter of a Lightning TensorBoardLogger, else None."""
    exp = getattr(logger, "experiment", None)
    return exp if hasattr(exp, "add_histogram_raw") and hasattr(exp, "add_scalar") else None


def _log_metrics(logger: Any, a: dict, since: int | None, stats: tuple[str, ...]) -> None:
    import numpy as np

    layers = [str(x) for x in a["layers"]]
    for i, s in enumerate(a["steps"]):
        if since is not None and s <= since:
            continue
        m = {f"initlab/{name}/{k}": float(a[k][i, j]) for k in stats for j, name in enumerate(layers)
             if np.isfinite(a[k][i, j])}
        if m:
            logger.log_metrics(m, step=int(s))


# InitlabCallback is built on first use, so this module imports without Lightning
__getattr__ = lazy_class(__name__, globals(), "InitlabCallback", _make_class)

