"""A sweep's phase diagram as one offline interactive page: a heatmap (SVG) of a metric over two config axes,
hover for the cell's config, mean, seed spread and trial ids, and the theory lines over it.

The page reads the sweep folder (``sweep.json``, the trials' ``result.json``) through
:class:`initlab.sweep.Sweep`, and the numbers of the heatmap and the overlay from
:mod:`initlab.sweep.plot` (the same as the PNG's). Everything is inline — the report's page frame and
stylesheets (:func:`initlab.report.page.page` with ``inline=True``), the SVG, a few lines of script — so the
page opens from anywhere, offline, with no asset folder beside it (it needs no uPlot: the heatmap is SVG).

>>> import tempfile, initlab.sweep as sw
>>> d = tempfile.mkdtemp()
>>> s = sw.run({"trial": "trainability", "grid": {"depth": [1, 2], "width": [4, 8]},
...             "fixed": {"dataset": "circles", "steps": 2, "batch_size": 50}}, d, workers=0, quiet=True)
>>> write_sweep_page(d, "width", "depth", "test_accuracy").name
'test_accuracy-width-depth.html'
"""
from __future__ import annotations

import html
import json
import math
import os
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from .. import formats
from ..experiments.figures.phase import edges  # the cell edges of the matplotlib heatmap
from .page import page

__all__ = ["write_sweep_page", "render_sweep_page"]

W, H, PAD_L, PAD_B, PAD_T, PAD_R = 640, 440, 70, 50, 20, 20


def _viridis(t: float) -> str:
    # 5-stop approximation of viridis (matplotlib's, like the PNG)
    stops = [(68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37)]
    t = min(1.0, max(0.0, t)) * (len(stops) - 1)
    i = min(int(t), len(stops) - 2)
    f = t - i
    c = [round(a + (b - a) * f) for a, b in zip(stops[i], stops[i + 1])]
    return "#%02x%02x%02x" % tuple(c)


