"""The ``initlab`` command line. Each sub-command lives in its own module with ``register(sub)``.

A ``ValueError`` raised by the library (bad input) is printed as ``initlab: error: …`` without a
traceback, exit status 2.
"""
from __future__ import annotations

import argparse
import importlib
import sys

import initlab

# sub-command modules, in the order --help lists them; each defines register(subparsers)
COMMANDS = (
    "initlab.cli.activations",
    "initlab.cli.demo",
    "initlab.cli.inspect",
    "initlab.cli.experiments",
    "initlab.cli.theory",
    "initlab.cli.report",
    "initlab.cli.sweep",
    "initlab.cli.playground",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="initlab",
        description="See, predict and fix how signals flow through deep neural networks.")
    parser.add_argument("--version", action="version", version=f"initlab {initlab.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for mod in COMMANDS:
        importlib.import_module(mod).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except ValueError as exc:
        print(f"initlab: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
