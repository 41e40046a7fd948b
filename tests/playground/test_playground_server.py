"""The playground's server: Host/Origin guard, message validation (the session survives bad input),
the session cap, idle reaping, and a real uvicorn with a raw WebSocket client."""
from __future__ import annotations

import json
import time

import pytest

pytest.importorskip("starlette")
pytest.importorskip("httpx")
from playground_testlib import running_server  # noqa: E402
from starlette.testclient import TestClient  # noqa: E402
from starlette.websockets import WebSocketDisconnect  # noqa: E402

from initlab.playground.server import make_app  # noqa: E402

BASE = "http://127.0.0.1:8000"
WS = "ws://127.0.0.1:8000/ws"
ORIGIN = {"origin": BASE}


def _until(ws, kind: str, limit: int = 50) -> dict:
    for _ in range(limit):
        m = json.loads(ws.receive_text())
        if m["type"] == kind:
            return m
    raise AssertionError(f"no {kind!r} message in {limit}")


@pytest.fixture(scope="module")
def client():
    with TestClient(make_app(max_sessions=2), base_url=BASE) as c:
        yield c


def test_page_and_static_files(client):
    r = client.get("/")
    assert r.status_code == 200 and "initlab playground" in r.text
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp and "connect-src 'self'" in csp
    assert client.get("/static/playground.js").status_code == 200
    for bad in ("/static/index.html", "/static/..%2fserver.py", "/static/x.js"):
        assert client.get(bad).status_code == 404


@pytest.mark.parametrize("host", ["evil.example:8000", "127.0.0.1.evil.example", "attacker.test"])
def test_foreign_host_refused(client, host):
    # DNS rebinding: the attacker's name resolves to 127.0.0.1 but the Host header keeps the name
    r = client.get("/", headers={"host": host})
    assert r.status_code == 403 and "refused" in r.text


@pytest.mark.parametrize("headers", [{}, {"origin": "http://evil.example"}, {"origin": "http://127.0.0.1:9999"},
                                     {"origin": "null"}])
def test_websocket_needs_the_pages_own_origin(client, headers):
    with pytest.raises(WebSocketDisconnect) as e:
        with client.websocket_connect(WS, headers=headers) as ws:
            ws.receive_text()
    assert e.value.code == 1008 and "Origin" in e.value.reason


def test_websocket_with_a_rebound_host_refused(client):
    with pytest.raises(WebSocketDisconnect) as e:
        with client.websocket_connect("ws://evil.example:8000/ws", headers={"origin": "http://evil.example:8000"}):
            pass
    assert e.value.code == 1008 and "Host" in e.value.reason


BAD = [
    ("not json", "message"),
    ("[1, 2]", "type"),
    ('{"type": "rm -rf"}', "type"),
    ('{"type": "play", "code": "import os"}', "code"),
    ('{"type": "config", "state": {"depth": 51}}', "depth"),
    ('{"type": "config", "state": {"depth": 2.5}}', "depth"),
    ('{"type": "config", "state": {"width": 513}}', "width"),
    ('{"type": "config", "state": {"width": true}}', "width"),
    ('{"type": "config", "state": {"lr": "nan"}}', "lr"),
    ('{"type": "config", "state": {"lr": 0}}', "lr"),
    ('{"type": "config", "state": {"lr": 1e400}}', "lr"),
    ('{"type": "config", "state": {"activation": "__import__(\'os\')"}}', "activation"),
    ('{"type": "config", "state": {"init": "pretrained"}}', "init"),
    ('{"type": "config", "state": {"features": []}}', "features"),
    ('{"type": "config", "state": {"dataset": "plane"}}', "dataset"),
    ('{"type": "config", "state": {"seed": -1}}', "seed"),
    ('{"type": "config", "state": {"evil": 1}}', "evil"),
    ('{"type": "config", "state": "depth=3"}', "state"),
    (json.dumps({"type": "config", "state": {"activation": "x" * 20000}}), "message"),
]


