r"""The playground's web server: Starlette on uvicorn, one WebSocket per browser tab.

**Why Starlette, not FastAPI.** The server has four routes: the page, its static files, and one
WebSocket whose messages are validated by :func:`initlab.playground.state.validate` (the one schema
the session, the URL and the export share). FastAPI's value is request/response models, dependency
injection and OpenAPI docs for HTTP APIs; none of it applies to a single socket, and it would add
pydantic and a second schema of the state. Starlette is the ASGI toolkit FastAPI is built on: the same
WebSocket, test client and middleware, with fewer dependencies. uvicorn is the standard ASGI server
(with ``websockets`` for the socket protocol).

**Security.** Binding to 127.0.0.1 is not a boundary: any page the user visits may open
``ws://127.0.0.1:PORT`` (WebSockets have no CORS) or rebind its own DNS name to 127.0.0.1. So every
HTTP request and WebSocket must carry a ``Host`` whose name is one the server answers to
(``127.0.0.1``, ``localhost``, ``::1``, or the ``--host`` given), and every WebSocket an ``Origin``
equal to ``http://`` + that Host (the page's own origin); others get 403 before anything runs. The
page runs no code from the server and the server none from the page: messages are JSON, validated
field by field; the export is built from validated values. The page sets a strict
Content-Security-Policy (scripts and connections to its own origin only).

**Bounded work.** At most ``max_sessions`` sessions (others are refused politely with a message and
close code 1013, "try again later"); each has one worker thread and torch uses one intra-op thread;
sessions with no message from their page for ``idle_seconds`` are closed (the page says why); a
page message is at most 16 KiB.

>>> app = make_app(max_sessions=2)
>>> sorted(r.path for r in app.routes)
['/', '/static/{name}', '/ws']
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
import webbrowser
from collections import deque
from importlib import resources
from typing import Any

from starlette.applications import Starlette
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from .session import Session, close_theory, theory_process

__all__ = ["make_app", "serve", "LOCAL_NAMES"]

LOCAL_NAMES = ("127.0.0.1", "localhost", "::1")
_STATIC = {"playground.js": "text/javascript", "playground.css": "text/css"}
_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


def _page(name: str) -> bytes:
    return resources.files("initlab.playground").joinpath("page", name).read_bytes()


def _hostname(host: str) -> str:
    """``127.0.0.1:8000`` → ``127.0.0.1``; ``[::1]:8000`` → ``::1``."""
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else ""
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class Guard:
    """ASGI middleware: refuse a foreign ``Host`` (DNS rebinding) and a foreign ``Origin`` on WebSockets
    (cross-site WebSocket hijacking)."""

    def __init__(self, app: Any, names: set[str]):
        self.app, self.names = app, names

    def verdict(self, scope: dict) -> str:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        host = headers.get("host", "")
        if _hostname(host).lower() not in self.names:
            return f"Host {host!r} refused: the playground answers to {sorted(self.names)} only"
        if scope["type"] == "websocket" and headers.get("origin") != f"http://{host}":
            return f"Origin {headers.get('origin')!r} refused: only the playground's own page may connect"
        return ""

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket"):
            why = self.verdict(scope)
            if why:
                if scope["type"] == "http":
                    await PlainTextResponse(why, status_code=403)(scope, receive, send)
                else:
                    await send({"type": "websocket.close", "code": 1008, "reason": why[:120]})
                return
        await self.app(scope, receive, send)


class Outbox:
    """Worker thread → socket: ordered messages (at most 256 waiting) and the newest snapshot only."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop, self.lock, self.event = loop, threading.Lock(), asyncio.Event()
        self.queue: deque[dict] = deque(maxlen=256)
        self.latest: dict | None = None

    def put(self, msg: dict) -> None:
        with self.lock:
            if msg.get("type") == "snapshot":
                self.latest = msg
            else:
                self.queue.append(msg)
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody listens any more
            self.loop.call_soon_threadsafe(self.event.set)

    async def pump(self, ws: WebSocket) -> None:
        while True:
            await self.event.wait()
            self.event.clear()
            with self.lock:
                items = list(self.queue) + ([self.latest] if self.latest is not None else [])
                self.queue.clear()
                self.latest = None
            for m in items:
                await ws.send_text(json.dumps(m, allow_nan=False, separators=(",", ":")))


