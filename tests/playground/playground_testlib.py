"""Helpers for the playground's tests: a real uvicorn server on 127.0.0.1 (a free port) in a thread, and an
in-process session driver."""
from __future__ import annotations

import socket
import threading
import time
from contextlib import contextmanager
from typing import Iterator


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_server(**options) -> Iterator[str]:
    """Start ``make_app(**options)`` under uvicorn; yield ``127.0.0.1:PORT``; stop it."""
    import uvicorn

    from initlab.playground.server import make_app, warm_up

    warm_up()
    port = free_port()
    config = uvicorn.Config(make_app(**options), host="127.0.0.1", port=port, log_level="warning",
                            ws_max_size=65536)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    t0 = time.time()
    while not server.started:
        if time.time() - t0 > 30 or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        assert not thread.is_alive(), "uvicorn did not stop"


def run_session(state: dict, steps: int, timeout: float = 120.0) -> list[dict]:
    """Drive a playground ``Session`` in-process: configure ``state``, take ``steps`` steps, ask for the
    export, wait (at most ``timeout`` s) for it, close; return every message the session sent."""
    import json

    from initlab.playground.session import Session

    out: list[dict] = []
    s = Session(out.append)
    s.start()
    try:
        s.handle(json.dumps({"type": "config", "state": state}))
        for _ in range(steps):
            s.handle('{"type": "step"}')
        s.handle('{"type": "export"}')
        t0 = time.time()
        while not any(m["type"] == "export" for m in out):
            assert time.time() - t0 < timeout, out[-3:]
            time.sleep(0.02)
    finally:
        s.close()
    return out
