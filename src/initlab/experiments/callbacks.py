"""``fit`` callbacks the experiments share: call something on a schedule of updates, keep every batch loss.

>>> calls = []
>>> every = Every(2, calls.append)
>>> class State: step = 0
>>> every.on_fit_start(State)
>>> for State.step in range(1, 6):
...     every.on_train_batch_end(State, 0.0)
>>> calls
[0, 2, 4]
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .series import running_mean

__all__ = ["Every", "StepLoss"]


class Every:
    """A ``fit`` callback calling ``fn(step)`` before training (step 0) and every ``every`` updates."""

    def __init__(self, every: int, fn: Callable[[int], None]):
        self.every, self.fn = max(1, int(every)), fn

    def on_fit_start(self, state: Any) -> None:
        self.fn(0)

    def on_train_batch_end(self, state: Any, loss: float) -> None:
        if state.step % self.every == 0:
            self.fn(state.step)


class StepLoss:
    """A ``fit`` callback keeping the loss of every mini-batch (``fit`` logs epoch means only)."""

    def __init__(self) -> None:
        self.steps: list[int] = []
        self.losses: list[float] = []

    def on_train_batch_end(self, state: Any, loss: float) -> None:
        self.steps.append(state.step)
        self.losses.append(loss)

    def smoothed(self, window: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """(steps, running mean of the last ``window`` batch losses)."""
        return np.asarray(self.steps), running_mean(np.asarray(self.losses, dtype=np.float64), window)

    def arrays(self) -> dict[str, np.ndarray]:
        """``{"steps", "loss"}``: every batch loss, for the run's arrays file."""
        return {"steps": np.asarray(self.steps, dtype=np.int64), "loss": np.asarray(self.losses, dtype=np.float64)}

    def mean_of_last(self, n: int = 20) -> float | None:
        """The mean of the last ``n`` batch losses; None before any."""
        return float(np.mean(self.losses[-n:])) if self.losses else None
