"""Writing reports: one offline HTML page per run (and an index for a tour), built from a run
directory (or a Watcher, an Inspection) only.

Layout on disk (the rule is in ``initlab.report``)::

    OUT/index.html            write_index(OUT)        # a tour: every run, thumbnail + headline numbers
    OUT/_assets/              uPlot (MIT, vendored) + report.js/.css, written once, shared
    OUT/RUN/report.html       write_run_report(RUN)   # uses ../_assets when OUT/_assets is ours
    RUN/_assets/              ... otherwise, for a single run

The rooms: :mod:`~initlab.report.data` reads the sources (through :mod:`initlab.formats`' names),
:mod:`~initlab.report.payload` makes the JSON the page's script draws, :mod:`~initlab.report.page`
the HTML, :mod:`~initlab.report.assets` the files beside it; this module writes, every file
atomically (:func:`initlab.formats.write_text`, unique temporary names). Nothing is fetched from the
network: the page loads only files beside it.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from initlab import formats
from initlab.formats import CONFIG, INDEX_HTML, REPORT
from initlab.report import data as _source
from initlab.report.assets import ASSETS_DIR, assets_for_run, is_ours, write_assets
from initlab.report.page import index_card, index_card_error, index_page, render
from initlab.report.payload import MAX_HISTS, MAX_STEPS, payload

__all__ = ["write_run_report", "write_index", "to_html", "write_assets", "render", "payload",
           "MAX_STEPS", "MAX_HISTS"]


def _rel(target: Path, start: Path) -> str:
    return Path(os.path.relpath(Path(target).resolve(), Path(start).resolve())).as_posix()


def write_run_report(run_dir: str | Path, *, assets_dir: str | Path | None = None) -> Path:
    """Write ``RUN_DIR/report.html`` (and the assets, once) from the run directory; return its path.

    Reads only config.json, summary.json, metrics.csv, history.npz, findings.json and figures/*.png;
    writes report.html and the assets folder, nothing else. A run directory with an unknown
    ``format_version`` raises ValueError.
    """
    d = Path(run_dir)
    data = _source.load_run_dir(d)
    assets = Path(assets_dir) if assets_dir is not None else assets_for_run(d)
    write_assets(assets)
    return formats.write_text(d / REPORT, render(data, assets_href=_rel(assets, d)))


def write_index(out_dir: str | Path) -> Path:
    """Write ``OUT/index.html`` for a tour: every run directory below OUT (natural order) with a
    thumbnail, its question and headline numbers (marked agree/disagree), linking to its report.

    Also (re)writes each run's report.html to use the shared ``OUT/_assets`` and removes a run's own
    ``_assets`` folder when it is ours (written by write_run_report before the tour's index).
    """
    out = Path(out_dir)
    if not out.is_dir():
        raise ValueError(f"report: output folder {str(out)!r} does not exist")
    assets = write_assets(out / ASSETS_DIR)
    runs = sorted((p.parent for p in out.glob(f"*/{CONFIG}")), key=lambda p: _source.natural_key(p.name))
    cards = []
    for run in runs:
        try:
            data = _source.load_run_dir(run)
        except ValueError as exc:
            cards.append(index_card_error(run.name, str(exc)))
            continue
        formats.write_text(run / REPORT, render(data, assets_href=_rel(assets, run)))
        own = run / ASSETS_DIR
        if own.is_dir() and is_ours(own):
            shutil.rmtree(own)
        thumb = data.meta.get("headline_figure")
        cards.append(index_card(data, _rel(run / REPORT, out), _rel(run / thumb, out) if thumb else None))
    return formats.write_text(out / INDEX_HTML, index_page("initlab experiments", out.name, cards, len(runs),
                                                           _rel(assets, out)))


def to_html(obj: Any, path: str | Path | None = None, *, title: str | None = None,
            self_contained: bool = False) -> Path | str:
    """The interactive report of a run (``Result`` or run-directory path), an ``Inspection``, a
    ``Watcher`` (or its ``.arrays()`` / a saved ``.npz``).

    With ``path``: writes the page there (assets in ``_assets/`` beside it, or inlined with
    ``self_contained=True``) and returns the path. Without: returns the page as a self-contained
    string (for notebooks).

    >>> import numpy as np
    >>> arrays = {"format_version": np.array(1), "steps": np.arange(3), "layers": np.array(["fc1"]),
    ...           "std": np.ones((3, 1))}
    >>> "uPlot" in to_html(arrays)
    True
    """
    data = _source.load(obj, title=title)
    if path is None:
        return render(data, inline=True)
    p = Path(path)
    if p.suffix.lower() not in (".html", ".htm"):
        p = p / REPORT if p.is_dir() else p.with_suffix(".html")
    if self_contained:
        text = render(data, inline=True)
    else:
        assets = write_assets(p.parent / ASSETS_DIR)
        text = render(data, assets_href=_rel(assets, p.parent))
    # images of a run are referenced relative to the run dir
    if data.source_dir is not None and data.figures and p.parent.resolve() != data.source_dir.resolve():
        prefix = _rel(data.source_dir, p.parent)
        text = text.replace(f'src="{formats.FIGURES}/', f'src="{prefix}/{formats.FIGURES}/')
    return formats.write_text(p, text)
