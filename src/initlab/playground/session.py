r"""One playground session (one browser tab): a validated state, a model, and one worker thread that
builds, trains (:func:`initlab.train.fit`, steps batched between updates) and measures it.

Messages from the page (:meth:`Session.handle`, JSON text, each validated before anything runs):
``{"type": "config", "state": {...}}``, ``play``, ``pause``, ``step``, ``reset``, ``export``.
Messages to the page (``publish(dict)``): ``hello``, ``error`` (``field``, ``message``), ``run`` (a new
model: state, points, mean-field line), ``snapshot`` (step, losses, histograms, boundary, findings
when due; only the newest waiting one is kept), ``extras`` (a new run's finite-width band and findings,
right after its first snapshot, so a dragged slider's histograms come first), ``theory`` (χ₁, ξ_c,
critical line), ``export`` (code),
``status``.

Training is one ``fit`` call per run with a callback that measures at most every ~40 ms (more
rarely when measuring is slow, so training keeps ≥ 40 % of the thread), handles the page's commands
between steps, and blocks while paused; the run is therefore exactly the one the exported code
replays. Any change of the state starts a new run (same seeds: same weights, same batches).
Memory is bounded: the fit history is cleared at each update (the page keeps the curves), the
outbox keeps the newest snapshot only, the inbox at most 64 messages.

>>> out = []
>>> s = Session(out.append)
>>> s.handle('{"type": "config", "state": {"depth": 99}}')
>>> out[-1]["type"], out[-1]["field"]
('error', 'depth')
>>> s.handle('not json'); out[-1]["message"][:27]
'message must be JSON text: '
"""
from __future__ import annotations

import json
import math
import threading
import time
import traceback
from collections import deque
from typing import Any, Callable

import torch

from .. import train
from ..formats import finite_or_none
from . import measure
from .datasets import RANGE, features as feature_map, split_points
from .export import export_code
from .theory_worker import TheoryProcess
from .state import State, StateError, schema, validate
from .training import Penalty, build_data, build_model, effective_sw2, fit_options, nominal_sw2, outputs

__all__ = ["Session", "COMMANDS", "MAX_STEPS", "theory_process", "close_theory"]

COMMANDS = ("config", "play", "pause", "step", "reset", "export")
MAX_STEPS = 1_000_000
MAX_MESSAGE = 16_384  # characters of one page message
_EVAL_POINTS = 1000
_POOL: list[TheoryProcess] = []
_POOL_LOCK = threading.Lock()


def theory_process() -> TheoryProcess:
    """One child process (started once, shared by all sessions) for the slow mean-field numbers."""
    with _POOL_LOCK:
        if not _POOL or _POOL[0].proc.poll() is not None:
            _POOL[:] = [TheoryProcess()]
        return _POOL[0]


def close_theory() -> None:
    """Stop the theory process (the server's shutdown)."""
    with _POOL_LOCK:
        for p in _POOL:
            p.close()
        _POOL.clear()




class _Stop(Exception):
    """The session is closing."""