def _svg(g: Any, overlay: dict[str, Any] | None) -> str:
    xe, ye = edges(g.xs), edges(g.ys)
    sx = lambda x: PAD_L + (x - xe[0]) / (xe[-1] - xe[0]) * (W - PAD_L - PAD_R)  # noqa: E731
    sy = lambda y: H - PAD_B - (y - ye[0]) / (ye[-1] - ye[0]) * (H - PAD_B - PAD_T)  # noqa: E731
    finite = g.mean[np.isfinite(g.mean)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    parts = [f"<svg viewBox='0 0 {W} {H}' width='{W}' height='{H}' role='img' class='phase'>"]
    for i in range(len(g.ys)):
        for j in range(len(g.xs)):
            m = g.mean[i, j]
            fill = _viridis((m - lo) / (hi - lo) if hi > lo else 0.5) if math.isfinite(m) else "#d9d9d9"
            x0, x1, y0, y1 = sx(xe[j]), sx(xe[j + 1]), sy(ye[i + 1]), sy(ye[i])
            parts.append(f"<rect x='{x0:.1f}' y='{y0:.1f}' width='{x1 - x0:.1f}' height='{y1 - y0:.1f}' "
                         f"fill='{fill}' data-i='{i}' data-j='{j}'/>")
    if overlay:
        for ln in overlay["lines"]:
            if "contour" in ln:
                continue  # a contour at one depth: drawn in the PNG only
            d, pen = [], "M"
            for x, y in zip(ln["x"], ln["y"]):  # pieces inside the plot; the curve leaves it where 6 ξ_c → ∞
                if not (math.isfinite(x) and xe[0] <= x <= xe[-1]):
                    continue
                inside = math.isfinite(y) and ye[0] <= y <= ye[-1]
                if inside or pen == "L":
                    d.append(f"{pen}{sx(x):.1f},{sy(min(max(y, ye[0]), ye[-1]) if math.isfinite(y) else ye[-1]):.1f}")
                pen = "L" if inside else "M"
            if len(d) > 1:
                color, dash = ("#D55E00", "") if ln["style"] == "critical" else ("#E69F00", " stroke-dasharray='7 4'")
                d = " ".join(d)
                parts.append(f"<path d='{d}' fill='none' stroke='{color}' stroke-width='2.5'{dash}>"
                             f"<title>{html.escape(ln['label'])}</title></path>")
        for p in overlay["phases"]:
            anchor = "start" if p.get("align") == "left" else "end"
            parts.append(f"<text x='{sx(max(xe[0], min(p['x'], xe[-1]))) + (6 if anchor == 'start' else -6):.1f}' "
                         f"y='{PAD_T + 16}' fill='#fff' font-weight='bold' text-anchor='{anchor}'>"
                         f"{html.escape(p['label'])}</text>")
    for k, v in enumerate(g.xs):
        c = (xe[k] + xe[k + 1]) / 2
        parts.append(f"<text x='{sx(c):.1f}' y='{H - PAD_B + 16}' font-size='11' text-anchor='middle'>{html.escape(formats.fmt(v, 3))}</text>")
    for k, v in enumerate(g.ys):
        c = (ye[k] + ye[k + 1]) / 2
        parts.append(f"<text x='{PAD_L - 6}' y='{sy(c) + 4:.1f}' font-size='11' text-anchor='end'>{html.escape(formats.fmt(v, 3))}</text>")
    parts.append(f"<text x='{(PAD_L + W - PAD_R) / 2}' y='{H - 10}' text-anchor='middle'>{html.escape(g.x)}</text>")
    parts.append(f"<text x='16' y='{(PAD_T + H - PAD_B) / 2}' text-anchor='middle' "
                 f"transform='rotate(-90 16 {(PAD_T + H - PAD_B) / 2})'>{html.escape(g.y)}</text></svg>")
    legend = (f"<div class='muted'>colour: {html.escape(g.metric)} from {formats.fmt(lo)} "
              f"<span style='display:inline-block;width:120px;height:10px;background:linear-gradient(90deg,"
              f"{','.join(_viridis(t / 4) for t in range(5))})'></span> to {formats.fmt(hi)}; grey: no value "
              f"(diverged or failed)</div>")
    return "".join(parts) + legend


_SCRIPT = """
const data = JSON.parse(document.getElementById('sweep-data').textContent);
const tip = document.getElementById('tip');
const f = v => v === null ? '—' : (Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(3) : +v.toPrecision(4));
document.querySelectorAll('svg.phase rect').forEach(r => {
  r.addEventListener('mousemove', e => {
    const i = +r.dataset.i, j = +r.dataset.j, g = data.grid;
    const st = Object.entries(g.statuses[i][j]).map(([k, v]) => k + ' ' + v).join(', ');
    tip.innerHTML = `<b>${g.x} = ${g.xs[j]}, ${g.y} = ${g.ys[i]}</b><br>${g.metric}: ${f(g.mean[i][j])}` +
      ` ± ${f(g.std[i][j])} (min ${f(g.lo[i][j])}, max ${f(g.hi[i][j])}, ${g.n[i][j]} seed(s))<br>` +
      `trials: ${st || 'none'}<br><span class='muted'>${g.cells[i][j].join(' ')}</span>`;
    tip.style.display = 'block'; tip.style.left = (e.pageX + 14) + 'px'; tip.style.top = (e.pageY + 14) + 'px';
  });
  r.addEventListener('mouseleave', () => { tip.style.display = 'none'; });
});
"""


def render_sweep_page(g: Any, *, overlay: dict[str, Any] | None = None, title: str = "", context: str = "") -> str:
    """The page for a :class:`initlab.sweep.plot.Grid` (and an overlay from ``theory_overlay``)."""
    payload = {"grid": g.to_dict()}
    blob = json.dumps(payload, allow_nan=False, default=str).replace("</", "<\\/")
    notes = "".join(f"<p class='muted'>{html.escape(n)}</p>" for n in (overlay or {}).get("notes", []))
    lines = "".join(f"<li>{html.escape(ln['label'])}</li>" for ln in (overlay or {}).get("lines", []))
    ctx = ", ".join(f"{k} = {v}" for k, v in g.context.items())
    body = (f"<header class='top'><h1>{html.escape(title or g.metric)}</h1>"
            f"<p class='question'>{html.escape(g.metric)} over {html.escape(g.x)} × {html.escape(g.y)}, mean over "
            f"seeds (hover a cell for its spread and trials)</p><p class='muted'>{html.escape(ctx)}"
            f"{html.escape(context)}</p></header><main>{_svg(g, overlay)}"
            + (f"<h2>Theory</h2><ul>{lines}</ul>{notes}" if overlay else "")
            + "</main><div id='tip' style='position:absolute;display:none;background:#fff;border:1px solid #ccc;"
              "padding:6px 8px;font-size:13px;max-width:420px;pointer-events:none'></div>"
            + f"<script type='application/json' id='sweep-data'>{blob}</script><script>{_SCRIPT}</script>")
    return page(title or g.metric, body, "", inline=True, script=False)  # the report's frame and styles, inline


def write_sweep_page(sweep_dir: str | os.PathLike, x: str, y: str, metric: str, *, overlay: str | None = None,
                     where: Mapping[str, Any] | None = None, path: str | os.PathLike | None = None) -> Path:
    """Write ``SWEEP/plots/METRIC-X-Y.html`` (or ``path``) for the sweep folder ``sweep_dir``."""
    from ..sweep import Sweep
    from ..sweep.plot import theory_overlay

    if overlay not in (None, "theory"):
        raise ValueError(f"overlay must be None or 'theory', got {overlay!r}")
    s = Sweep(sweep_dir)
    g = s.grid(x, y, metric, where=where)
    th = theory_overlay(g) if overlay == "theory" else None
    if th is not None:
        th = {**th, "lines": [ln for ln in th["lines"] if "contour" not in ln]}
    page = render_sweep_page(g, overlay=th, title=f"{s.meta['spec'].get('name') or s.meta['spec']['trial']}: "
                                                  f"{metric}")
    out = Path(path) if path is not None else s.path / "plots" / f"{metric}-{x}-{y}.html"
    formats.write_text(out, page)
    return out
