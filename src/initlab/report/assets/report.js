/* initlab report: draws the charts of one report page from its JSON blob (#initlab-data) with
   uPlot (vendored beside this file). No network: everything comes from the page itself. */
(function () {
  "use strict";
  var blob = document.getElementById("initlab-data");
  if (!blob || typeof uPlot === "undefined") return;
  var D = JSON.parse(blob.textContent);
  var charts = [];

  // viridis anchors (perceptually uniform, colour-blind safe)
  var VIRIDIS = ["#440154", "#482878", "#3e4989", "#31688e", "#26828e", "#1f9e89", "#35b779", "#6ece58", "#fde725"];
  var VRGB = VIRIDIS.map(function (h) { return [1, 3, 5].map(function (i) { return parseInt(h.substr(i, 2), 16); }); });
  function viridis(t) {
    t = Math.min(1, Math.max(0, t)) * (VRGB.length - 1);
    var i = Math.min(VRGB.length - 2, Math.floor(t)), f = t - i, a = VRGB[i], b = VRGB[i + 1];
    return [0, 1, 2].map(function (k) { return Math.round(a[k] + f * (b[k] - a[k])); });
  }
  function layerColor(j, L) { var c = viridis(L > 1 ? 0.85 * j / (L - 1) : 0.3); return "rgb(" + c.join(",") + ")"; }
  function variantColor(name) { return (D.colors && D.colors[name]) || "#0072B2"; }
  function alpha(hex, a) {
    var c = [1, 3, 5].map(function (i) { return parseInt(hex.substr(i, 2), 16); });
    return "rgba(" + c.join(",") + "," + a + ")";
  }

  // statistic names, labels and the [0, 1] fractions come with the data (initlab.formats: one home)
  var LABELS = D.labels || {};
  var FRACTIONS = {};
  (D.fractions || []).forEach(function (s) { FRACTIONS[s] = true; });
  var VIEWS = D.views || { bylayer: [], oversteps: [] };
  function label(stat) { return LABELS[stat] || stat; }

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    for (var k in (attrs || {})) e.setAttribute(k, attrs[k]);
    if (text != null) e.textContent = text;
    return e;
  }
  function box(parentId, title) {
    var parent = document.getElementById(parentId);
    var wrap = el("div", { "class": "panel" });
    if (title) wrap.appendChild(el("h3", null, title));
    var c = el("div", { "class": "chart" });
    wrap.appendChild(c);
    parent.appendChild(wrap);
    return c;
  }
  function widthOf(c) { return Math.max(280, Math.floor((c.clientWidth || c.parentNode.clientWidth || 560) - 4)); }

  // log scale when positive values span more than two decades
  function spansDecades(arrays) {
    var lo = Infinity, hi = 0, neg = false;
    arrays.forEach(function (a) {
      a.forEach(function (v) { if (v == null) return; if (v <= 0) { if (v < 0) neg = true; return; } if (v < lo) lo = v; if (v > hi) hi = v; });
    });
    return !neg && hi > 0 && lo < Infinity && hi / lo > 100;
  }
  function positive(a) { return a.map(function (v) { return v != null && v > 0 ? v : null; }); }
  function fmt(v) {
    if (v == null || !isFinite(v)) return "—";
    var a = Math.abs(v);
    return (a !== 0 && (a < 1e-3 || a >= 1e5)) ? v.toExponential(2) : +v.toPrecision(4) + "";
  }

  function tick(v) {
    if (v == null) return "";
    var a = Math.abs(v);
    return (a !== 0 && (a < 1e-2 || a >= 1e5)) ? v.toExponential(0) : +v.toPrecision(3) + "";
  }
  // log axes: label the powers of ten only (others crowd and round to the same text)
  function yTicks(log) {
    return function (u, splits) {
      return splits.map(function (v) {
        if (log) { var e = Math.log10(v); return Math.abs(e - Math.round(e)) < 1e-6 ? tick(v) : ""; }
        return tick(v);
      });
    };
  }
  var FRACTION_RANGE = { range: function (u, lo, hi) { return [0, Math.min(1, Math.max(0.05, (hi || 0) * 1.15))]; } };
  function yScale(log, fraction) { return log ? { distr: 3 } : (fraction ? FRACTION_RANGE : {}); }

  function plot(container, opts, data) {
    opts.width = widthOf(container);
    opts.height = opts.height || 250;
    opts.cursor = opts.cursor || { drag: { x: true, y: false } };
    opts.axes = opts.axes || [{}, {}];
    opts.axes.forEach(function (a) { a.stroke = a.stroke || "#333"; a.grid = { stroke: "#e6e6e6", width: 1 }; a.font = "12px system-ui, sans-serif"; a.labelFont = "13px system-ui, sans-serif"; });
    opts.series.slice(1).forEach(function (s) { if (!s.value) s.value = function (u, v) { return fmt(v); }; });
    var ylog = opts.scales && opts.scales.y && opts.scales.y.distr === 3;
    if (opts.axes[1] && !opts.axes[1].values) opts.axes[1].values = yTicks(ylog);
    var u = new uPlot(opts, data, container);
    container.setAttribute("data-rendered", "1");
    container.uplot = u;   // for tests and the console: the chart drawn here
    charts.push(u);
    return u;
  }
  function drop(u) {
    var i = charts.indexOf(u); if (i >= 0) charts.splice(i, 1);
    u.destroy();
  }

  function slider(parentId, label, n, onInput) {
    var ctl = document.getElementById(parentId);
    var lab = el("label", null, label + " ");
    var s = el("input", { type: "range", min: "0", max: String(Math.max(0, n - 1)), value: String(Math.max(0, n - 1)), step: "1", "class": "step-slider" });
    if (n <= 1) { s.disabled = true; lab.style.display = "none"; }
    lab.appendChild(s);
    var out = el("output", { "class": "readout" });
    lab.appendChild(out);
    ctl.appendChild(lab);
    s.addEventListener("input", function () { onInput(+s.value, out); });
    return { input: s, out: out };
  }
  function select(parentId, label, options, onChange, cls) {
    var ctl = document.getElementById(parentId);
    var lab = el("label", null, label + " ");
    var s = el("select", { "class": cls || "" });
    options.forEach(function (o, i) { var op = el("option", { value: String(i) }, o); s.appendChild(op); });
    lab.appendChild(s);
    ctl.appendChild(lab);
    s.addEventListener("change", function () { onChange(+s.value); });
    return s;
  }
  function nearest(steps, s) {
    var best = 0;
    for (var i = 0; i < steps.length; i++) if (Math.abs(steps[i] - s) < Math.abs(steps[best] - s)) best = i;
    return best;
  }
  function longest(list, key) {
    var best = null;
    list.forEach(function (v) { if (key(v) && (!best || key(v).length > key(best).length)) best = v; });
    return best;
  }

  // ------------------------------------------------------------------------- training curves
  function drawCurves() {
    D.curves.forEach(function (c) {
      var tables = c.series.map(function (s) { return [s.x, s.y]; });
      var data = tables.length === 1 ? tables[0] : uPlot.join(tables);
      var log = /loss/i.test(c.metric) && spansDecades(data.slice(1));
      if (log) data = [data[0]].concat(data.slice(1).map(positive));
      var series = [{ label: "step" }].concat(c.series.map(function (s) {
        return { label: s.label, stroke: variantColor(s.variant), width: 1.6, spanGaps: true,
                 dash: /train/i.test(s.split) ? undefined : [6, 4], points: { show: s.x.length < 30 } };
      }));
      plot(box("curves-charts", c.metric), {
        series: series, scales: { x: { time: false }, y: log ? { distr: 3 } : {} },
        axes: [{ label: "step" }, { label: c.metric + (log ? " (log scale)" : "") }]
      }, data);
    });
  }

  // ---------------------------------------------------------------------------- by layer
  // The x axis lists one variant's layers (the "axis variant"; a select picks it when variants have
  // different layers); each variant is drawn at the layers of the same name, so no point sits under
  // another layer's label.
  function sameLayers(V) {
    var a = JSON.stringify(V[0].layers);
    return V.every(function (v) { return JSON.stringify(v.layers) === a; });
  }
  function onAxis(v, layers, row) {
    return layers.map(function (name) { var j = v.layers.indexOf(name); return row && j >= 0 && j < row.length ? row[j] : null; });
  }
  function drawByLayer() {
    var V = D.variants;
    var ref = longest(V, function (v) { return v.steps; });
    var axisV = longest(V, function (v) { return v.layers; });
    var step = ref.steps[ref.steps.length - 1];
    var built = [];
    var note = el("span", { "class": "axis-note muted" });
    function col(v, stat, layers) {
      // each statistic has its own recorded steps (extended ones only every hist_every steps)
      var st = v.stats[stat];
      return onAxis(v, layers, st && st.values[nearest(st.steps, step)]);
    }
    function dataAt(stat, log) {
      var layers = axisV.layers, d = [layers.map(function (_, i) { return i; })];
      V.forEach(function (v) {
        if (!v.stats[stat]) return;
        var y = col(v, stat, layers); d.push(log ? positive(y) : y);
        if (stat === "std" && v.predicted_std) { var p = onAxis(v, layers, v.predicted_std); d.push(log ? positive(p) : p); }
      });
      return d;
    }
    function build() {
      built.forEach(function (b) { drop(b.u); }); built = [];
      document.getElementById("bylayer-charts").innerHTML = "";
      var layers = axisV.layers, L = layers.length, xs = layers.map(function (_, i) { return i; });
      var tickEvery = Math.max(1, Math.ceil(L / 16));
      var off = V.filter(function (v) { return v.layers.some(function (n) { return layers.indexOf(n) < 0; }); });
      note.textContent = off.length ? "not on this axis: " + off.map(function (v) {
        return v.name + " (" + v.layers.filter(function (n) { return layers.indexOf(n) < 0; }).join(", ") + ")";
      }).join("; ") : "";
      VIEWS.bylayer.forEach(function (stat) {
        if (!V.some(function (v) { return v.stats[stat]; })) return;
        var all = [];
        V.forEach(function (v) { (v.stats[stat] ? v.stats[stat].values : []).forEach(function (r) { all.push(r); }); });
        var log = !FRACTIONS[stat] && spansDecades(all);
        var series = [{ label: "layer", value: function (u, i) { return i == null ? "—" : layers[i]; } }];
        V.forEach(function (v) {
          if (!v.stats[stat]) return;
          series.push({ label: v.name, stroke: variantColor(v.name), width: 2, spanGaps: true, points: { show: true, size: 6 } });
          if (stat === "std" && v.predicted_std) series.push({ label: v.name + " (theory)", stroke: variantColor(v.name), width: 1.5, dash: [5, 4], points: { show: false } });
        });
        var c = box("bylayer-charts", label(stat));
        c.setAttribute("data-stat", stat);
        c.setAttribute("data-x-labels", JSON.stringify(layers));
        var u = plot(c, {
          series: series,
          scales: { x: { time: false, range: function () { return [-0.5, Math.max(0.5, L - 0.5)]; } }, y: yScale(log, FRACTIONS[stat]) },
          axes: [{ label: "layer" + (V.length > 1 && !sameLayers(V) ? " (of " + axisV.name + ")" : ""),
                   splits: function () { return xs.filter(function (i) { return i % tickEvery === 0; }); },
                   values: function (u, splits) { return splits.map(function (i) { return layers[i] || ""; }); }, rotate: 0 },
                 { label: label(stat) + (log ? " (log)" : "") }]
        }, dataAt(stat, log));
        built.push({ u: u, stat: stat, log: log });
      });
    }
    if (V.length > 1 && !sameLayers(V)) {
      var sel = select("bylayer-controls", "layers of", V.map(function (v) { return v.name; }), function (i) {
        axisV = V[i]; build();
      }, "axis-select");
      sel.value = String(V.indexOf(axisV));
      document.getElementById("bylayer-controls").appendChild(note);
    }
    build();
    if (ref.steps.length > 1) {
      var sl = slider("bylayer-controls", "at step", ref.steps.length, function (i, out) {
        step = ref.steps[i]; out.textContent = String(step);
        built.forEach(function (b) { b.u.setData(dataAt(b.stat, b.log)); });
      });
      sl.out.textContent = String(step);
    }
  }

  // ------------------------------------------------------------------------- over steps
  function drawOverSteps() {
    var V = D.variants.filter(function (v) { return v.steps.length > 1; });
    var current = [];
    function build(vi) {
      current.forEach(drop); current = [];
      document.getElementById("oversteps-charts").innerHTML = "";
      var v = V[vi], L = v.layers.length;
      VIEWS.oversteps.forEach(function (stat) {
        var st = v.stats[stat]; if (!st) return;
        var m = st.values;
        var cols = v.layers.map(function (_, j) { return m.map(function (r) { return r[j]; }); });
        var log = !FRACTIONS[stat] && spansDecades(cols);
        if (log) cols = cols.map(positive);
        var series = [{ label: "step" }].concat(v.layers.map(function (name, j) {
          return { label: name, stroke: layerColor(j, L), width: 1.4, spanGaps: true, points: { show: st.steps.length < 30 } };
        }));
        current.push(plot(box("oversteps-charts", label(stat) + " · " + v.name), {
          series: series, legend: { show: L <= 24 },
          scales: { x: { time: false }, y: yScale(log, FRACTIONS[stat]) },
          axes: [{ label: "step" }, { label: label(stat) + (log ? " (log)" : "") }]
        }, [st.steps].concat(cols)));
      });
    }
    if (V.length > 1) select("oversteps-controls", "variant", V.map(function (v) { return v.name; }), build, "variant-select");
    build(0);
  }

  // ------------------------------------------------------------------------- histograms
  function edgesOf(h, t) {
    if (h.edges) return h.edges[t];
    var lo = h.range[t][0], hi = h.range[t][1], B = h.counts[t].length, e = [];
    for (var i = 0; i <= B; i++) e.push(lo + (hi - lo) * i / B);
    return e;
  }
  // the layer is chosen by name (variants may have different layers): D.layers lists every variant's
  // layers once, in network order
  var HS = { layer: null, step: 0, log: false };
  function histOf(v) { var j = v.layers.indexOf(HS.layer); return j >= 0 ? v.hist.layers[j] : null; }
  var histDeps = [];   // redraw callbacks of the views that follow the layer/step controls
  function drawHistograms() {
    var V = D.variants.filter(function (v) { return v.hist; });
    var layers = D.layers && D.layers.length ? D.layers : longest(V, function (v) { return v.layers; }).layers;
    var ref = longest(V, function (v) { return v.hist.steps; }).hist.steps;
    HS.layer = layers[0];
    HS.step = ref[ref.length - 1];
    var hcharts = [];
    function dataFor(v) {
      var h = histOf(v);
      if (!h) return [[0, 1], [null, null]];
      var t = nearest(v.hist.steps, HS.step), c = h.counts[t], e = edgesOf(h, t);
      if (!c || c[0] == null && c.every(function (x) { return x == null; })) return [[0, 1], [null, null]];
      var y = c.concat([c[c.length - 1]]);
      if (HS.log) y = y.map(function (x) { return x == null ? null : Math.log10(1 + x); });
      return [e, y];
    }
    function build() {
      hcharts.forEach(drop); hcharts = [];
      document.getElementById("hist-charts").innerHTML = "";
      V.forEach(function (v) {
        var c = box("hist-charts", v.name);
        c.classList.add("hist-chart");
        var col = variantColor(v.name);
        hcharts.push(plot(c, {
          series: [{ label: "value" }, { label: HS.log ? "log10(1 + count)" : "count", stroke: col, fill: alpha(col, 0.25), width: 1.5,
                      paths: uPlot.paths.stepped({ align: 1 }), points: { show: false } }],
          scales: { x: { time: false }, y: { range: function (u, lo, hi) { return [0, hi > 0 ? hi * 1.05 : 1]; } } },
          axes: [{ label: "activation value" }, { label: HS.log ? "log10(1 + count)" : "count" }], height: 220
        }, dataFor(v)));
      });
    }
    function update() {
      hcharts.forEach(function (u, i) { u.setData(dataFor(V[i])); });
      ctlStep.out.textContent = HS.layer + " · step " + HS.step;
      histDeps.forEach(function (f) { f(); });
    }
    select("hist-controls", "layer", layers, function (j) { HS.layer = layers[j]; update(); }, "layer-select");
    var ctlStep = slider("hist-controls", "step", ref.length, function (i) { HS.step = ref[i]; update(); });
    var logLab = el("label", null, " log counts ");
    var logBox = el("input", { type: "checkbox", "class": "log-toggle" });
    logLab.appendChild(logBox);
    document.getElementById("hist-controls").appendChild(logLab);
    logBox.addEventListener("change", function () { HS.log = logBox.checked; build(); update(); });
    build();
    ctlStep.out.textContent = HS.layer + " · step " + HS.step;
  }

  // ------------------------------------------------------------- colorful dimension (canvas)
  var BINS = 64;
  function rebin(h) {
    // every snapshot onto one grid spanning all snapshots' edges (as report._data.common_bins)
    var H = h.counts.length, lo = Infinity, hi = -Infinity, t, i;
    for (t = 0; t < H; t++) { var e0 = edgesOf(h, t); if (e0[0] != null) { lo = Math.min(lo, e0[0]); hi = Math.max(hi, e0[e0.length - 1]); } }
    if (!(hi > lo)) { if (!isFinite(lo)) lo = 0; hi = lo + 1; }
    var grid = []; for (i = 0; i <= BINS; i++) grid.push(lo + (hi - lo) * i / BINS);
    var img = [];
    for (t = 0; t < H; t++) {
      var c = h.counts[t], e = edgesOf(h, t), colv = new Float64Array(BINS);
      if (c && e && e.every(function (x) { return x != null; }) && c.every(function (x) { return x != null; })) {
        var cum = [0]; for (i = 0; i < c.length; i++) cum.push(cum[i] + c[i]);
        var at = grid.map(function (g) {
          if (g <= e[0]) return 0; if (g >= e[e.length - 1]) return cum[cum.length - 1];
          var k = 0; while (k < e.length - 2 && e[k + 1] < g) k++;
          var w = e[k + 1] - e[k];
          return cum[k] + (w > 0 ? (g - e[k]) / w : 1) * (cum[k + 1] - cum[k]);
        });
        for (i = 0; i < BINS; i++) colv[i] = Math.max(0, at[i + 1] - at[i]);
      }
      img.push(colv);
    }
    return { img: img, lo: lo, hi: hi };
  }
  function drawColorful() {
    var V = D.variants.filter(function (v) { return v.hist && v.hist.steps.length > 1; });
    var views = V.map(function (v) {
      var c = box("colorful-charts", v.name);
      c.classList.add("cd-chart");
      var frame = el("div", { "class": "cd-frame" });
      var canvas = el("canvas", { "class": "cd", role: "img", "aria-label": "activation histogram of the selected layer over training (" + v.name + ")" });
      var marker = el("div", { "class": "cd-marker" });
      var ylab = el("div", { "class": "cd-y" }), xlab = el("div", { "class": "cd-x" }), read = el("div", { "class": "cd-read muted" });
      frame.appendChild(canvas); frame.appendChild(marker);
      c.appendChild(ylab); c.appendChild(frame); c.appendChild(xlab); c.appendChild(read);
      var state = null;
      function draw() {
        var h = histOf(v);
        var H = v.hist.steps.length;
        canvas.width = H; canvas.height = BINS;
        var ctx = canvas.getContext("2d"), im = ctx.createImageData(H, BINS);
        if (!h) { ctx.clearRect(0, 0, H, BINS); read.textContent = "no histogram recorded for this layer"; state = null; return; }
        var r = rebin(h), max = 0, t, i;
        r.img.forEach(function (col) { for (i = 0; i < BINS; i++) max = Math.max(max, Math.log1p(col[i])); });
        for (t = 0; t < H; t++) for (i = 0; i < BINS; i++) {
          var rgb = viridis(max > 0 ? Math.log1p(r.img[t][i]) / max : 0), p = 4 * ((BINS - 1 - i) * H + t);
          im.data[p] = rgb[0]; im.data[p + 1] = rgb[1]; im.data[p + 2] = rgb[2]; im.data[p + 3] = 255;
        }
        ctx.putImageData(im, 0, 0);
        state = r;
        ylab.innerHTML = "";
        [["top", r.hi], ["mid", (r.lo + r.hi) / 2], ["bot", r.lo]].forEach(function (p) { ylab.appendChild(el("span", { "class": p[0] }, fmt(p[1]))); });
        xlab.textContent = "step " + v.hist.steps[0] + " → " + v.hist.steps[H - 1] + "   ·   y: activation value of " + HS.layer + "   ·   colour: log(1 + count)";
        mark();
      }
      function mark() {
        var H = v.hist.steps.length, t = nearest(v.hist.steps, HS.step);
        marker.style.left = (100 * (t + 0.5) / H) + "%";
      }
      canvas.addEventListener("mousemove", function (ev) {
        if (!state) return;
        var b = canvas.getBoundingClientRect(), H = v.hist.steps.length;
        var t = Math.min(H - 1, Math.floor((ev.clientX - b.left) / b.width * H));
        var i = Math.min(BINS - 1, Math.floor((1 - (ev.clientY - b.top) / b.height) * BINS));
        var val = state.lo + (state.hi - state.lo) * (i + 0.5) / BINS;
        read.textContent = "step " + v.hist.steps[t] + " · value ≈ " + fmt(val) + " · count ≈ " + fmt(state.img[t][i]);
      });
      draw();
      c.setAttribute("data-rendered", "1");
      return { draw: draw, mark: mark, layer: -1 };
    });
    histDeps.push(function () {
      views.forEach(function (w) { if (w.layer !== HS.layer) { w.draw(); w.layer = HS.layer; } else w.mark(); });
    });
    views.forEach(function (w) { w.layer = HS.layer; });
  }

  function safe(name, f) {
    try { f(); } catch (e) { console.error("initlab report: " + name + " failed: " + (e && e.stack || e)); }
  }
  if (D.curves.length) safe("curves", drawCurves);
  if (D.variants.length) safe("by layer", drawByLayer);
  if (D.variants.some(function (v) { return v.steps.length > 1; })) safe("over steps", drawOverSteps);
  if (D.variants.some(function (v) { return v.hist; })) {
    safe("histograms", drawHistograms);
    if (document.getElementById("colorful-charts")) safe("colorful dimension", drawColorful);
  }
  var lastW = window.innerWidth;
  window.addEventListener("resize", function () {
    if (Math.abs(window.innerWidth - lastW) < 20) return;
    lastW = window.innerWidth;
    charts.forEach(function (u) { var c = u.root.parentNode; u.setSize({ width: widthOf(c), height: u.height }); });
  });
  document.documentElement.setAttribute("data-report-ready", "1");
})();
