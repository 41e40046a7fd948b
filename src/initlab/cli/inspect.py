"""``initlab inspect FILE.py:FACTORY``: one forward/backward pass of a model, its layer table and findings.

The factory is ``path/to/file.py:make_model`` or ``package.module:make_model``, called without
arguments after ``torch.manual_seed(--seed)``; it must return an ``nn.Module``. Inputs are N(0, 1) of
``--input-shape`` (private generator, ``--seed``), or ``--batch file.pt`` (``torch.load(...,
weights_only=True)``): a tensor, an ``(inputs, targets)`` pair, or a dict with ``inputs``/``x`` and
``targets``/``y``. ``--loss``: ``probe`` (default without targets; see :func:`initlab.inspect`),
``ce`` (random class targets when the batch has none), ``mse`` (random N(0, 1) targets when none),
``none`` (forward only). ``--init`` re-initializes with :func:`initlab.initialize`; ``--checkpoint``
loads weights with ``initialize(model, "pretrained", checkpoint=FILE)``. ``--fix`` runs
:func:`initlab.fix` (re-initialize what the findings name, check that the model then trains better
over ``--fix-steps`` Adam steps) and prints the before/after tables side by side; ``--save FILE``
writes the fixed model's state_dict (atomically).
"""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import sys
from typing import Any

