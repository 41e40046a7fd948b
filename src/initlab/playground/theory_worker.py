"""The slow mean-field numbers (``measure.slow_theory``: ξ_c, the critical line) in a child process.

Pure-Python quadrature holds the GIL for seconds (tanh's correlation map); in the server's process it
would stall every session's training thread. :class:`TheoryProcess` runs
``python -m initlab.playground.theory_worker``, talks JSON lines over its stdin/stdout and keeps, per
session, only the newest request not yet started (a dragged slider sends many).
"""
from __future__ import annotations

import json
import subprocess
import sys
import threading
from typing import Any, Callable

__all__ = ["TheoryProcess", "main"]


class TheoryProcess:
    """Client side: ``submit(key, args, callback)``; ``callback(result_dict)`` runs on a reader thread."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "initlab.playground.theory_worker"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        self.lock = threading.Lock()
        self.callbacks: dict[int, Callable[[dict], None]] = {}
        self.next_id = 0
        self.reader = threading.Thread(target=self._read, name="playground-theory-reader", daemon=True)
        self.reader.start()

    def submit(self, key: str, args: dict[str, Any], callback: Callable[[dict], None]) -> None:
        with self.lock:
            self.next_id += 1
            rid = self.next_id
            self.callbacks[rid] = callback
            assert self.proc.stdin is not None
            self.proc.stdin.write(json.dumps({"id": rid, "key": key, "args": args}) + "\n")
            self.proc.stdin.flush()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            msg = json.loads(line)
            with self.lock:
                dropped = [self.callbacks.pop(i, None) for i in msg.get("dropped", [])]
                cb = self.callbacks.pop(msg["id"], None)
            del dropped
            if cb is not None and "result" in msg:
                cb(msg["result"])

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.close()
                self.proc.wait(timeout=1)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()


def main() -> None:
    """Worker side: read requests, keep the newest per key, answer one at a time."""
    from .measure import slow_theory

    cv = threading.Condition()
    pending: dict[str, dict] = {}
    done = [False]

    def read() -> None:
        for line in sys.stdin:
            req = json.loads(line)
            with cv:
                old = pending.get(req["key"])
                if old is not None:  # superseded before it started
                    print(json.dumps({"id": old["id"], "dropped": [old["id"]]}), flush=True)
                pending[req["key"]] = req
                cv.notify()
        with cv:
            done[0] = True
            cv.notify()

    threading.Thread(target=read, daemon=True).start()
    while True:
        with cv:
            while not pending and not done[0]:
                cv.wait()
            if not pending:
                return
            key = next(iter(pending))
            req = pending.pop(key)
        try:
            result = slow_theory(**req["args"])
        except Exception as e:  # noqa: BLE001 - reported to the page
            result = {"message": f"theory failed: {type(e).__name__}: {e}"}
        print(json.dumps({"id": req["id"], "result": result}), flush=True)


if __name__ == "__main__":
    main()