def make_app(*, host: str = "127.0.0.1", max_sessions: int = 4, idle_seconds: float = 1800.0,
             max_steps: int | None = None) -> Starlette:
    """The Starlette app (see the module docstring); ``host`` is added to the names it answers to."""
    if not (isinstance(max_sessions, int) and max_sessions >= 1):
        raise ValueError(f"max_sessions must be an int >= 1, got {max_sessions!r}")
    if not (isinstance(idle_seconds, (int, float)) and idle_seconds > 0):
        raise ValueError(f"idle_seconds must be a number > 0, got {idle_seconds!r}")
    sessions: dict[int, tuple[Session, WebSocket, Outbox]] = {}
    lock = asyncio.Lock()

    async def index(request: Any) -> Response:
        return HTMLResponse(_page("index.html"), headers={"Content-Security-Policy": _CSP,
                                                           "Cache-Control": "no-store"})

    async def static(request: Any) -> Response:
        name = request.path_params["name"]
        if name not in _STATIC:
            return PlainTextResponse("not found", status_code=404)
        return Response(_page(name), media_type=_STATIC[name], headers={"Cache-Control": "no-store"})

    async def socket(ws: WebSocket) -> None:
        await ws.accept()
        async with lock:
            full = len(sessions) >= max_sessions
            if not full:
                outbox = Outbox(asyncio.get_running_loop())
                session = Session(outbox.put, **({"max_steps": max_steps} if max_steps else {}))
                sessions[id(session)] = (session, ws, outbox)
        if full:
            await ws.send_text(json.dumps({"type": "refused", "message": (
                f"The playground is busy: {max_sessions} sessions are open, the most it runs at once. "
                "Close another playground tab, then reload this one.")}))
            await ws.close(code=1013)
            return
        session.start()
        pump = asyncio.create_task(outbox.pump(ws))
        try:
            while True:
                msg = await ws.receive()
                if msg["type"] == "websocket.disconnect":
                    break
                session.handle(msg.get("text"))
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            session.close()
            pump.cancel()
            sessions.pop(id(session), None)

    async def reaper() -> None:
        while True:
            await asyncio.sleep(min(5.0, idle_seconds / 4))
            now = time.monotonic()
            for session, ws, outbox in list(sessions.values()):
                if now - session.last_active > idle_seconds:
                    outbox.put({"type": "closed", "message": f"Session closed after {idle_seconds:g} s without "
                                f"input from this page (idle sessions are reaped). Reload to start again."})
                    await asyncio.sleep(0.05)
                    session.close()
                    sessions.pop(id(session), None)
                    with contextlib.suppress(Exception):
                        await ws.close(code=1001)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        task = asyncio.create_task(reaper())
        try:
            yield
        finally:
            task.cancel()
            for session, _, _ in list(sessions.values()):
                session.close()
            close_theory()

    app = Starlette(routes=[Route("/", index), Route("/static/{name}", static), WebSocketRoute("/ws", socket)],
                    lifespan=lifespan)
    app.state.sessions = sessions
    app.add_middleware(Guard, names=set(LOCAL_NAMES) | {host.strip("[]").lower()})
    return app


def warm_up() -> None:
    """One thread per op, and the first optimizer step's imports done before the first page asks."""
    import torch

    torch.set_num_threads(1)
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=0.1)
    p.grad = torch.ones(1)
    opt.step()
    theory_process()


def serve(host: str = "127.0.0.1", port: int = 8000, *, open_browser: bool = True, max_sessions: int = 4,
          idle_seconds: float = 1800.0) -> None:
    """Run the playground until Ctrl-C (uvicorn), opening the page in the browser unless told not to."""
    import uvicorn

    warm_up()
    app = make_app(host=host, max_sessions=max_sessions, idle_seconds=idle_seconds)
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else shown}:{port}/"
    print(f"initlab playground: {url}  (Ctrl-C stops it)", flush=True)
    if host not in LOCAL_NAMES:
        print(f"warning: listening on {host}: other machines on the network can reach the playground", flush=True)
    if open_browser:
        threading.Timer(1.0, lambda: webbrowser.open(url)).start()
    uvicorn.run(app, host=host, port=port, log_level="warning", ws_max_size=65536)
