"""``initlab list`` and ``initlab run NAME|all``: the experiments (``initlab.experiments``)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from initlab.formats import INDEX_MD


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("list", help="list the experiments: name, what it shows, the reference it reproduces")
    p.add_argument("--settings", action="store_true", help="also list each experiment's settings and defaults")
    p.set_defaults(func=list_experiments)

    p = sub.add_parser("run", help="run an experiment (or 'all') into a run directory",
                       description="Run experiment NAME into --out (default runs/NAME), or 'all' of them "
                                   "into --out (default runs/) with an index.md.")
    p.add_argument("name", metavar="NAME", help="experiment name (see `initlab list`) or 'all'")
    p.add_argument("--set", dest="settings", action="append", default=[], metavar="KEY=VALUE",
                   help="override a setting (repeatable); lists as 1,2,3 or [1, 2, 3]")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--quick", action="store_true", help="small sizes (the whole tour in minutes)")
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")
    p.add_argument("--out", default=None, help="the run directory itself (default runs/NAME; for 'all': runs/)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing run directory")
    p.set_defaults(func=run_experiment)


def list_experiments(args: argparse.Namespace) -> int:
    from initlab import experiments

    exps = experiments.experiments()
    width = max(len(e.name) for e in exps)
    for e in exps:
        print(f"{e.name.ljust(width)}  {e.description}")
        print(f"{''.ljust(width)}  reproduces: {e.reference}")
        if args.settings:
            for key, (tp, default) in experiments.settings(e.config).items():
                quick = f" (quick: {e.quick[key]!r})" if key in e.quick else ""
                print(f"{''.ljust(width)}    --set {key}=…  {tp}, default {default!r}{quick}")
    return 0


def _parse_settings(items: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise ValueError(f"--set takes KEY=VALUE, got {item!r}")
        out[key.strip()] = value
    return out


def _report_index_writers() -> list:
    """The HTML report's ``write_index(out)`` (index.html and every run's report.html)."""
    from initlab.report import write_index

    def writer(out: Path) -> None:
        try:
            write_index(out)
        except Exception as exc:  # noqa: BLE001 — the markdown index and the runs are already written
            print(f"initlab: warning: index.html not written: {exc}", file=sys.stderr)

    return [writer]


def run_experiment(args: argparse.Namespace) -> int:
    from initlab import experiments

    overrides = _parse_settings(args.settings)
    if args.name == "all":
        if overrides:
            raise ValueError("--set applies to one experiment; run them one by one to change settings")
        try:  # write_index (re)writes every run's report.html beside index.html: the runs need not
            results = experiments.run_all(quick=args.quick, seed=args.seed, out=args.out or "runs",
                                          overwrite=args.overwrite, quiet=args.quiet, report=False,
                                          index_writers=_report_index_writers())
        except RuntimeError as exc:
            print(f"initlab: error: {exc}", file=sys.stderr)
            return 1
        if not args.quiet:
            total = sum(r.seconds for r in results)
            print(f"{len(results)} experiments in {total:.1f} s; index: {Path(args.out or 'runs') / INDEX_MD}")
        return 0
    result = experiments.run(args.name, quick=args.quick, seed=args.seed, out=args.out,
                             overwrite=args.overwrite, quiet=args.quiet, **overrides)
    if result.report is not None and not args.quiet:
        print(f"report: {result.report}")
    return 0
