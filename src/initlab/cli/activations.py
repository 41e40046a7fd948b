"""``initlab activations``: the activation table (properties, Gaussian moments, gains)."""
from __future__ import annotations

import argparse
import json
import math


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("activations", help="print every activation's properties, moments and gains")
    p.add_argument("names", nargs="*", help="activations to show (default: all registered)")
    p.add_argument("--json", action="store_true", help="print the table as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from initlab import activations

    rows = activations.table(args.names or None)
    if args.json:  # standard JSON: an unbounded range end is the string "inf" / "-inf"
        for row in rows:
            row["range"] = [v if math.isfinite(v) else str(v) for v in row["range"]]
        print(json.dumps(rows, indent=2, allow_nan=False))
    else:
        print(activations.format_table(rows))
    return 0
