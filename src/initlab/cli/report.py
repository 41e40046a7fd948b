"""``initlab report PATH [--redraw] [--open]``: write the offline HTML report of a run directory.

PATH is a run directory (→ PATH/report.html), a folder of run directories such as the output of
``initlab run all`` (→ PATH/index.html and every run's report), or a Watcher history ``.npz``
(→ the same name with ``.html``). ``--redraw`` first re-draws each run's ``figures/*.png`` from its
files (config, summary, metrics, history, arrays) without re-running it — and without loading torch.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from initlab.formats import CONFIG


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="write the offline HTML report of a run directory (or a tour's index)")
    p.add_argument("path", metavar="RUN_DIR", help="run directory, folder of runs, or Watcher .npz")
    p.add_argument("--redraw", action="store_true",
                   help="re-draw the run's figures from its files first (no re-run; for a folder: every run)")
    p.add_argument("--open", action="store_true", help="open the report in a web browser")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from initlab import report

    path = Path(args.path)
    is_run = (path / CONFIG).is_file()
    runs = [path] if is_run else sorted(p.parent for p in path.glob(f"*/{CONFIG}")) if path.is_dir() else []
    if args.redraw:
        if not runs:
            raise ValueError(f"--redraw needs a run directory or a folder of them; {str(path)!r} holds no "
                             f"{CONFIG}")
        _redraw(runs)
    if path.is_file() and path.suffix == ".npz":
        out = report.to_html(path, path.with_suffix(".html"), title=path.stem)
    elif is_run or not path.is_dir():
        out = report.write_run_report(path)   # raises ValueError naming what is wrong
    elif runs:
        out = report.write_index(path)
    else:
        raise ValueError(f"{str(path)!r} holds no run directory (no {CONFIG} in it or below it)")
    print(out)
    if args.open:
        import webbrowser

        webbrowser.open(Path(out).resolve().as_uri())
    return 0


def _redraw(runs: list[Path]) -> None:
    """Re-draw every run's figures from its files (initlab.experiments.figures: torch-free)."""
    from initlab.experiments import figures

    for run_dir in runs:
        for fig in figures.redraw(run_dir):
            print(f"drew {fig}")
