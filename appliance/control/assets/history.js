// Relevo panel: the charts of an input's history page. The server renders everything else
// (availability, events, filters); this script draws each <canvas data-hchart> from the
// JSON block #history-data ({from, to, step_ms, charts: {name: {unit, bars?, series:
// [{name, points: [[ms, value|null], ...]}]}}}) and shows event times in the browser's
// time zone. Plain canvas, no library: a few line charts do not need one.
"use strict";

(function () {
  const dataEl = document.getElementById("history-data");
  if (!dataEl) return;
  const data = JSON.parse(dataEl.textContent);
  const lang = document.documentElement.lang || "es";
  const COLORS = ["#0b6bcb", "#17803d", "#b35c00", "#8e24aa", "#c62828", "#00838f", "#5d4037", "#455a64"];
  const nf = (max) => new Intl.NumberFormat(lang, { maximumFractionDigits: max });

  function fmt(v, unit) {
    if (unit === "bps") {
      if (v >= 1e6) return nf(2).format(v / 1e6) + " Mbit/s";
      return nf(0).format(v / 1e3) + " kbit/s";
    }
    if (unit === "ms") return nf(0).format(v) + " ms";
    if (unit === "%") return nf(2).format(v) + " %";
    return nf(0).format(v);
  }

  const wide = data.to - data.from > 2 * 86400 * 1000;
  function fmtTime(ms) {
    const d = new Date(ms);
    return wide
      ? d.toLocaleDateString(lang, { day: "2-digit", month: "2-digit" }) + " " +
        d.toLocaleTimeString(lang, { hour: "2-digit", minute: "2-digit" })
      : d.toLocaleTimeString(lang, { hour: "2-digit", minute: "2-digit" });
  }

  function legend(name, chart) {
    const box = document.querySelector('[data-legend="' + name + '"]');
    if (!box) return;
    box.textContent = "";
    chart.series.forEach((s, i) => {
      const item = document.createElement("span");
      item.className = "legend-item";
      const sw = document.createElement("i");
      sw.style.background = COLORS[i % COLORS.length];
      item.appendChild(sw);
      item.appendChild(document.createTextNode(s.name));
      box.appendChild(item);
    });
  }

  // Draws one chart; returns how many points it drew (kept in data-points for tests).
  function draw(canvas, chart) {
    const dpr = window.devicePixelRatio || 1;
    const w = canvas.clientWidth, h = canvas.clientHeight;
    if (!w || !h) return 0;
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(h * dpr);
    const ctx = canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    const left = 4, right = w - 4, top = 16, bottom = h - 18;
    let max = 0;
    chart.series.forEach((s) => s.points.forEach((p) => { if (p[1] != null && p[1] > max) max = p[1]; }));
    if (chart.unit === "bps") max = Math.max(max, 1e5);
    if (chart.unit === "%" || chart.unit === "n" || chart.unit === "ms") max = Math.max(max, 1);
    max *= 1.1;
    const x = (ms) => left + ((ms - data.from) / (data.to - data.from)) * (right - left);
    const y = (v) => bottom - (v / max) * (bottom - top);
    // Grid: the top value and the middle, and the window's start, middle and end.
    ctx.strokeStyle = "#dde3ea";
    ctx.lineWidth = 1;
    ctx.beginPath();
    [top, (top + bottom) / 2, bottom].forEach((gy) => { ctx.moveTo(left, gy + 0.5); ctx.lineTo(right, gy + 0.5); });
    ctx.stroke();
    ctx.fillStyle = "#5b6775";
    ctx.font = "11px system-ui, sans-serif";
    ctx.textBaseline = "alphabetic";
    ctx.textAlign = "left";
    ctx.fillText(fmt(max / 1.1, chart.unit), left + 2, top - 4);
    ctx.fillText(fmtTime(data.from), left + 2, h - 4);
    ctx.textAlign = "center";
    ctx.fillText(fmtTime((data.from + data.to) / 2), w / 2, h - 4);
    ctx.textAlign = "right";
    ctx.fillText(fmtTime(data.to), right - 2, h - 4);
    let drawn = 0;
    const barW = Math.max(1, ((right - left) * data.step_ms) / (data.to - data.from) - 1);
    // The first series (the input) last, on top: an output carrying the same bit rate
    // would hide it otherwise.
    chart.series.map((s, i) => [s, i]).reverse().forEach(([s, i]) => {
      const color = COLORS[i % COLORS.length];
      if (chart.bars) {
        ctx.fillStyle = color;
        s.points.forEach((p) => {
          if (p[1] == null) return;
          drawn++;
          if (p[1] > 0) ctx.fillRect(x(p[0]) + i, y(p[1]), barW, bottom - y(p[1]));
        });
        return;
      }
      ctx.strokeStyle = color;
      ctx.lineWidth = 1.5;
      ctx.beginPath();
      let pen = false, prev = null;
      s.points.forEach((p) => {
        // A hole (no value, or a missing step) breaks the line instead of bridging it.
        if (p[1] == null || (prev != null && p[0] - prev > 2.5 * data.step_ms)) pen = false;
        if (p[1] == null) { prev = null; return; }
        drawn++;
        if (pen) ctx.lineTo(x(p[0]), y(p[1])); else { ctx.moveTo(x(p[0]), y(p[1])); ctx.lineTo(x(p[0]) + 0.5, y(p[1])); }
        pen = true;
        prev = p[0];
      });
      ctx.stroke();
      // A point with no neighbour (one minute of data) shows as a dot.
      ctx.fillStyle = color;
      s.points.forEach((p, k) => {
        if (p[1] == null) return;
        const before = s.points[k - 1], after = s.points[k + 1];
        const alone = (!before || before[1] == null || p[0] - before[0] > 2.5 * data.step_ms) &&
          (!after || after[1] == null || after[0] - p[0] > 2.5 * data.step_ms);
        if (alone) { ctx.beginPath(); ctx.arc(x(p[0]), y(p[1]), 2.5, 0, 2 * Math.PI); ctx.fill(); }
      });
    });
    return drawn;
  }

  function drawAll() {
    let total = 0;
    document.querySelectorAll("canvas[data-hchart]").forEach((canvas) => {
      const name = canvas.dataset.hchart;
      const chart = data.charts[name];
      if (!chart) return;
      const n = draw(canvas, chart);
      canvas.dataset.points = String(n);
      total += n;
    });
    const empty = document.querySelector("[data-nodata]");
    if (empty) empty.hidden = total > 0;
  }

  Object.keys(data.charts).forEach((name) => legend(name, data.charts[name]));
  drawAll();
  let pending = null;
  window.addEventListener("resize", () => {
    clearTimeout(pending);
    pending = setTimeout(drawAll, 100);
  });

  // Event times in the browser's zone (the server wrote UTC).
  document.querySelectorAll("time[data-local]").forEach((el) => {
    const d = new Date(el.getAttribute("datetime"));
    if (!isNaN(d)) el.textContent = d.toLocaleString(lang, { dateStyle: "short", timeStyle: "medium" });
  });
})();
