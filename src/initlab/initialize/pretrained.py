"""The ``pretrained`` scheme: load a state_dict (``torch.load(..., weights_only=True)``) by name and
shape, initialize layers whose weight was not loaded with a fallback scheme (or keep them), freeze
parameters by prefix.
"""
from __future__ import annotations

import os
import pickle
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from ..activations import Activation
from ..structure import Follow
from .draw import init_layer
from .records import InitReport


def _load(checkpoint: Any) -> Mapping[str, Any]:
    if isinstance(checkpoint, Mapping):
        obj: Any = checkpoint
    elif isinstance(checkpoint, (str, os.PathLike)):
        path = os.fspath(checkpoint)
        if not os.path.isfile(path):
            raise ValueError(f"checkpoint: no such file {path!r}")
        try:
            obj = torch.load(path, weights_only=True, map_location="cpu")
        except Exception as exc:  # noqa: BLE001 - corrupt files raise KeyError, EOFError, RuntimeError, ...
            msg = str(exc).strip()
            if not (isinstance(exc, pickle.UnpicklingError) and "weights only load failed" in msg.lower()):
                raise ValueError(f"checkpoint {path!r} is not a readable PyTorch checkpoint "
                                 f"({type(exc).__name__}: {msg[:200]})") from None
            lines = [ln.strip() for ln in msg.splitlines() if "Unsupported" in ln or "GLOBAL" in ln]
            first = (lines[0] if lines else msg.splitlines()[0])[:300]
            raise ValueError(
                f"checkpoint {path!r} refused: torch.load(weights_only=True) rejected its pickle, which holds "
                f"something other than tensors and plain containers (loading it unrestricted could run "
                f"code from the file) or is corrupt. Only state_dicts are accepted (torch said: {first})") from None
    else:
        raise ValueError(f"checkpoint must be a path or a state_dict (mapping), got {type(checkpoint).__name__}")
    if not isinstance(obj, Mapping):
        raise ValueError(f"checkpoint must hold a state_dict (a mapping of names to tensors), "
                         f"got {type(obj).__name__}")
    if not any(isinstance(v, Tensor) for v in obj.values()):
        for key in ("state_dict", "model_state_dict", "model"):
            if isinstance(obj.get(key), Mapping):
                return obj[key]
    return obj


def _prefixes(value: Any, name: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, Sequence) and all(isinstance(v, str) for v in value):
        return list(value)
    raise ValueError(f"{name} must be a string or a list of strings, got {value!r}")


def load_pretrained(model: nn.Module, layers: list[tuple[str, nn.Module]], follow: dict[str, Follow],
                options: dict, fb: str | None, bias_init: Any, bias_std: float | None, gain: float | None,
                generator: torch.Generator | None, assume: Activation) -> InitReport:
    """Load ``options["checkpoint"]`` into ``model``; ``fb``: the canonical ``fallback`` scheme (or None)."""
    raw = _load(options["checkpoint"])
    strip = _prefixes(options.get("strip_prefix"), "strip_prefix")
    freeze = _prefixes(options.get("freeze"), "freeze")
    ckpt: dict[str, Any] = {}
    for k, v in raw.items():
        key = str(k)
        for p in strip:
            if key.startswith(p):
                key = key[len(p):]
                break
        ckpt[key] = v
    own = model.state_dict(keep_vars=True)
    loaded, skipped, to_load = [], [], {}
    for key, target in own.items():
        if key not in ckpt:
            skipped.append((key, "missing from checkpoint"))
        elif not isinstance(ckpt[key], Tensor):
            skipped.append((key, f"checkpoint value is a {type(ckpt[key]).__name__}, not a tensor"))
        elif tuple(ckpt[key].shape) != tuple(target.shape):
            skipped.append((key, f"shape mismatch: checkpoint {tuple(ckpt[key].shape)} vs model "
                                 f"{tuple(target.shape)}"))
        else:
            to_load[key] = ckpt[key]
            loaded.append(key)
    skipped += [(k, "unexpected: not in the model") for k in ckpt if k not in own]
    if to_load:
        model.load_state_dict(to_load, strict=False)
    records = []
    for name, m in layers:
        wkey = f"{name}.weight"
        if wkey in to_load:
            rec = init_layer(name, m, None, follow[name], None, {}, bias_init, bias_std, generator, assume)
            rec.scheme = "pretrained"
            bkey = f"{name}.bias"
            rec.bias = "none" if getattr(m, "bias", None) is None else ("loaded" if bkey in to_load else "kept")
        else:
            rec = init_layer(name, m, fb, follow[name], gain, {}, bias_init, bias_std, generator, assume)
            rec.note = (f"weight not loaded; initialized with fallback {fb!r}" if fb
                        else "weight not loaded; kept as it was")
        records.append(rec)
    frozen = []
    if freeze:
        params = dict(model.named_parameters())
        for p in freeze:
            hits = [n for n in params if n == p or n.startswith(p if p.endswith(".") else p + ".")]
            if not hits:
                mods = [n for n, _ in model.named_modules() if n]
                raise ValueError(f"freeze: prefix {p!r} matches no parameter; module names: {mods[:40]}")
            for n in hits:
                params[n].requires_grad_(False)
                if n not in frozen:
                    frozen.append(n)
    opts = {k: v for k, v in options.items() if k != "checkpoint"}
    opts["checkpoint"] = options["checkpoint"] if isinstance(options["checkpoint"], (str, os.PathLike)) \
        else "<state_dict>"
    return InitReport("pretrained", records, options=opts, loaded=loaded, skipped=skipped, frozen=frozen)
