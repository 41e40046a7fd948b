"""``initlab sweep run|status|plot``: grids of trials (``initlab.sweep``) and their phase diagrams."""
from __future__ import annotations

import argparse
import json



def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sweep", help="run a grid of trials (TOML spec), resume it, see its status, plot it",
                       description="Sweeps: a TOML spec of a trial over a grid, seeds and fixed settings, run on "
                                   "local processes or Ray into a resumable folder (see `initlab.sweep`).")
    s = p.add_subparsers(dest="sweep_command", metavar="SUBCOMMAND")
    r = s.add_parser("run", help="run (or resume) a sweep", description="Run SPEC.toml into --out; rerunning on the "
                     "same folder runs only the trials not finished yet.")
    r.add_argument("spec", metavar="SPEC.toml")
    r.add_argument("--out", required=True, help="the sweep folder")
    r.add_argument("--workers", type=int, default=None,
                   help="local worker processes (default: one per core; 0: in this process)")
    r.add_argument("--ray", nargs="?", const=True, default=None, metavar="ADDRESS",
                   help="run on Ray: alone, start or join a local Ray; with ADDRESS (host:port or 'auto'), join a "
                        "cluster started with `ray start --head`")
    r.add_argument("--extend", action="store_true", help="accept a changed spec on an existing folder (adds points)")
    r.add_argument("--retry-failed", action="store_true", help="run failed trials again")
    r.add_argument("--quiet", action="store_true", help="no progress, only errors")
    r.set_defaults(func=run_sweep)

    st = s.add_parser("status", help="what a sweep folder holds: done, failed, missing")
    st.add_argument("dir", metavar="DIR")
    st.add_argument("--json", action="store_true", help="print the status as JSON")
    st.set_defaults(func=status)

    pl = s.add_parser("plot", help="phase diagram: a metric over two config keys (PNG and an interactive page)")
    pl.add_argument("dir", metavar="DIR")
    pl.add_argument("--x", required=True, help="config key on the x axis")
    pl.add_argument("--y", required=True, help="config key on the y axis")
    pl.add_argument("--metric", required=True, help="metric to colour the cells by (mean over seeds)")
    pl.add_argument("--overlay", choices=["theory"], default=None,
                    help="draw the critical line chi1 = 1 and the depth curve 6 xi_c (axes sigma_w2 × depth|sigma_b2)")
    pl.add_argument("--where", action="append", default=[], metavar="KEY=VALUE",
                    help="keep trials with this config value (repeatable), when other keys vary")
    pl.add_argument("--threshold", type=float, default=None, help="also draw the contour metric = THRESHOLD")
    pl.add_argument("--out", default=None, help="PNG path (default DIR/plots/METRIC-X-Y.png; the page beside it)")
    pl.add_argument("--no-html", action="store_true", help="write the PNG only")
    pl.set_defaults(func=plot)
    p.set_defaults(func=lambda args: (p.print_help(), 0)[1])


def run_sweep(args: argparse.Namespace) -> int:
    from initlab import sweep

    s = sweep.run(args.spec, args.out, workers=args.workers, ray=args.ray, extend=args.extend,
                  retry_failed=args.retry_failed, quiet=args.quiet)
    st = s.status()
    if not args.quiet:
        print(_status_line(st))
    return 1 if st["missing"] else 0


def _status_line(st: dict) -> str:
    return (f"{st['path']}: {st['trial']}, {st['total']} trials: {st['ok']} ok, {st['diverged']} diverged, "
            f"{st['failed']} failed, {st['missing']} missing")


def status(args: argparse.Namespace) -> int:
    from initlab import sweep

    st = sweep.Sweep(args.dir).status()
    if args.json:
        print(json.dumps(st, indent=2, sort_keys=True))
        return 0
    print(_status_line(st))
    for tid, err in st["errors"].items():
        print(f"  failed {tid}: {err}")
    return 0


def _where(items: list[str]) -> dict:
    out = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise ValueError(f"--where takes KEY=VALUE, got {item!r}")
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value
    return out


def plot(args: argparse.Namespace) -> int:
    from pathlib import Path

    from initlab import sweep

    s = sweep.Sweep(args.dir)
    where = _where(args.where)
    png = s.plot(args.x, args.y, args.metric, overlay=args.overlay, path=args.out, where=where,
                 threshold=args.threshold)
    print(f"plot: {png}")
    if not args.no_html:
        from initlab.report.sweep_page import write_sweep_page

        page = write_sweep_page(args.dir, args.x, args.y, args.metric, overlay=args.overlay, where=where,
                                path=Path(png).with_suffix(".html"))
        print(f"page: {page}")
    return 0