def test_bad_messages_get_an_error_and_the_session_survives(client):
    with client.websocket_connect(WS, headers=ORIGIN) as ws:
        assert _until(ws, "hello")["schema"]["max_depth"] == 50
        ws.send_text(json.dumps({"type": "config", "state": {"depth": 2, "width": 8}}))
        assert _until(ws, "run")["state"]["depth"] == 2
        for text, field in BAD:
            ws.send_text(text)
            m = _until(ws, "error")
            assert m["field"] == field, (text, m)
            assert m["message"]
        # still alive, and still on the last good state
        ws.send_text('{"type": "reset"}')
        run = _until(ws, "run")
        assert run["state"]["depth"] == 2 and run["state"]["width"] == 8
        snap = _until(ws, "snapshot")
        assert len(snap["layers"]) == 2 and snap["step"] == 0


def test_play_step_pause_export(client):
    with client.websocket_connect(WS, headers=ORIGIN) as ws:
        ws.send_text(json.dumps({"type": "config", "state": {"depth": 3, "width": 16, "dataset": "xor"}}))
        _until(ws, "snapshot")
        ws.send_text('{"type": "step"}')
        snap = _until(ws, "snapshot")
        assert snap["step"] == 1 and not snap["playing"]
        ws.send_text('{"type": "export"}')
        code = _until(ws, "export")
        assert code["steps"] == 1 and "STEPS = 1" in code["code"]
        compile(code["code"], "<export>", "exec")
        ws.send_text('{"type": "config", "state": {"mode": "init"}}')
        _until(ws, "run")
        ws.send_text('{"type": "play"}')
        assert _until(ws, "error")["field"] == "mode"


def test_sessions_beyond_the_cap_are_refused_politely(client):
    with client.websocket_connect(WS, headers=ORIGIN) as a, client.websocket_connect(WS, headers=ORIGIN) as b:
        _until(a, "hello")
        _until(b, "hello")
        with client.websocket_connect(WS, headers=ORIGIN) as c:
            m = json.loads(c.receive_text())
            assert m["type"] == "refused" and "2 sessions" in m["message"]
            with pytest.raises(WebSocketDisconnect) as e:
                c.receive_text()
            assert e.value.code == 1013
    # the two closed: a new one is served
    for _ in range(100):
        if not client.app.state.sessions:
            break
        time.sleep(0.02)
    with client.websocket_connect(WS, headers=ORIGIN) as d:
        assert _until(d, "hello")


def test_idle_sessions_are_reaped():
    with TestClient(make_app(idle_seconds=0.3), base_url=BASE) as c:
        with c.websocket_connect(WS, headers=ORIGIN) as ws:
            m = _until(ws, "closed")
            assert "idle" in m["message"]
        assert not c.app.state.sessions


def test_real_uvicorn_and_a_raw_websocket():
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    with running_server(max_sessions=1) as hostport:
        with pytest.raises(InvalidStatus) as e:
            connect(f"ws://{hostport}/ws", origin="http://evil.example", open_timeout=10)
        assert e.value.response.status_code == 403
        with connect(f"ws://{hostport}/ws", origin=f"http://{hostport}", open_timeout=10) as ws:
            assert json.loads(ws.recv(timeout=30))["type"] == "hello"
            ws.send('{"type": "config", "state": {"width": 99999}}')
            assert json.loads(ws.recv(timeout=30))["field"] == "width"
            ws.send('{"type": "config", "state": {"depth": 2, "width": 4}}')
            types = [json.loads(ws.recv(timeout=30))["type"] for _ in range(2)]
            assert types == ["run", "snapshot"]
            with connect(f"ws://{hostport}/ws", origin=f"http://{hostport}", open_timeout=10) as extra:
                assert json.loads(extra.recv(timeout=30))["type"] == "refused"
