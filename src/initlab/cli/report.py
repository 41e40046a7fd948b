"""``initlab report PATH [--open]``: write the offline HTML report of a run directory.

PATH is a run directory (→ PATH/report.html), a folder of run directories such as the output of
``initlab run all`` (→ PATH/index.html and every run's report), or a Watcher history ``.npz``
(→ the same name with ``.html``).
"""
from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="write the offline HTML report of a run directory (or a tour's index)")
    p.add_argument("path", metavar="RUN_DIR", help="run directory, folder of runs, or Watcher .npz")
    p.add_argument("--open", action="store_true", help="open the report in a web browser")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from initlab import report

    path = Path(args.path)
    if path.is_file() and path.suffix == ".npz":
        out = report.to_html(path, path.with_suffix(".html"), title=path.stem)
    elif (path / "config.json").is_file() or not path.is_dir():
        out = report.write_run_report(path)   # raises ValueError naming what is wrong
    elif any(path.glob("*/config.json")):
        out = report.write_index(path)
    else:
        raise ValueError(f"{str(path)!r} holds no run directory (no config.json in it or below it)")
    print(out)
    if args.open:
        import webbrowser

        webbrowser.open(Path(out).resolve().as_uri())
    return 0
