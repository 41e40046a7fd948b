"""``initlab theory``: mean-field facts (q*, χ₁, ξ_q, ξ_c, ξ_∇, phase) and per-layer predicted std at a point.

Where 6 ξ_c does not bound the trainable depth (q* = 0, or the ReLU family at σ_b² = 0) it says so and why,
and gives the gradient depth scale ξ_∇ = −1/ln χ₁ instead.
"""
from __future__ import annotations

import argparse
import json
import math

from initlab.formats import finite_or_none, fmt


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("theory", help="mean-field q*, chi1, depth scales and phase for an activation")
    p.add_argument("activation", help="activation name (see `initlab activations`)")
    p.add_argument("--sigma-w2", type=float, required=True, help="weight variance sigma_w^2 (W ~ N(0, sigma_w^2/fan_in))")
    p.add_argument("--sigma-b2", type=float, default=0.0, help="bias variance sigma_b^2 (default 0)")
    p.add_argument("--depth", type=int, default=10, help="layers to predict (default 10)")
    p.add_argument("--q0", type=float, default=1.0, help="input second moment (default 1: N(0,1) inputs)")
    p.add_argument("--phase-diagram", metavar="PNG", help="also draw the (sigma_w^2, sigma_b^2) phase diagram there")
    p.add_argument("--resolution", type=int, nargs=2, default=(28, 16), metavar=("NW", "NB"),
                   help="phase-diagram grid points along sigma_w^2 and sigma_b^2 (default 28 16)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)


def _fmt(v: float) -> str:
    return fmt(v, 6)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from initlab.theory import maps

    mf = maps.mean_field(args.activation, args.sigma_w2, args.sigma_b2, args.q0)
    q = maps.q_sequence(args.activation, args.sigma_w2, args.sigma_b2, args.depth, args.q0)
    act = maps.as_activation(args.activation)
    std = []
    for ql in q:
        if not math.isfinite(ql):
            std.append(math.inf)
            continue
        m = act.moments(ql)
        std.append(math.sqrt(max(m.second - m.mean ** 2, 0.0)))
    out = {**mf.to_dict(), "depth": args.depth, "q0": args.q0, "q": np.asarray(q).tolist(), "std": std}
    if args.phase_diagram:
        from initlab.theory.plot import phase_diagram

        phase_diagram(act, point=(args.sigma_w2, args.sigma_b2), depth=args.depth, q0=args.q0,
                      resolution=tuple(args.resolution),
                      sigma_w2=(0.5, max(4.0, 1.2 * args.sigma_w2)), sigma_b2=(0.0, max(0.5, 1.2 * args.sigma_b2)),
                      path=args.phase_diagram)
        out["phase_diagram"] = args.phase_diagram
    if args.json:
        # strict JSON: a non-finite value (ξ_c = ∞ at q* = 0, a diverged q) is null
        print(json.dumps(finite_or_none(out), indent=2, default=str, allow_nan=False))
        return 0
    print(f"{mf.activation}: sigma_w2={_fmt(mf.sigma_w2)}  sigma_b2={_fmt(mf.sigma_b2)}  q0={_fmt(args.q0)}")
    print(f"  q*      = {_fmt(mf.q_star)}" + ("" if mf.converged else f"   ({mf.message})"))
    print(f"  chi1    = {_fmt(mf.chi1)}   -> {mf.phase}")
    print(f"  c*      = {_fmt(mf.c_star)}   chi_c* = {_fmt(mf.chi_c)}")
    print(f"  xi_q    = {_fmt(mf.xi_q)}   xi_c = {_fmt(mf.xi_c)}   xi_grad = -1/ln chi1 = {_fmt(mf.xi_grad)}")
    if mf.bounds_depth:
        print(f"  trainable depth 6 xi_c = {_fmt(mf.trainable_depth)}")
    else:
        print(f"  trainable depth: 6 xi_c does not apply. {mf.note}")
    print("  layer  q (pre-act var)  predicted std")
    for i, (ql, s) in enumerate(zip(q, std), 1):
        print(f"  {i:>5}  {_fmt(ql):>15}  {_fmt(s):>13}")
    if args.phase_diagram:
        print(f"phase diagram: {args.phase_diagram}")
    return 0
