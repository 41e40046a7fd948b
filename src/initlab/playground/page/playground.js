// initlab playground page: controls, one WebSocket per pane, canvas drawings. No network but its own
// origin, no eval, no code from the server; the server validates every value this page sends.
"use strict";
(() => {
  const LR = [0.00001, 0.0001, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1, 3, 10];
  const RATES = [0, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1, 3, 10];
  const FEATURE_LABELS = {x1: "x₁", x2: "x₂", x1sq: "x₁²", x2sq: "x₂²", x1x2: "x₁x₂", sinx1: "sin x₁", sinx2: "sin x₂"};
  const PG = window.playground = {snapshots: 0, histDraws: 0, runs: 0, errors: [], panes: [], ready: false};
  const $ = (id) => document.getElementById(id);
  let schema = null, state = null, pinned = null, live = null, paneA = null, pendingSend = false;

  // ---------------------------------------------------------------- URL
  const query = (st) => {
    const p = new URLSearchParams();
    for (const [k, v] of Object.entries(st)) p.set(k, Array.isArray(v) ? v.join(",") : (v === null ? "" : String(v)));
    return p;
  };
  const fromQuery = (p) => { const s = {}; for (const [k, v] of p) if (k !== "cmp") s[k] = v; return s; };
  function writeURL() {
    if (!state) return;
    const p = query(state);
    if (pinned) p.set("cmp", query(pinned).toString());
    history.replaceState(null, "", "?" + p.toString());
  }

  // ---------------------------------------------------------------- messages
  function showError(msg) {
    const e = $("error");
    e.textContent = msg; e.hidden = !msg;
    if (msg) PG.errors.push(msg);
  }
  function setStatus(text) { $("status").textContent = text; }

  // ---------------------------------------------------------------- controls
  function options(sel, values, labels) {
    sel.replaceChildren(...values.map((v, i) => { const o = document.createElement("option"); o.value = String(v); o.textContent = labels ? labels[i] : String(v); return o; }));
  }
  function buildControls() {
    options($("activation"), schema.activations);
    options($("init"), schema.schemes);
    options($("optimizer"), schema.optimizers);
    options($("reg"), schema.reg);
    options($("lr"), LR);
    options($("reg_rate"), RATES);
    const fs = $("features");
    for (const f of schema.features) {
      const l = document.createElement("label"), c = document.createElement("input");
      c.type = "checkbox"; c.value = f; c.name = "feature"; c.id = "feature-" + f;
      l.append(c, " " + FEATURE_LABELS[f]); fs.append(l);
      c.addEventListener("change", () => {
        const on = [...fs.querySelectorAll("input:checked")].map((x) => x.value);
        if (!on.length) { c.checked = true; return; }
        change("features", on);
      });
    }
    const fields = ["problem", "dataset", "noise", "train_pct", "batch", "depth", "width", "activation", "init",
      "sw2", "sb2", "lr", "optimizer", "reg", "reg_rate", "seed", "data_seed", "mode", "axes"];
    for (const f of fields) {
      const el = $(f);
      el.addEventListener(el.type === "range" ? "input" : "change", () => change(f, el.value));
    }
    $("play").addEventListener("click", () => { const any = PG.panes.some((p) => p.playing); for (const p of PG.panes) p.send({type: any ? "pause" : "play"}); });
    $("step").addEventListener("click", () => PG.panes.forEach((p) => p.send({type: "step"})));
    $("reset").addEventListener("click", () => PG.panes.forEach((p) => p.send({type: "reset"})));
    $("export").addEventListener("click", () => live.send({type: "export"}));
    $("export-close").addEventListener("click", () => $("export-dialog").close());
    $("export-copy").addEventListener("click", () => navigator.clipboard && navigator.clipboard.writeText($("export-code").textContent));
    $("compare").addEventListener("click", togglePin);
  }
  function change(field, value) {
    if (!state) return;
    const s = {...state};
    if (field === "problem") { s.problem = value; s.dataset = (value === "regression" ? schema.regression : schema.classification)[0]; }
    else if (field === "init") { s.init = value; s.sw2 = null; }
    else s[field] = value;
    state = s;
    showError("");
    if (field !== "axes") sendConfig();
    else PG.panes.forEach((p) => p.draw());
    refreshControls(false);
    writeURL();
  }
  function sendConfig() {  // at most one config per animation frame (the server coalesces too)
    if (pendingSend) return;
    pendingSend = true;
    requestAnimationFrame(() => { pendingSend = false; live.configure(state); });
  }
  function refreshControls(all) {
    const s = state;
    options($("dataset"), s.problem === "regression" ? schema.regression : schema.classification);
    const set = (id, v) => { const el = $(id); if (all || document.activeElement !== el) el.value = String(v); };
    for (const f of ["problem", "dataset", "noise", "train_pct", "batch", "depth", "width", "activation", "init", "sb2",
      "optimizer", "reg", "seed", "data_seed", "mode", "axes"]) set(f, s[f]);
    set("lr", nearest(LR, +s.lr)); set("reg_rate", nearest(RATES, +s.reg_rate));
    const adjustable = schema.gain_schemes.includes(s.init) || schema.scale_schemes.includes(s.init);
    const sw2 = s.sw2 !== null && s.sw2 !== "" ? +s.sw2 : (live && live.runInfo ? live.runInfo.sw2 : 1);
    $("sw2").disabled = !adjustable;
    set("sw2", sw2);
    for (const c of document.querySelectorAll("#features input")) c.checked = s.features.includes(c.value);
    for (const o of document.querySelectorAll("output")) { const el = $(o.htmlFor.value); o.textContent = el.value; }
    $("noise").disabled = $("features").disabled = s.dataset === "mnist";
    $("play").disabled = s.mode === "init";
  }
  const nearest = (list, v) => list.reduce((a, b) => (Math.abs(b - v) < Math.abs(a - v) ? b : a));

  function togglePin() {
    if (paneA) { paneA.close(); paneA = null; pinned = null; $("compare").textContent = "pin & compare"; live.title("");
    } else { pinned = {...state}; paneA = new Pane(true); paneA.configure(pinned); $("compare").textContent = "unpin"; live.title("B (live: your controls)"); }
    writeURL();
  }

  // ---------------------------------------------------------------- a pane: one session
  class Pane {
    constructor(first) {
      const el = $("pane-template").content.firstElementChild.cloneNode(true);
      if (first) $("panes").prepend(el); else $("panes").append(el);
      this.el = el; this.q = (c) => el.querySelector(c);
      this.run = 0; this.curve = []; this.snap = null; this.runInfo = null; this.theory = {}; this.playing = false;
      this.state = null; this.outbox = [];
      PG.panes.push(this);
      if (first) this.title("A (pinned)");
      this.ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`);
      this.ws.onopen = () => { for (const m of this.outbox) this.ws.send(JSON.stringify(m)); this.outbox = []; };
      this.ws.onmessage = (e) => this.onMessage(JSON.parse(e.data));
      this.ws.onclose = (e) => { if (!this.closed && e.code !== 1000 && e.code !== 1013) setStatus(`connection closed (${e.code})`); };
    }
    title(t) { this.q(".pane-title").textContent = t; }
    send(m) { if (this.ws.readyState === 1) this.ws.send(JSON.stringify(m)); else this.outbox.push(m); }
    configure(st) { this.send({type: "config", state: st}); }
    close() { this.closed = true; this.ws.close(1000); this.el.remove(); PG.panes = PG.panes.filter((p) => p !== this); }
    onMessage(m) {
      if (m.type === "hello") { if (!schema) { schema = m.schema; buildControls(); } return; }
      if (m.type === "error") {
        showError(m.message);
        if (this === live && !this.runInfo) this.configure({});       // a bad URL: start from the defaults
        else if (this === live && this.state) { state = {...this.state}; refreshControls(true); writeURL(); }
        return;
      }
      if (m.type === "refused" || m.type === "closed") { showError(m.message); this.closed = true; return; }
      if (m.type === "export") { $("export-code").textContent = m.code; $("export-download").href = URL.createObjectURL(new Blob([m.code], {type: "text/x-python"})); $("export-dialog").showModal(); PG.exported = m; return; }
      if (m.type === "status") { this.playing = m.playing; if (m.diverged) setStatus(m.diverged); updatePlay(); return; }
      if (m.type === "run") {
        this.run = m.run; this.runInfo = m; this.curve = []; this.theory = {...m.theory}; this.state = m.state; this.snap = null;
        PG.runs++;
        if (this === live) {
          const first = state === null;
          if (first) { state = {...m.state}; refreshControls(true); writeURL(); }
          else refreshControls(false);
        }
        return;
      }
      if (m.run !== this.run) return;
      if (m.type === "theory") { Object.assign(this.theory, m); this.drawPhase(); return; }
      if (m.type === "extras") {  // the finite-width band and the findings, sent right after the first snapshot
        this.runInfo.band = m.band;
        if (this.snap) this.snap.findings = m.findings; else this.pendingFindings = m.findings;
        this.draw(); return;
      }
      if (m.type === "snapshot") {
        this.playing = m.playing; updatePlay();
        if (m.boundary === undefined && this.snap) m.boundary = this.snap.boundary;
        if (m.findings === undefined && this.snap) m.findings = this.snap.findings;
        if (m.findings === undefined && this.pendingFindings) { m.findings = this.pendingFindings; this.pendingFindings = null; }
        this.snap = m;
        const last = this.curve[this.curve.length - 1];
        if (!last || last[0] !== m.step) this.curve.push([m.step, m.loss.train, m.loss.test]);
        if (this.curve.length > 2000) this.curve = this.curve.filter((_, i) => i % 2 === 0 || i === this.curve.length - 1);
        if (this === live) { $("step-count").textContent = m.step; $("epoch-count").textContent = m.epoch; if (m.diverged) setStatus(m.diverged); else if (!this.playing) setStatus(""); }
        PG.snapshots++; PG.lastSnapshot = m;
        this.draw();
        if (!PG.ready) { PG.ready = true; document.documentElement.dataset.ready = "1"; }
      }
    }
    draw() {
      if (!this.snap) return;
      const s = this.snap;
      const lt = s.loss;
      this.q(".loss-text").textContent = `train ${fmt(lt.train)} · test ${fmt(lt.test)}` + (lt.test_acc != null ? ` · test acc ${(100 * lt.test_acc).toFixed(1)}%` : "");
      drawLoss(this.q(".loss"), this.curve);
      const twoD = this.state && this.state.dataset !== "mnist";
      this.q(".boundary-card").hidden = !twoD;
      if (twoD && s.boundary) drawBoundary(this.q(".boundary"), s.boundary, this.runInfo.points, this.state.problem === "regression");
      drawHist(this.q(".hist-act"), s.layers, "act", state ? state.axes : "shared");
      drawHist(this.q(".hist-grad"), s.layers, "grad", state ? state.axes : "shared");
      PG.histDraws++;
      drawStd(this.q(".std"), s.layers, this.runInfo);
      this.drawPhase();
      const ul = this.q(".findings");
      ul.replaceChildren(...(s.findings || []).map((f) => {
        const li = document.createElement("li"); li.className = f.severity;
        const fix = document.createElement("div"); fix.className = "fix"; fix.textContent = f.fix ? "Fix: " + f.fix : "";
        li.append(`${f.severity}: ${f.message}`, fix); return li;
      }));
      if (!(s.findings || []).length) { const li = document.createElement("li"); li.textContent = "no findings: the signal flows"; ul.append(li); }
    }
    drawPhase() { if (this.runInfo) drawPhase(this.q(".phase"), this.q(".theory-text"), this.theory, this.runInfo, this.state); }
  }
  function updatePlay() {
    const any = PG.panes.some((p) => p.playing);
    $("play").textContent = any ? "❚❚ pause" : "▶ play";
  }
  const fmt = (v) => (v == null ? "–" : Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(2) : v.toFixed(3));

  // ---------------------------------------------------------------- drawing
  function ctx2d(canvas, height) {
    if (height && canvas.height !== height) canvas.height = height;
    const c = canvas.getContext("2d");
    c.clearRect(0, 0, canvas.width, canvas.height);
    c.font = "10px system-ui, sans-serif";
    return c;
  }
  function drawLoss(canvas, curve) {
    const c = ctx2d(canvas), W = canvas.width, H = canvas.height, L = 30, B = 15;
    if (!curve.length) return;
    const ys = curve.flatMap((p) => [p[1], p[2]]).filter((v) => v != null && isFinite(v));
    const ymax = Math.max(1e-9, ...ys) * 1.05, x0 = curve[0][0], x1 = Math.max(curve[curve.length - 1][0], x0 + 1);
    const X = (s) => L + (W - L - 5) * (s - x0) / (x1 - x0), Y = (v) => H - B - (H - B - 5) * v / ymax;
    c.strokeStyle = "#ccc"; c.strokeRect(L, 5, W - L - 5, H - B - 5);
    c.fillStyle = "#555"; c.fillText(ymax.toPrecision(2), 2, 12); c.fillText("0", 20, H - B); c.fillText(String(x1), W - 40, H - 3);
    for (const [k, color, dash] of [[1, "#222", []], [2, "#999", [4, 3]]]) {
      c.strokeStyle = color; c.setLineDash(dash); c.beginPath();
      let started = false;
      for (const p of curve) { if (p[k] == null) continue; const x = X(p[0]), y = Y(p[k]); if (started) c.lineTo(x, y); else { c.moveTo(x, y); started = true; } }
      c.stroke();
    }
    c.setLineDash([]);
    c.fillStyle = "#222"; c.fillText("train", W - 70, 14); c.fillStyle = "#999"; c.fillText("test", W - 35, 14);
  }
  function color(v) {  // v in [-1, 1]: orange (−) → white → blue (+), TensorFlow Playground's colours
    const a = [245, 147, 34], b = [8, 119, 189], t = Math.min(1, Math.abs(v)), e = v < 0 ? a : b;
    return e.map((x) => Math.round(255 + (x - 255) * t));
  }
  function drawBoundary(canvas, bd, points, regression) {
    const c = ctx2d(canvas), W = canvas.width, n = bd.size;
    const off = document.createElement("canvas"); off.width = off.height = n;
    const oc = off.getContext("2d"), img = oc.createImageData(n, n);
    bd.values.forEach((v, i) => { const [r, g, b] = color(v / 100); img.data.set([r, g, b, 200], 4 * i); });
    oc.putImageData(img, 0, 0);
    c.imageSmoothingEnabled = true; c.drawImage(off, 0, 0, W, W);
    if (!points) return;
    const R = points.range, P = (x) => (x + R) / (2 * R) * W;
    for (const [set, stroke] of [[points.train, "#fff"], [points.test, "#000"]]) {
      for (const [x, y, lab] of set) {
        const [r, g, b] = color(regression ? lab : (lab > 0.5 ? 1 : -1));
        c.beginPath(); c.arc(P(x), W - P(y), 2.6, 0, 2 * Math.PI);
        c.fillStyle = `rgb(${r},${g},${b})`; c.fill(); c.strokeStyle = stroke; c.lineWidth = 0.8; c.stroke();
      }
    }
  }
  function drawHist(canvas, layers, key, axes) {
    const n = layers.length, rowH = Math.max(6, Math.min(28, Math.floor(560 / Math.max(n, 1))));
    const c = ctx2d(canvas, Math.max(60, n * rowH + 18)), W = canvas.width, L = 34, R = 58;
    const ok = layers.map((l) => l[key]).filter((h) => h && h.finite);
    const glo = Math.min(...ok.map((h) => h.lo)), ghi = Math.max(...ok.map((h) => h.hi));
    layers.forEach((layer, i) => {
      const h = layer[key], y0 = 4 + (i + 1) * rowH;
      c.fillStyle = "#555"; c.fillText(layer.name.replace("act", ""), 2, y0 - 2);
      if (!h || !h.finite) { c.fillStyle = "#a11"; c.fillText("NaN/Inf", L, y0 - 2); return; }
      const lo = axes === "shared" ? glo : h.lo, hi = axes === "shared" ? ghi : h.hi;
      const X = (v) => L + (W - L - R) * (v - lo) / Math.max(hi - lo, 1e-300);
      const max = Math.max(...h.counts, 1), bw = (h.hi - h.lo) / h.counts.length;
      c.fillStyle = key === "act" ? "rgba(31,119,180,.75)" : "rgba(192,57,43,.75)";
      h.counts.forEach((k, j) => {
        if (!k) return;
        const xa = X(h.lo + j * bw), xb = X(h.lo + (j + 1) * bw), hh = (rowH * 1.6) * k / max;
        c.fillRect(xa, y0 - Math.min(hh, rowH * 1.6), Math.max(xb - xa, 0.8), Math.min(hh, rowH * 1.6));
      });
      c.fillStyle = "#333"; c.fillText("σ " + fmt(h.std), W - R + 4, y0 - 2);
    });
    const lo = axes === "shared" ? glo : null;
    c.fillStyle = "#777";
    if (lo !== null && ok.length) { c.fillText(fmt(glo), L, canvas.height - 2); c.fillText(fmt(ghi), W - R - 30, canvas.height - 2); }
    else c.fillText("each row on its own range", L, canvas.height - 2);
  }
  function drawStd(canvas, layers, info) {
    const c = ctx2d(canvas), W = canvas.width, H = canvas.height, L = 36, B = 16, n = layers.length;
    const vals = [];
    layers.forEach((l, i) => {
      const b = info.band || {lo: [], hi: []};
      for (const v of [l.act.std, l.grad.std, info.pred_std[i], b.lo[i], b.hi[i]]) if (v > 0 && isFinite(v)) vals.push(Math.log10(v));
    });
    if (!vals.length) return;
    let lo = Math.floor(Math.min(...vals)), hi = Math.ceil(Math.max(...vals)); if (hi === lo) hi = lo + 1;
    const X = (i) => L + (W - L - 8) * (n === 1 ? 0.5 : i / (n - 1)), Y = (lg) => H - B - (H - B - 6) * (lg - lo) / (hi - lo);
    c.strokeStyle = "#ddd"; c.fillStyle = "#777";
    for (let e = lo; e <= hi; e++) { c.beginPath(); c.moveTo(L, Y(e)); c.lineTo(W - 8, Y(e)); c.stroke(); c.fillText("1e" + e, 2, Y(e) + 3); }
    c.fillText("layer 1", L, H - 3); c.fillText(String(n), W - 20, H - 3);
    const band = info.band ? layers.map((_, i) => [info.band.lo[i], info.band.hi[i]]) : [];
    if (band.length && band.every((b) => b[0] > 0 && b[1] > 0)) {
      c.fillStyle = "rgba(245,203,167,.7)"; c.beginPath();
      band.forEach((b, i) => (i ? c.lineTo(X(i), Y(Math.log10(b[1]))) : c.moveTo(X(i), Y(Math.log10(b[1])))));
      for (let i = n - 1; i >= 0; i--) c.lineTo(X(i), Y(Math.log10(band[i][0])));
      c.closePath(); c.fill();
    }
    if (info.pred_std.every((v) => v > 0)) {
      c.strokeStyle = "#e67e22"; c.lineWidth = 2; c.beginPath();
      info.pred_std.forEach((v, i) => (i ? c.lineTo(X(i), Y(Math.log10(v))) : c.moveTo(X(i), Y(Math.log10(v)))));
      c.stroke(); c.lineWidth = 1;
    } else if (info.pred_note) { c.fillStyle = "#a60"; c.fillText("no mean-field line: " + info.pred_note.slice(0, 50), L + 4, 14); }
    for (const [k, col] of [["act", "#1f77b4"], ["grad", "#c0392b"]]) {
      c.fillStyle = col;
      layers.forEach((l, i) => { const v = l[k].std; if (v > 0 && isFinite(v)) { c.beginPath(); c.arc(X(i), Y(Math.log10(v)), 2.5, 0, 2 * Math.PI); c.fill(); } });
    }
  }
  function drawPhase(canvas, text, th, info, st) {
    const c = ctx2d(canvas), W = canvas.width, H = canvas.height, L = 26, B = 16;
    const sw2 = info.sw2, sb2 = st ? +st.sb2 : 0;
    const xmax = Math.max(4, sw2 * 1.25), ymax = 2;
    const X = (v) => L + (W - L - 6) * v / xmax, Y = (v) => H - B - (H - B - 6) * v / ymax;
    c.fillStyle = "#eef4f8"; c.fillRect(L, 6, W - L - 6, H - B - 6);
    const line = th.line;
    if (line) {
      const pts = line.sb2.map((b, i) => [line.sw2[i], b]).filter((p) => p[0] != null);
      if (pts.length) {
        c.fillStyle = "#fbeee6"; c.beginPath(); c.moveTo(X(Math.min(pts[0][0], xmax)), Y(pts[0][1]));
        for (const p of pts) c.lineTo(X(Math.min(p[0], xmax)), Y(p[1]));
        c.lineTo(W - 6, Y(pts[pts.length - 1][1])); c.lineTo(W - 6, H - B); c.closePath(); c.fill();
        c.strokeStyle = "#333"; c.lineWidth = 1.5; c.beginPath();
        pts.forEach((p, i) => (i ? c.lineTo(X(Math.min(p[0], xmax)), Y(p[1])) : c.moveTo(X(Math.min(p[0], xmax)), Y(p[1]))));
        c.stroke(); c.lineWidth = 1;
        if (pts[0][0] > xmax) { c.fillStyle = "#555"; c.fillText(`χ₁ = 1 at σw² ≈ ${pts[0][0].toFixed(0)} (off chart)`, L + 4, 18); }
      }
    }
    c.fillStyle = "#557"; c.fillText("ordered", L + 4, H - B - 4); c.fillText("chaotic", W - 50, 16);
    c.fillStyle = "#777"; c.fillText("0", L - 2, H - 3); c.fillText("σw² →", W / 2 - 10, H - 3); c.fillText(xmax.toFixed(1), X(xmax) - 16, H - 3);
    c.fillText("σb²", 2, H / 2); c.fillText("2", 14, Y(2) + 8);
    c.fillStyle = "#c0392b"; c.beginPath(); c.arc(X(Math.min(sw2, xmax)), Y(Math.min(sb2, ymax)), 4.5, 0, 2 * Math.PI); c.fill();
    const depth = st ? +st.depth : 0;
    const parts = [`σw² = ${fmt(sw2)}, σb² = ${fmt(sb2)}`, `χ₁ = ${fmt(th.chi1)}`, `q* = ${fmt(th.q_star)}`];
    if ("xi_c" in th) parts.push(`ξ_c = ${fmt(th.xi_c)}` + (th.depth != null ? ` (6ξ_c = ${fmt(th.depth)} vs depth ${depth})` : ""));
    else parts.push("ξ_c: computing…");
    if (th.phase) parts.push(th.phase);
    text.textContent = parts.join(" · ") + (th.message ? ` — ${th.message}` : "");
  }

  // ---------------------------------------------------------------- start
  document.addEventListener("keydown", (e) => { if (e.key === " " && e.target === document.body) { e.preventDefault(); $("play").click(); } });
  const params = new URLSearchParams(location.search);
  live = new Pane(false);
  live.configure(fromQuery(params));
  if (params.get("cmp")) {
    pinned = fromQuery(new URLSearchParams(params.get("cmp")));
    paneA = new Pane(true); paneA.configure(pinned);
    $("compare").textContent = "unpin"; live.title("B (live: your controls)");
  }
})();
