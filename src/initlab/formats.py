"""What initlab writes and reads, in one torch-free place: file names, format versions, statistic
names and labels, the agreement rule, version stamps, number formatting and the one atomic writer.

Writers (experiments, the Watcher, sweeps) and readers (the report, the CLI) share these names, so a
file written by one part is read by another without either importing the other. This module sits at
the bottom of initlab's layers: it imports neither torch nor any other initlab module.

Atomic writes: the bytes go to a uniquely named temporary file in the target's folder
(``.NAME.<random>.tmp``), are flushed to disk, then ``os.replace`` puts them in place — a reader sees
the old file or the new one, never half of one, and two writers into one folder never share a
temporary name.

>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> write_json(d / SUMMARY, {"b": 1, "a": 0.5})
PosixPath('...summary.json')
>>> (d / SUMMARY).read_text()
'{\\n  "a": 0.5,\\n  "b": 1\\n}\\n'
>>> agrees(0.31, {"value": 0.3, "tolerance": 0.02})
True
"""
from __future__ import annotations

import io
import json
import math
import os
import platform
import tempfile
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

__all__ = ["FORMAT_VERSION", "SUPPORTED_FORMATS", "CONFIG", "SUMMARY", "METRICS", "HISTORY", "FINDINGS",
           "ARRAYS", "REPORT", "FIGURES", "INDEX_MD", "INDEX_HTML", "RUN_FILES", "STATS", "REPORT_STATS", "LABELS",
           "FRACTIONS", "agrees", "round_number", "fmt", "versions", "atomic_path", "write_bytes",
           "write_text", "write_json", "write_npz", "register_html", "to_html", "repr_html",
           "register_extension", "extensions"]

# --- format versions --------------------------------------------------------------------------------
FORMAT_VERSION = 1  # run directories and Watcher history files
SUPPORTED_FORMATS = (1,)

# --- run-directory file names (docs/CONTRACTS.md) ---------------------------------------------------
CONFIG = "config.json"
SUMMARY = "summary.json"
METRICS = "metrics.csv"
HISTORY = "history.npz"
FINDINGS = "findings.json"
ARRAYS = "arrays.npz"  # an experiment's own arrays that its figures need (optional)
REPORT = "report.html"
FIGURES = "figures"
INDEX_MD = "index.md"
INDEX_HTML = "index.html"
RUN_FILES = (CONFIG, SUMMARY, METRICS, HISTORY, FINDINGS)

# --- per-layer statistics -----------------------------------------------------------------------------
# every statistic a Watcher history holds, named as in LayerStats (the first 14 are the CONTRACTS list)
STATS = ("mean", "std", "abs_mean", "grad_norm", "weight_grad_norm", "bias_grad_norm", "update_ratio",
         "dead_fraction", "saturated_fraction", "distinct_units", "sign_coherence", "min", "max",
         "zero_fraction", "grad_std", "positive_fraction", "input_positive_fraction",
         "nonfinite_forward", "nonfinite_backward")
# the statistics the report shows, in the order it lists them
REPORT_STATS = ("std", "mean", "abs_mean", "grad_norm", "grad_std", "weight_grad_norm", "bias_grad_norm",
                "update_ratio", "dead_fraction", "saturated_fraction", "zero_fraction", "distinct_units",
                "sign_coherence", "min", "max")
# how a statistic is labelled on an axis or in a table (figures, the HTML report, the CLI)
LABELS = {"mean": "mean of output", "std": "std of output", "abs_mean": "mean |x| of output",
          "grad_norm": "gradient norm (output)", "grad_std": "gradient std (output)",
          "weight_grad_norm": "weight gradient norm", "bias_grad_norm": "bias gradient norm",
          "update_ratio": "update / weight ratio", "dead_fraction": "dead fraction",
          "saturated_fraction": "saturated fraction", "zero_fraction": "zero fraction",
          "distinct_units": "distinct units", "sign_coherence": "sign coherence",
          "min": "min of output", "max": "max of output", "positive_fraction": "positive fraction",
          "input_positive_fraction": "positive fraction of input",
          "nonfinite_forward": "non-finite output", "nonfinite_backward": "non-finite gradient"}
# statistics that are fractions in [0, 1] (drawn on a linear axis)
FRACTIONS = frozenset({"dead_fraction", "saturated_fraction", "zero_fraction", "sign_coherence",
                       "positive_fraction", "input_positive_fraction"})


# --- numbers ------------------------------------------------------------------------------------------
def agrees(ours: float | None, ref: Mapping[str, Any]) -> bool | None:
    """|ours − value| ≤ tolerance, or value/factor ≤ ours ≤ value·factor; None without a number.

    >>> agrees(0.2, {"value": 0.1, "factor": 2.0}), agrees(None, {"value": 1.0})
    (True, None)
    """
    if ours is None or ref.get("value") is None:
        return None
    value = float(ref["value"])
    if ref.get("factor") is not None:
        f = float(ref["factor"])
        lo, hi = sorted((value / f, value * f))
        return bool(lo <= ours <= hi)
    return bool(abs(ours - value) <= float(ref.get("tolerance") or 0.0) + 1e-12 * max(1.0, abs(value)))


def round_number(x: Any) -> float | int | None:
    """A JSON number: 10 significant digits, None for NaN/Inf/None, bools and integers as int.

    >>> round_number(0.1 + 0.2), round_number(float("nan")), round_number(True)
    (0.3, None, 1)
    """
    if x is None:
        return None
    kind = getattr(getattr(x, "dtype", None), "kind", "")  # NumPy scalars: bool, signed, unsigned
    if isinstance(x, (bool, int)) or kind in ("b", "i", "u"):
        return int(x)
    x = float(x)
    if not math.isfinite(x):
        return None
    return float(f"{x:.10g}")