from ..formats import finite_or_none


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("inspect", help="per-layer signal statistics and findings of a model",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("factory", metavar="MODULE:FACTORY", help="path/to/file.py:make_model or pkg.mod:make_model")
    p.add_argument("--input-shape", help="comma-separated input shape, batch first (e.g. 8,1,28,28)")
    p.add_argument("--batch", help="a .pt file with the inputs (and optionally targets)")
    p.add_argument("--init", help="initialization scheme for il.initialize (e.g. he_normal, xavier_uniform, auto)")
    p.add_argument("--checkpoint", help="state_dict file, loaded with il.initialize(model, 'pretrained')")
    p.add_argument("--loss", choices=("auto", "probe", "ce", "mse", "none"), default="auto",
                   help="loss for the backward pass (default: ce/mse for batch targets, else probe)")
    p.add_argument("--seed", type=int, default=0, help="seed for the model factory and random inputs")
    p.add_argument("--bins", type=int, default=30, help="histogram bins")
    p.add_argument("--json", action="store_true", help="print the inspection as JSON")
    p.add_argument("--caffe", action="store_true", help="also print Caffe debug_info lines")
    p.add_argument("--fix", action="store_true", help="apply il.fix and print the before/after tables")
    p.add_argument("--fix-steps", type=int, default=30, help="training-check steps of --fix (0: none)")
    p.add_argument("--save", help="with --fix: write the fixed model's state_dict to this .pt file")
    p.set_defaults(func=run)


def load_factory(spec: str) -> Any:
    """The callable named by ``file.py:name`` or ``pkg.mod:name``."""
    if ":" not in spec:
        raise ValueError(f"factory must be MODULE:FACTORY (path/to/file.py:make_model or pkg.mod:make_model), got {spec!r}")
    mod_part, _, name = spec.rpartition(":")
    if mod_part.endswith(".py") or os.sep in mod_part or "/" in mod_part:
        if not os.path.isfile(mod_part):
            raise ValueError(f"no such file {mod_part!r} (from factory {spec!r})")
        mod_name = "_initlab_factory_" + os.path.splitext(os.path.basename(mod_part))[0]
        ispec = importlib.util.spec_from_file_location(mod_name, mod_part)
        if ispec is None or ispec.loader is None:
            raise ValueError(f"cannot import {mod_part!r} as a Python file")
        module = importlib.util.module_from_spec(ispec)
        sys.path.insert(0, os.path.dirname(os.path.abspath(mod_part)))
        try:
            ispec.loader.exec_module(module)
        finally:
            sys.path.pop(0)
    else:
        try:
            module = importlib.import_module(mod_part)
        except ImportError as e:
            raise ValueError(f"cannot import module {mod_part!r} (from factory {spec!r}): {e}") from e
    fn = getattr(module, name, None)
    if not callable(fn):
        raise ValueError(f"{mod_part!r} has no callable {name!r}")
    return fn


def _shape(text: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(s) for s in text.replace("x", ",").split(",") if s.strip())
    except ValueError:
        shape = ()
    if not shape or any(s < 1 for s in shape):
        raise ValueError(f"--input-shape must be positive integers separated by commas (e.g. 8,1,28,28), got {text!r}")
    return shape


def _load_batch(path: str) -> tuple[Any, Any]:
    import torch

    try:
        obj = torch.load(path, weights_only=True, map_location="cpu")
    except Exception as e:
        raise ValueError(f"cannot load --batch {path!r} with torch.load(weights_only=True): {e}") from e
    if isinstance(obj, torch.Tensor):
        return obj, None
    if isinstance(obj, (tuple, list)) and len(obj) == 2:
        return obj[0], obj[1]
    if isinstance(obj, dict):
        x = obj.get("inputs", obj.get("x"))
        if x is not None:
            return x, obj.get("targets", obj.get("y"))
    raise ValueError(f"--batch {path!r} must hold a tensor, an (inputs, targets) pair, or a dict with "
                     f"'inputs'/'x' (and 'targets'/'y'); got {type(obj).__name__}")


def _random_target_loss(kind: str, seed: int) -> Any:
    """``loss_fn(y)`` for ``--loss ce|mse`` without batch targets: random targets from a private generator."""
    import torch
    import torch.nn.functional as F

    tg = torch.Generator().manual_seed(seed)

    def loss_fn(y: torch.Tensor) -> torch.Tensor:
        if kind == "ce":
            if y.dim() < 2:
                raise ValueError(f"--loss ce needs outputs (batch, classes), got shape {tuple(y.shape)}")
            t = torch.randint(0, y.shape[1], (y.shape[0],) + tuple(y.shape[2:]), generator=tg)
            return F.cross_entropy(y, t.to(y.device))
        return F.mse_loss(y, torch.randn(y.shape, generator=tg).to(y.device, y.dtype))

    return loss_fn


def run(args: argparse.Namespace) -> int:
    import torch
    from torch import nn

    import initlab as il

    factory = load_factory(args.factory)
    torch.manual_seed(args.seed)
    model = factory()
    if not isinstance(model, nn.Module):
        raise ValueError(f"factory {args.factory!r} must return a torch.nn.Module, got {type(model).__name__}")
    g = torch.Generator().manual_seed(args.seed)
    if args.init:
        il.initialize(model, args.init, generator=g)
    if args.checkpoint:
        il.initialize(model, "pretrained", checkpoint=args.checkpoint)
    if args.batch:
        inputs, targets = _load_batch(args.batch)
    elif args.input_shape:
        inputs, targets = torch.randn(_shape(args.input_shape), generator=g), None
    else:
        raise ValueError("give --input-shape (e.g. 8,1,28,28) or --batch FILE.pt")
    loss_fn: Any = None if args.loss == "auto" else args.loss
    if targets is None and args.loss in ("ce", "mse"):
        loss_fn = _random_target_loss(args.loss, args.seed + 1)
    if args.save and not args.fix:
        raise ValueError("--save writes the fixed model: give --fix too")
    if args.fix:
        return _fix(il, model, inputs, targets, loss_fn, args)
    ins = il.inspect(model, inputs, targets, loss_fn, bins=args.bins)
    if ins.loss_kind == "custom":
        ins.loss_kind = f"{args.loss}, random targets"
    findings = ins.findings()
    if args.json:
        print(json.dumps(finite_or_none(ins.to_dict()), indent=2))
        return 0
    print(ins.table())
    if args.caffe:
        print()
        print(ins.caffe())
    print()
    if findings:
        print(f"findings ({len(findings)}):")
        for f in findings:
            print(f"  {f}")
    else:
        print("findings: none")
    return 0


def _fix(il: Any, model: Any, inputs: Any, targets: Any, loss_fn: Any, args: argparse.Namespace) -> int:
    import torch

    from initlab.formats import atomic_path

    if args.fix_steps < 0:
        raise ValueError(f"--fix-steps must be >= 0, got {args.fix_steps}")
    rep = il.fix(model, inputs, targets, loss_fn, steps=args.fix_steps if targets is not None else 0,
                 generator=torch.Generator().manual_seed(args.seed))
    print(rep.table())
    for title, fs in (("findings before", rep.findings_before), ("findings after", rep.findings_after)):
        print(f"\n{title} ({len(fs)}):" if fs else f"\n{title}: none")
        for f in fs:
            print(f"  {f}")
    if targets is None and args.fix_steps:
        print("\nno training check: the batch has no targets (give --batch with targets)")
    if args.save:
        with atomic_path(args.save) as tmp:
            torch.save(model.state_dict(), tmp)
        print(f"\nsaved the fixed model's state_dict to {args.save}")
    return 0
