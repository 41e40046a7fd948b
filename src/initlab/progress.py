"""Progress of a long loop — a sweep's trials, an experiment's training steps: a tqdm bar on a terminal,
plain lines otherwise (``plain=False``: nothing), nothing when quiet. Torch-free, at the bottom of the
layers, so the training loop, the experiment runner and the sweep show the same bar.

Plain lines (logs, CI) come at most every ``every`` seconds and at the end:
``[sweep] 12/63 trials done (0 failed, 1 diverged), 51 remaining, ETA 1m20s``.

>>> import io
>>> out = io.StringIO()
>>> p = Progress(3, label="demo", stream=out, every=0)
>>> p.update("ok"); p.update("failed"); p.update("ok"); p.close()
>>> out.getvalue().splitlines()[-1]
'[demo] 3/3 trials done (1 failed, 0 diverged), 0 remaining, ETA 0s'
"""
from __future__ import annotations

import sys
import time
from typing import Any, TextIO

__all__ = ["Progress", "eta"]


def eta(seconds: float | None) -> str:
    """``1h02m``, ``3m20s``, ``45s``; ``?`` when unknown.

    >>> eta(3725), eta(200), eta(4.2), eta(None)
    ('1h02m', '3m20s', '4s', '?')
    """
    if seconds is None or seconds != seconds or seconds == float("inf"):
        return "?"
    s = int(round(seconds))
    if s >= 3600:
        return f"{s // 3600}h{(s % 3600) // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s}s"


class Progress:
    """``update(status)`` after each finished item (``"ok"``, ``"diverged"``, ``"failed"``)."""

    def __init__(self, total: int, *, done: int = 0, failed: int = 0, label: str = "sweep", quiet: bool = False,
                 stream: TextIO | None = None, every: float = 5.0, unit: str = "trial", plain: bool = True):
        self.total, self.done, self.failed, self.diverged = total, done, failed, 0
        self.label, self.quiet, self.every, self.unit = label, quiet, every, unit
        self.stream = stream or sys.stderr
        self.start_done, self.t0, self.last = done, time.monotonic(), 0.0
        self.bar: Any = None
        if not quiet and getattr(self.stream, "isatty", lambda: False)():
            try:
                from tqdm import tqdm
            except ImportError:
                tqdm = None
            if tqdm is not None:
                self.bar = tqdm(total=total, initial=done, desc=label, unit=unit, file=self.stream,
                                dynamic_ncols=True, smoothing=0.1)
        self.plain = plain and self.bar is None and not quiet
        if self.plain:
            self._line(force=True)

    def eta(self) -> float | None:
        ran = self.done - self.start_done
        if ran <= 0:
            return None
        return (time.monotonic() - self.t0) / ran * (self.total - self.done)

    def _line(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last < self.every:
            return
        self.last = now
        rest = self.total - self.done
        counts = f" ({self.failed} failed, {self.diverged} diverged)" if self.unit == "trial" else ""
        print(f"[{self.label}] {self.done}/{self.total} {self.unit}s done{counts}, {rest} remaining, "
              f"ETA {eta(self.eta()) if rest else '0s'}", file=self.stream, flush=True)

    def update(self, status: str = "ok", n: int = 1) -> None:
        self.done += n
        self.failed += n if status == "failed" else 0
        self.diverged += n if status == "diverged" else 0
        if self.quiet:
            return
        if self.bar is not None:
            if self.failed or self.diverged:
                self.bar.set_postfix(failed=self.failed, diverged=self.diverged, refresh=False)
            self.bar.update(n)
        elif self.plain:
            self._line(force=self.done >= self.total)

    def advance(self, done: int, **postfix: Any) -> None:
        """Set the count to ``done`` (a training loop's step), with extra numbers for the bar (``loss=…``)."""
        n, self.done = done - self.done, self.done
        if n > 0:
            if self.bar is not None and postfix:
                self.bar.set_postfix(**{k: f"{v:.4g}" if isinstance(v, float) else v for k, v in postfix.items()},
                                     refresh=False)
            self.update("ok", n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
