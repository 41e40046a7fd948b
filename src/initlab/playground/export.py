r"""The Python script that reproduces a playground run: ``il.models.mlp`` + ``il.initialize`` +
``il.train.fit``, from a validated :class:`~initlab.playground.state.State` only.

Every value pasted into the code comes from the ``State`` (validated names from fixed lists, ints and
finite floats) and is written with ``repr``; the state is validated once more here, so a hand-made
``State`` with a bad value raises instead of reaching the code.

>>> from initlab.playground.state import validate
>>> code = export_code(validate({"depth": 2, "width": 8, "activation": "relu", "init": "he_normal"}), 50)
>>> compile(code, "<export>", "exec") and "il.train.fit(" in code
True
"""
from __future__ import annotations

from .state import State, validate
from .training import fit_options, init_options, outputs

__all__ = ["export_code"]


def export_code(state: State, steps: int) -> str:
    """Python source that rebuilds ``state``'s data and model and trains ``steps`` updates (at least 1)."""
    state = validate(state.to_dict())  # the one door: a State made by hand is checked too
    if not (isinstance(steps, int) and not isinstance(steps, bool) and steps >= 0):
        raise ValueError(f"steps must be an int >= 0, got {steps!r}")
    sizes = f"[data.x_train.shape[1]] + [{state.width!r}] * {state.depth!r} + [{outputs(state)!r}]"
    opts = init_options(state)
    init_args = "".join(f", {k}={v!r}" for k, v in opts.items())
    lsuv = ", data=data.x_train[:512]" if state.init == "lsuv" else ""
    fit = fit_options(state)
    fit_args = ", ".join(f"{k}={v!r}" for k, v in fit.items())
    lines = [
        f'"""initlab playground run: {state.dataset}, {state.depth} x {state.width} {state.activation}, '
        f'init {state.init}, {steps} steps.',
        "",
        "Reproduces the page's run: same data, same weights (seed), same batches.",
        '"""',
        "import torch",
        "",
        "import initlab as il",
        "from initlab.playground.datasets import make_dataset",
        "from initlab.playground.training import Penalty",
        "",
        f"STEPS = {max(steps, 1)!r}",
        f"data = make_dataset({state.dataset!r}, noise={state.noise!r}, train_pct={state.train_pct!r},",
        f"                    features={list(state.features)!r}, seed={state.data_seed!r})",
        f"model = il.models.mlp({sizes}, {state.activation!r}, init=None)",
        f"report = il.initialize(model, {state.init!r}{init_args}{lsuv},",
        f"                       generator=torch.Generator().manual_seed({state.seed!r}))",
        f"history = il.train.fit(model, (data.x_train, data.y_train), steps=STEPS, {fit_args},",
        f"                       callbacks=[Penalty({state.reg!r}, {state.reg_rate!r})])",
        "print(history)",
        f"print('train loss', il.train.evaluate(model, data.x_train, data.y_train, {state.loss!r})['loss'])",
        f"ins = il.inspect(model, data.x_train[:512], data.y_train[:512], il.train.make_loss({state.loss!r}))",
        "for finding in ins.findings():",
        "    print(finding)",
    ]
    return "\n".join(lines) + "\n"