def fmt(v: Any, digits: int = 4, *, none: str = "—") -> str:
    """A number for people: ``digits`` significant digits, integers as integers, ``inf``/``nan`` spelled
    out, ``none`` for None; anything else as ``str``.

    >>> fmt(0.000123456), fmt(3.0), fmt(float("inf")), fmt(None), fmt(True)
    ('0.0001235', '3', 'inf', '—', 'true')
    """
    if v is None:
        return none
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        if v.is_integer() and abs(v) < 1e9:
            return str(int(v))
        return f"{v:.{digits}g}"
    return str(v)


def versions() -> dict[str, str]:
    """The versions a result depends on (no imports: read from the installed packages' metadata).

    >>> sorted(versions())
    ['initlab', 'numpy', 'python', 'torch']
    """
    out = {"python": platform.python_version()}
    for pkg in ("initlab", "torch", "numpy"):
        try:
            out[pkg] = metadata.version(pkg).split("+")[0]
        except metadata.PackageNotFoundError:
            out[pkg] = "unknown"
    return out


# --- atomic writes ------------------------------------------------------------------------------------
def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


UMASK = _umask()  # the process's file-creation mask (read once: os.umask can only be read by setting it)


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a unique temporary path beside ``path``; on success it replaces ``path`` (``os.replace``),
    on error it is removed and ``path`` is untouched."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~UMASK)  # mkstemp's 0600 would make the file private to its writer
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (fsynced temporary file + ``os.replace``)."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    return Path(path)


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    return write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike, obj: Any, *, default: Callable[[Any], Any] | None = None) -> Path:
    """Write ``obj`` as JSON (2-space indent, sorted keys, trailing newline) atomically."""
    return write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=default) + "\n")


def finite_or_none(obj: Any) -> Any:
    """``obj`` with every non-finite float (NaN, ±inf) replaced by None, through dicts, lists and tuples:
    what strict JSON (``json.dumps(..., allow_nan=False)``) can hold; NumPy scalars become Python ones.

    >>> finite_or_none({"xi_c": float("inf"), "q": [1.0, float("nan")]})
    {'xi_c': None, 'q': [1.0, None]}
    """
    if isinstance(obj, dict):
        return {k: finite_or_none(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite_or_none(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item) and getattr(obj, "ndim", None) == 0:
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def write_npz(path: str | os.PathLike, arrays: Mapping[str, Any], *, compressed: bool = True) -> Path:
    """Write NumPy arrays as ``.npz`` atomically (``numpy.savez[_compressed]`` into memory first)."""
    import numpy as np  # numpy only: formats stays torch-free

    buf = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buf, **dict(arrays))
    return write_bytes(path, buf.getvalue())


# --- the HTML renderer, registered from above ----------------------------------------------------------
# Objects low in the layers (Inspection, Watcher, an experiment Result) offer ``to_html`` and Jupyter's
# ``_repr_html_`` without importing the report, which sits above them: the top-level facade
# (``initlab/__init__.py``) registers the report's renderer here.
_HTML: dict[str, Callable[..., Any]] = {}


def register_html(to_html: Callable[..., Any], repr_html: Callable[[Any], str]) -> None:
    """Register the functions behind :func:`to_html` and :func:`repr_html` (done by ``initlab``)."""
    _HTML["to_html"], _HTML["repr_html"] = to_html, repr_html


def _renderer(name: str) -> Callable[..., Any]:
    if name not in _HTML:
        raise RuntimeError("no HTML renderer is registered (import initlab to register initlab.report's)")
    return _HTML[name]


def to_html(obj: Any, path: str | os.PathLike | None = None, **options: Any) -> Any:
    """``obj``'s offline interactive report, written to ``path`` or returned as one page."""
    return _renderer("to_html")(obj, path, **options)


def repr_html(obj: Any) -> str:
    """``obj``'s report for Jupyter's ``_repr_html_``."""
    return _renderer("repr_html")(obj)


class HTMLReportMixin:
    """Gives an object (Inspection, Watcher, experiment Result) ``to_html`` and ``_repr_html_``."""

    def to_html(self, path: str | os.PathLike | None = None, **options: Any) -> Any:
        """The offline interactive report (:func:`initlab.report.to_html`): written to ``path``, or
        returned as one self-contained page."""
        return to_html(self, path, **options)

    def _repr_html_(self) -> str:  # Jupyter
        return repr_html(self)


# --- modules registered from above ----------------------------------------------------------------------
# A part low in the layers that discovers plug-ins (the experiment registry) learns of modules that live
# above it — the sweep's ``edge-of-chaos`` experiment — from the facade, which names them here; the lower
# part imports them when it discovers, and never names a higher module itself.
_EXTENSIONS: dict[str, list[str]] = {}


def register_extension(kind: str, module: str) -> None:
    """Name ``module`` (a dotted path) as a provider of ``kind`` (e.g. ``"experiments"``); done by ``initlab``."""
    mods = _EXTENSIONS.setdefault(kind, [])
    if module not in mods:
        mods.append(module)


def extensions(kind: str) -> tuple[str, ...]:
    """The modules registered for ``kind``, in registration order."""
    return tuple(_EXTENSIONS.get(kind, ()))