class Session:
    """A tab's session. ``publish`` is called from the worker thread with JSON-ready dicts."""

    def __init__(self, publish: Callable[[dict], None], *, max_steps: int = MAX_STEPS):
        self._publish = publish
        self.max_steps = max_steps
        self.cv = threading.Condition()
        self.inbox: deque[dict] = deque()
        self.state: State | None = None
        self.closed = False
        self.playing = False
        self.budget: int | None = None
        self.run = 0
        self.step = 0
        self.diverged = ""
        self.model: Any = None
        self.last_active = time.monotonic()
        self._data_key: Any = None
        self._extras: tuple | None = None
        self.thread = threading.Thread(target=self._main, name="playground-session", daemon=True)

    # --- the page's side (any thread) -----------------------------------------------------------
    def publish(self, msg: dict) -> None:
        try:  # C-fast check; the recursive clean only when a NaN/Inf is in there
            json.dumps(msg, allow_nan=False)
        except ValueError:
            msg = finite_or_none(msg)  # the page's JSON.parse rejects NaN
        self._publish(msg)

    def start(self) -> None:
        self.publish({"type": "hello", "schema": schema()})
        self.thread.start()

    def handle(self, text: Any) -> None:
        """Validate one page message; enqueue it for the worker or publish an ``error``."""
        self.last_active = time.monotonic()
        try:
            msg = self._parse(text)
        except StateError as e:
            self.publish({"type": "error", "field": e.field, "message": str(e)})
            return
        with self.cv:
            if len(self.inbox) >= 64:
                self.publish({"type": "error", "field": "message", "message": "too many messages waiting; "
                              "this one was dropped"})
                return
            self.inbox.append(msg)
            self.cv.notify()

    def _parse(self, text: Any) -> dict:
        if not isinstance(text, str) or len(text) > MAX_MESSAGE:
            raise StateError("message", f"message must be JSON text of at most {MAX_MESSAGE} characters")
        try:
            msg = json.loads(text)
        except ValueError as e:
            raise StateError("message", f"message must be JSON text: {e}") from None
        if not isinstance(msg, dict) or msg.get("type") not in COMMANDS:
            got = msg.get("type") if isinstance(msg, dict) else type(msg).__name__
            raise StateError("type", f"type must be one of {list(COMMANDS)}, got {got!r}")
        extra = sorted(set(msg) - ({"type", "state"} if msg["type"] == "config" else {"type"}))
        if extra:
            raise StateError(extra[0], f"unexpected field(s) {extra} in a {msg['type']!r} message")
        if msg["type"] == "config":
            return {"type": "config", "state": validate(msg.get("state", {}))}
        return {"type": msg["type"]}

    def close(self) -> None:
        with self.cv:
            self.closed = True
            self.cv.notify_all()

    # --- the worker thread ----------------------------------------------------------------------
    def _take(self, timeout: float | None = None) -> list[dict]:
        with self.cv:
            if not self.inbox and not self.closed:
                self.cv.wait(timeout)
            if self.closed:
                raise _Stop
            items = list(self.inbox)
            self.inbox.clear()
        return items

    def _main(self) -> None:
        try:
            while True:
                # extras wait for a 0.1 s pause in the messages (a dragged slider sends one every frame)
                msgs = self._coalesce(self._take(timeout=0.1 if self._extras else None))
                if not msgs:
                    self._guarded(self._send_extras)
                    continue
                with self.cv:  # the rest wait in the inbox, where a running fit's callback finds them
                    self.inbox.extendleft(reversed(msgs[1:]))
                self._guarded(self._dispatch, msgs[0])
        except _Stop:
            pass
        finally:
            self.model = None

    def _guarded(self, fn: Callable, *args: Any) -> None:
        try:
            fn(*args)
        except _Stop:
            raise
        except Exception as e:  # the session lives on; the page shows what went wrong
            traceback.print_exc()
            self.publish({"type": "error", "field": "", "message": f"{type(e).__name__}: {e}"})

    @staticmethod
    def _coalesce(msgs: list[dict]) -> list[dict]:
        """Only the last of consecutive configs matters (a slider sends many)."""
        out: list[dict] = []
        for m in msgs:
            if out and m["type"] == "config" and out[-1]["type"] == "config":
                out[-1] = m
            else:
                out.append(m)
        return out

    def _dispatch(self, msg: dict) -> None:
        kind = msg["type"]
        if kind == "config":
            self._setup(msg["state"])
        elif self.state is None:
            self._setup(validate({}))
            if kind != "reset":
                self._dispatch(msg)
        elif kind == "reset":
            self._setup(self.state)
        elif kind == "export":
            self._export()
        elif kind in ("play", "step"):
            if self.state.mode == "init":
                self.publish({"type": "error", "field": "mode", "message": "'at init' mode does not train: "
                              "switch the mode to 'train' to play"})
                return
            if self.diverged or self.step >= self.max_steps:
                self._setup(self.state)
            self.playing, self.budget = True, (1 if kind == "step" else None)
            self._train()
        elif kind == "pause":
            self.playing = False
            self._status()

    def _status(self) -> None:
        self.publish({"type": "status", "run": self.run, "playing": self.playing, "step": self.step,
                      "diverged": self.diverged})

    def _export(self) -> None:
        assert self.state is not None
        self.publish({"type": "export", "steps": self.step, "code": export_code(self.state, self.step)})

    # --- building a run -------------------------------------------------------------------------
    def _setup(self, state: State) -> None:
        key = (state.dataset, state.noise, state.train_pct, state.features, state.data_seed, state.problem)
        if key != self._data_key:
            self.data = build_data(state)
            self.points = split_points(state.dataset, noise=state.noise, train_pct=state.train_pct,
                                       seed=state.data_seed) if state.two_d else None
            self._data_key = key
        self.state = state
        n_in, n_out = self.data.x_train.shape[1], outputs(state)
        self.model, report = build_model(state, n_in, n_out, data=self.data.x_train[:512])
        self.loss_fn = train.make_loss(state.loss)
        b = measure.probe_size(self.model, len(self.data.x_train))
        self.probe = (self.data.x_train[:b], self.data.y_train[:b])
        n = max(64, min(_EVAL_POINTS, 2 * measure.probe_size(self.model, _EVAL_POINTS)))  # big nets: fewer
        self.eval_sets = [(self.data.x_train[:n], self.data.y_train[:n]), (self.data.x_test[:n], self.data.y_test[:n])]
        self.run += 1
        self.step, self.epoch, self.diverged, self.playing = 0, 0, "", False
        self.timing = {"snapshot": 0.0, "boundary": 0.0, "findings": 0.0}
        self.last = {"snapshot": -math.inf, "boundary": -math.inf, "findings": -math.inf}
        self.features = lambda pts: feature_map(pts, list(state.features))
        q0 = float(self.probe[0].double().pow(2).mean())
        sw2 = nominal_sw2(state, report, self.model)
        with torch.random.fork_rng(devices=[]):
            pred, why = measure.predicted_std(self.model, q0)
        quick = measure.quick_theory(state.activation, max(sw2, 1e-12), state.sb2, q0) if sw2 > 0 else \
            {"sw2": 0.0, "sb2": state.sb2, "q0": q0, "q_star": None, "chi1": 0.0, "message": "zero weights"}
        msg = {"type": "run", "run": self.run, "state": state.to_dict(), "sw2": sw2,
               "sw2_measured": effective_sw2(self.model), "q0": q0, "probe": b,
               "pred_std": pred, "pred_note": why, "band": None, "theory": quick,
               "init_notes": list(report.notes), "params": sum(p.numel() for p in self.model.parameters())}
        if self.points is not None:
            xy_tr, y_tr, xy_te, y_te = self.points
            msg["points"] = {"train": [[round(float(a), 3), round(float(b_), 3), round(float(c), 3)]
                                       for (a, b_), c in zip(xy_tr, y_tr)],
                             "test": [[round(float(a), 3), round(float(b_), 3), round(float(c), 3)]
                                      for (a, b_), c in zip(xy_te, y_te)], "range": RANGE}
        self.publish(msg)
        self._snapshot(force_all=True, findings=False)  # the histograms first: what a dragged slider waits for
        self._extras = (self.run, state.activation, sw2, state.sb2, q0)  # done when no newer message waits

    def _send_extras(self) -> None:
        """The finite-width band, the findings and the slow theory of the newest run (skipped for runs a
        dragged slider has already replaced)."""
        if self._extras is None or self._extras[0] != self.run:
            return
        _, activation, sw2, sb2, q0 = self._extras
        self._extras = None
        with torch.random.fork_rng(devices=[]):
            band = measure.finite_width_band(self.model, self.probe[0], activation,
                                             generator=torch.Generator().manual_seed(self.state.seed))
        self.publish({"type": "extras", "run": self.run, "band": band, "findings": self._findings()})
        self._theory(activation, sw2, sb2, q0)

    def _theory(self, activation: str, sw2: float, sb2: float, q0: float) -> None:
        run = self.run

        def done(out: dict) -> None:  # on the reader thread; a newer run makes it stale
            if run == self.run and not self.closed:
                self.publish({"type": "theory", "run": run, **out})

        args = {"activation": activation, "sw2": max(sw2, 1e-12), "sb2": sb2, "q0": q0}
        theory_process().submit(str(id(self)), args, done)

    # --- measuring ------------------------------------------------------------------------------
    def _findings(self) -> list[dict]:
        t1 = time.perf_counter()
        try:
            with torch.random.fork_rng(devices=[]):
                out = measure.findings(self.model, self.probe[0], self.probe[1], self.loss_fn)
        except ValueError as e:
            out = [{"severity": "info", "kind": "inspect", "layers": [], "message": str(e), "fix": ""}]
        self.last["findings"], self.timing["findings"] = t1, time.perf_counter() - t1
        return out

    def _snapshot(self, force_all: bool = False, findings: bool = True) -> None:
        t0 = time.perf_counter()
        model, (x, y) = self.model, self.probe
        with torch.random.fork_rng(devices=[]):  # random activations: the training stream is untouched
            layers = measure.layer_histograms(model, x, y, self.loss_fn)
            losses = {}
            for split, (xs, ys) in zip(("train", "test"), self.eval_sets):
                m = train.evaluate(model, xs, ys, self.state.loss)
                losses[split], losses[f"{split}_acc"] = m["loss"], m["accuracy"]
            msg: dict[str, Any] = {"type": "snapshot", "run": self.run, "step": self.step, "epoch": self.epoch,
                                   "playing": self.playing, "loss": losses, "layers": layers,
                                   "diverged": self.diverged}
            now = time.perf_counter()
            due = now - self.last["boundary"] >= max(0.15, 5 * self.timing["boundary"])
            if self.state.two_d and (force_all or due):
                t1 = time.perf_counter()
                size = measure.grid_size(model)
                msg["boundary"] = {"size": size, "values": measure.boundary(
                    model, self.features, self.state.problem == "regression", size, RANGE)}
                self.last["boundary"], self.timing["boundary"] = t1, time.perf_counter() - t1
            if findings and (force_all or now - self.last["findings"] >= max(0.5, 10 * self.timing["findings"])):
                msg["findings"] = self._findings()
        self.timing["snapshot"] = time.perf_counter() - t0
        self.last["snapshot"] = t0
        self.publish(msg)

    # --- training -------------------------------------------------------------------------------
    def _train(self) -> None:
        assert self.state is not None
        self._send_extras()
        if self.step > 0:  # the run's fit already ended (a cap or a divergence): nothing to resume
            return
        control = _Control(self)
        # the training pair only: the page measures the test loss itself (fit would evaluate the whole
        # test set at every epoch end, seconds for MNIST through a 50 x 512 net)
        hist = train.fit(self.model, (self.data.x_train, self.data.y_train), steps=self.max_steps,
                         callbacks=[Penalty(self.state.reg, self.state.reg_rate), control],
                         **fit_options(self.state))
        if hist.diverged:
            self.diverged = hist.message
            self.playing = False
            self._snapshot(force_all=True)
        elif self.step >= self.max_steps:
            self.playing = False
            self.publish({"type": "error", "field": "", "message": f"stopped at the cap of {self.max_steps} "
                          "steps per run; press reset to start again"})
        self._status()


