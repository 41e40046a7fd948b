"""What :func:`initlab.initialize` did: one :class:`LayerInit` per Linear/Conv layer, gathered in an
:class:`InitReport` (plain dataclasses; ``str(report)`` is an aligned table, ``to_dict()`` plain data).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class LayerInit:
    """What :func:`initialize` did to one Linear/Conv layer."""

    name: str
    type: str
    fan_in: int
    fan_out: int
    scheme: str
    gain: float | None  # the scheme's gain (He: √(2/(1+a²)), auto: gain("forward"), ...); None if n/a
    activation: str  # name of the activation after the layer; "none" when nothing follows
    activation_source: str  # "detected" or "assumed"
    expected_std: float | None  # std of the distribution drawn from (None: loaded/kept)
    weight_std: float  # measured std of the weight after initialization
    bias: str  # how the bias was set ("zeros", "N(0, 0.1²)", "none" when the layer has none, …)
    activation_params: dict[str, float] = field(default_factory=dict)
    note: str = ""
    output_var: float | None = None  # LSUV: variance of the layer output on the data
    iterations: int | None = None  # LSUV: rescaling steps taken


@dataclass
class InitReport:
    """Per-layer record of :func:`initialize` plus the parameters it did not touch and why.

    ``report["fc1"]`` gives one :class:`LayerInit`; ``str(report)`` an aligned table;
    ``to_dict()`` plain data. For ``"pretrained"``: ``loaded`` (state_dict keys copied), ``skipped``
    ((key, reason): missing, shape mismatch, unexpected) and ``frozen``.
    """

    scheme: str
    layers: list[LayerInit]
    untouched: list[tuple[str, str]] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)
    loaded: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    frozen: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # what a transformer scheme did to the parameters that are not Linear/Conv weights (embeddings,
    # norms): one record each (additive; ``layers`` keeps the weight layers only)
    others: list[LayerInit] = field(default_factory=list)

    def __getitem__(self, name: str) -> LayerInit:
        for rec in self.layers + self.others:
            if rec.name == name:
                return rec
        raise KeyError(f"no Linear/Conv layer named {name!r}; layers: {[r.name for r in self.layers]}")

    def __iter__(self):
        return iter(self.layers)

    def __len__(self) -> int:
        return len(self.layers)

    @property
    def gains(self) -> dict[str, float | None]:
        """Layer name → gain."""
        return {r.name: r.gain for r in self.layers}

    def to_dict(self) -> dict[str, Any]:
        """Plain data (JSON-serializable except for option values the caller passed)."""
        opts = {k: (v if isinstance(v, (int, float, str, bool, type(None), list, tuple)) else repr(v))
                for k, v in self.options.items()}
        return {"scheme": self.scheme, "options": opts, "layers": [asdict(r) for r in self.layers],
                "untouched": [list(u) for u in self.untouched], "loaded": list(self.loaded),
                "skipped": [list(s) for s in self.skipped], "frozen": list(self.frozen),
                "notes": list(self.notes), "others": [asdict(r) for r in self.others]}

    def __str__(self) -> str:
        def num(v: float | None, fmt: str = ".4g") -> str:
            return "-" if v is None else format(v, fmt)

        def act(r: LayerInit) -> str:
            p = ",".join(f"{k}={v:g}" for k, v in r.activation_params.items())
            return r.activation + (f"({p})" if p else "") + ("*" if r.activation_source == "assumed" else "")

        lsuv = any(r.output_var is not None for r in self.layers)
        head = ["layer", "type", "fan_in", "fan_out", "scheme", "activation", "gain", "std(expected)",
                "std(weight)", "bias"] + (["out var", "iters"] if lsuv else [])
        rows = [[r.name, r.type, str(r.fan_in), str(r.fan_out), r.scheme, act(r), num(r.gain),
                 num(r.expected_std), num(r.weight_std), r.bias]
                + ([num(r.output_var), num(r.iterations, "d")] if lsuv else []) for r in self.layers + self.others]
        widths = [max([len(h)] + [len(row[i]) for row in rows]) for i, h in enumerate(head)]
        lines = [f"InitReport(scheme={self.scheme!r})",
                 "  ".join(h.ljust(w) for h, w in zip(head, widths)).rstrip(),
                 "  ".join("-" * w for w in widths)]
        lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
        if any(r.activation_source == "assumed" for r in self.layers):
            lines.append("* activation not detected; assumed (see notes)")
        for r in self.layers + self.others:
            if r.note:
                lines.append(f"{r.name}: {r.note}")
        if self.loaded or self.skipped:
            lines.append(f"loaded ({len(self.loaded)}): {', '.join(self.loaded) or '-'}")
            lines += [f"skipped {k}: {why}" for k, why in self.skipped]
        if self.frozen:
            lines.append(f"frozen ({len(self.frozen)}): {', '.join(self.frozen)}")
        if self.untouched:
            lines.append("not touched:")
            lines += [f"  {k}: {why}" for k, why in self.untouched]
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)
