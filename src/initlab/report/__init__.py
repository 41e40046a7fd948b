"""Reports: what a run, an Inspection or a Watcher measured, as an offline HTML page or as figures.

HTML, built with uPlot (MIT, vendored in ``assets/``, version 1.6.32):

- ``write_run_report(run_dir)`` → ``RUN_DIR/report.html``; ``initlab report RUN_DIR [--open]``.
  The page opens with the run's question, its headline figure and our numbers beside the published
  ones (a verdict each), then the findings and the details.
- ``write_index(out_dir)`` → ``OUT/index.html`` for ``initlab run all`` (every run: thumbnail,
  question, headline numbers marked agree/disagree).
- ``to_html(obj, path=None)`` for a run ``Result`` / run-directory path, an ``Inspection``, a
  ``Watcher`` (or its ``.arrays()``, or a saved ``.npz``); without ``path`` it returns a
  self-contained page string; ``repr_html(obj)`` wraps that in an ``<iframe>`` for notebooks.

Where the assets go: the charting library and the report's script/styles are written once into an
``_assets/`` folder, never embedded in every page. A single run uses ``RUN_DIR/_assets/``; a tour
(``write_index(OUT)``) uses ``OUT/_assets/`` and points every run's report there — and from then on
``write_run_report`` reuses ``RUN_DIR/../_assets/`` whenever that folder is ours (it holds
``initlab-assets.json``). Pages load nothing from the network.

Figures (``initlab.report.figures``, matplotlib, the same views for papers and notebooks):
``layer_stats``, ``over_steps``, ``histograms``, ``colorful_dimension``, ``curves``.

Modules, one job each: ``data`` (read a source into ``ReportData``), ``payload`` (the JSON the page's
script draws), ``page`` (the HTML), ``assets`` (the files beside it), ``html`` (write them),
``figures`` (matplotlib). The report reads a run directory through :mod:`initlab.formats`' names
(config.json, summary.json, metrics.csv, history.npz, findings.json, figures/*.png) and never
imports the experiments, the probes or torch; it writes report.html, index.html and the assets
folder, each atomically, nothing else. A run's ``config.json`` may name the page's headline figure
(``"headline_figure": "NAME"``); otherwise it is the figure named after the experiment, else the first.
"""
from __future__ import annotations

import importlib
from typing import Any

from initlab.report.html import (MAX_HISTS, MAX_STEPS, render, to_html, write_assets, write_index,
                                 write_run_report)

__all__ = ["write_run_report", "write_index", "to_html", "repr_html", "write_assets", "render",
           "figures", "MAX_STEPS", "MAX_HISTS"]


def repr_html(obj: Any, *, height: int = 900) -> str:
    """An ``<iframe>`` holding ``obj``'s self-contained report, for ``_repr_html_`` in notebooks."""
    import html as _html

    page = to_html(obj)
    return (f'<iframe srcdoc="{_html.escape(page, quote=True)}" style="width:100%;height:{int(height)}px;'
            'border:1px solid #ddd" sandbox="allow-scripts"></iframe>')


def __getattr__(name: str) -> Any:
    if name == "figures":  # matplotlib loads only when figures are asked for
        return importlib.import_module("initlab.report.figures")
    raise AttributeError(f"module 'initlab.report' has no attribute {name!r}")