class _Control(train.Callback):
    """Between steps: count, measure when due, obey the page (pause blocks here; new state ends fit)."""

    def __init__(self, session: Session):
        self.s = session

    def on_train_batch_end(self, st: train.FitState, loss: float) -> None:
        s = self.s
        s.step, s.epoch = st.step, st.epoch
        if s.budget is not None:
            s.budget -= 1
            if s.budget <= 0:
                s.playing, s.budget = False, None
        now = time.perf_counter()
        if not s.playing or now - s.last["snapshot"] >= max(0.04, 1.5 * s.timing["snapshot"]):
            st.history.records.clear()  # the page keeps the curves; memory stays bounded
            s._snapshot()
        self._obey(st)

    def _obey(self, st: train.FitState) -> None:
        s = self.s
        while True:
            msgs = s._take(timeout=0) if s.playing else s._take(timeout=None)
            for i, m in enumerate(msgs):
                kind = m["type"]
                if kind in ("config", "reset"):
                    with s.cv:
                        s.inbox.extendleft(reversed(msgs[i:]))
                    st.should_stop = True
                    return
                if kind == "pause":
                    s.playing = False
                    s._snapshot()  # the page shows the exact state it paused at (what export replays)
                    s._status()
                elif kind in ("play", "step"):  # train on; later messages wait until after these steps
                    if kind == "play":
                        s.playing, s.budget = True, None
                    else:
                        s.budget = 1 if s.budget is None else s.budget + 1
                        s.playing = True
                    with s.cv:
                        s.inbox.extendleft(reversed(msgs[i + 1:]))
                    return
                elif kind == "export":
                    s._guarded(s._export)
            if s.playing:
                return
