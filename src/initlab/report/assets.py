"""The files a report page loads: uPlot (MIT, vendored, version 1.6.32) and the report's own script
and styles, copied once into an ``_assets/`` folder beside the pages, or inlined into one page.

Where the folder goes: a single run uses ``RUN_DIR/_assets/``; a tour (``write_index(OUT)``) uses
``OUT/_assets/`` and its runs point there. A folder is ours when it holds ``initlab-assets.json``
(the marker): only then is it reused or replaced. Every file is written atomically with a unique
temporary name (:func:`initlab.formats.write_bytes`), so two reports written into one folder at once
never share a temporary file.

>>> import tempfile, pathlib
>>> d = write_assets(pathlib.Path(tempfile.mkdtemp()) / ASSETS_DIR)
>>> sorted(p.name for p in d.iterdir()) == sorted(ASSET_FILES + (MARKER,)) and is_ours(d)
True
"""
from __future__ import annotations

import html
import json
from importlib import resources
from pathlib import Path

from initlab import formats

__all__ = ["ASSETS_DIR", "ASSET_FILES", "MARKER", "UPLOT_VERSION", "asset_bytes", "write_assets",
           "is_ours", "assets_for_run", "head_links", "script_tags"]

ASSETS_DIR = "_assets"
ASSET_FILES = ("uPlot.iife.min.js", "uPlot.min.css", "uPlot.LICENSE", "report.js", "report.css")
MARKER = "initlab-assets.json"    # says an _assets folder is ours (safe to reuse or replace)
UPLOT_VERSION = "1.6.32"
STYLES = ("uPlot.min.css", "report.css")
SCRIPTS = ("uPlot.iife.min.js", "report.js")


def asset_bytes(name: str) -> bytes:
    """The packaged asset ``name`` (one of ASSET_FILES)."""
    if name not in ASSET_FILES:
        raise ValueError(f"asset {name!r}: no such asset; valid: {list(ASSET_FILES)}")
    return resources.files("initlab.report").joinpath("assets", name).read_bytes()


def _write_if_changed(path: Path, data: bytes) -> None:
    if not (path.is_file() and path.read_bytes() == data):
        formats.write_bytes(path, data)


def write_assets(directory: str | Path) -> Path:
    """Write the shared assets (uPlot, report.js, report.css) and the marker into ``directory``;
    return it. Files already identical are left alone, so reports written in a loop don't rewrite them.
    """
    d = Path(directory)
    for name in ASSET_FILES:
        _write_if_changed(d / name, asset_bytes(name))
    marker = json.dumps({"uplot": UPLOT_VERSION, "files": list(ASSET_FILES)}, indent=1) + "\n"
    _write_if_changed(d / MARKER, marker.encode("utf-8"))
    return d


def is_ours(assets: Path) -> bool:
    """True when ``assets`` is an assets folder initlab wrote (it holds the marker)."""
    return (Path(assets) / MARKER).is_file()


def assets_for_run(run_dir: Path) -> Path:
    """``RUN/../_assets`` when the parent already holds our shared assets (a tour), else ``RUN/_assets``."""
    shared = Path(run_dir).parent / ASSETS_DIR
    return shared if is_ours(shared) else Path(run_dir) / ASSETS_DIR


def head_links(assets_href: str, *, inline: bool = False) -> str:
    """The stylesheets: ``<link>`` tags to ``assets_href``, or ``<style>`` blocks when ``inline``."""
    if inline:
        return "".join(f"<style>{asset_bytes(n).decode()}</style>" for n in STYLES)
    a = html.escape(assets_href)
    return "".join(f"<link rel='stylesheet' href='{a}/{n}'>" for n in STYLES)


def script_tags(assets_href: str, *, inline: bool = False) -> str:
    """The scripts: ``<script src>`` tags to ``assets_href``, or inlined (``</script`` escaped)."""
    if inline:
        return "".join("<script>" + asset_bytes(n).decode().replace("</script", "<\\/script") + "</script>"
                       for n in SCRIPTS)
    a = html.escape(assets_href)
    return "".join(f"<script src='{a}/{n}'></script>" for n in SCRIPTS)
