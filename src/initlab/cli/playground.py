"""``initlab playground [--host 127.0.0.1] [--port 8000] [--no-browser]``: the local, offline web
playground (needs the ``playground`` extra: ``pip install "initlab[playground]"``)."""
from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("playground", help="drag sigma_w and watch every layer's histogram change, live, "
                                          "in a local web page")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--no-browser", action="store_true", help="do not open a web browser")
    p.add_argument("--max-sessions", type=int, default=4, help="browser tabs served at once (default 4)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not 0 < args.port < 65536:
        raise ValueError(f"--port must be in 1..65535, got {args.port}")
    try:
        from initlab.playground import server
    except ImportError as e:
        raise ValueError(f"the playground needs Starlette and uvicorn ({e.name} is missing): "
                         'pip install "initlab[playground]"') from None
    server.serve(args.host, args.port, open_browser=not args.no_browser, max_sessions=args.max_sessions)
    return 0
