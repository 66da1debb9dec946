"""`nrt dashboard`: one self-contained HTML page with the charts QuickSight shows on AWS.

The numbers come from the same athena/*.sql queries, run by local Athena over the lake. The
page carries its data as JSON and draws SVG with a few lines of plain JavaScript: no CDN,
no network, so it opens from disk on a machine with no internet.
"""

from __future__ import annotations

import datetime
import html
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypedDict

from nrt.lake.athena import ATHENA_DIR, LocalAthena, Result

# Chart id -> (title, the athena/ query it draws).
# Classifiers are drawn by label, regressors by value; series are per model (and label), never
# per sensor, so the page stays readable with hundreds of sensors.
CHARTS = {
    "label_rate": ("Classifiers: share of each label per minute", "label_rate_per_minute.sql"),
    "probability": ("Classifiers: confidence", "probability_distribution.sql"),
    "value": ("Regressors: mean predicted value per minute", "value_per_minute.sql"),
    "value_distribution": ("Regressors: predicted value by decile (upper bound)", "value_distribution.sql"),
    "latest": ("Latest prediction per sensor and model (most recent first)", "latest_prediction_per_sensor.sql"),
    "lag": ("Lag from reading to lake, per minute of arrival (ms)", "lake_lag.sql"),
}
# Lines beyond this many are summed into one "other" line; table rows beyond it are counted.
MAX_SERIES = 8
MAX_TABLE_ROWS = 25


class Chart(TypedDict):
    title: str
    query: str  # its athena/ file
    rows: list[dict[str, object]]  # the query's rows, as the page's script reads them (JSON)


class DashboardData(TypedDict):
    generated_at: str
    charts: dict[str, Chart]


def _plain(value: object) -> object:
    if isinstance(value, datetime.datetime):
        return value.astimezone(datetime.UTC).strftime("%Y-%m-%d %H:%M")
    if isinstance(value, float):
        return round(value, 4)
    return value


def _records(result: Result) -> list[dict[str, object]]:
    return [{k: _plain(v) for k, v in r.items()} for r in result.records()]


def dashboard_data(lake: Path, athena_dir: Path = ATHENA_DIR) -> DashboardData:
    """Each chart's rows, from its athena/ query over the lake."""
    athena = LocalAthena(lake, athena_dir=athena_dir)
    generated_at = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    charts: dict[str, Chart] = {
        chart: {"title": title, "query": query, "rows": _records(athena.run_file(athena_dir / query))}
        for chart, (title, query) in CHARTS.items()
    }
    return {"generated_at": generated_at, "charts": charts}


_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>nrt-inference: predictions</title>
<style>
body { font: 14px system-ui, sans-serif; margin: 24px; color: #1f2933; background: #f7f9fb; }
h1 { font-size: 20px; margin: 0 0 4px; }
.meta { color: #5f6b7a; margin-bottom: 16px; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(520px, 1fr)); gap: 16px; }
section { background: #fff; border: 1px solid #dde3ea; border-radius: 6px; padding: 12px 16px; }
h2 { font-size: 15px; margin: 0 0 8px; }
.query { color: #5f6b7a; font-size: 12px; }
svg text { font-size: 11px; fill: #3e4c59; }
.legend span { display: inline-block; margin-right: 12px; font-size: 12px; }
.legend i { display: inline-block; width: 10px; height: 10px; margin-right: 4px; }
table { border-collapse: collapse; width: 100%; }
td, th { text-align: left; padding: 4px 8px; border-bottom: 1px solid #eef1f4; }
.fail { color: #b42318; font-weight: 600; }
.empty { color: #5f6b7a; font-style: italic; }
</style>
</head>
<body>
<h1>nrt-inference: predictions in the lake</h1>
<div class="meta">Generated __GENERATED__ from the lake by the athena/ queries (local Athena).</div>
<div class="grid">
<section><h2 id="label_rate-title"></h2><div id="label_rate"></div></section>
<section><h2 id="probability-title"></h2><div id="probability"></div></section>
<section><h2 id="value-title"></h2><div id="value"></div></section>
<section><h2 id="value_distribution-title"></h2><div id="value_distribution"></div></section>
<section><h2 id="latest-title"></h2><div id="latest"></div></section>
<section><h2 id="lag-title"></h2><div id="lag"></div></section>
</div>
<script>window.addEventListener("error", e => { document.body.dataset.error = String(e.message); });</script>
<script type="application/json" id="data">__DATA__</script>
<script>
"use strict";
const COLORS = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#ca8a04", "#db2777"];
const NS = "http://www.w3.org/2000/svg";
const W = 500, H = 220, PAD = {l: 48, r: 12, t: 10, b: 28};
const MAX_SERIES = __MAX_SERIES__, MAX_TABLE_ROWS = __MAX_TABLE_ROWS__;
let drawn = 0;

function el(name, attrs, parent) {
  const node = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (parent) parent.appendChild(node);
  return node;
}
function text(parent, x, y, value, anchor) {
  const t = el("text", {x: x, y: y, "text-anchor": anchor || "start"}, parent);
  t.textContent = value;
  return t;
}
function svg(container) {
  return el("svg", {viewBox: `0 0 ${W} ${H}`, width: "100%", role: "img"}, container);
}
function empty(container) {
  const p = document.createElement("p");
  p.className = "empty";
  p.textContent = "No rows yet.";
  container.appendChild(p);
}
function legend(container, names) {
  const div = document.createElement("div");
  div.className = "legend";
  names.forEach((name, i) => {
    const span = document.createElement("span");
    const swatch = document.createElement("i");
    swatch.style.background = COLORS[i % COLORS.length];
    span.appendChild(swatch);
    span.appendChild(document.createTextNode(name));
    div.appendChild(span);
  });
  container.appendChild(div);
}
function axes(s, xs, yMax, yLabel) {
  el("line", {x1: PAD.l, y1: H - PAD.b, x2: W - PAD.r, y2: H - PAD.b, stroke: "#9aa5b1"}, s);
  el("line", {x1: PAD.l, y1: PAD.t, x2: PAD.l, y2: H - PAD.b, stroke: "#9aa5b1"}, s);
  text(s, PAD.l - 4, PAD.t + 8, yLabel(yMax), "end");
  text(s, PAD.l - 4, H - PAD.b, yLabel(0), "end");
  if (xs.length) {
    text(s, PAD.l, H - 8, xs[0]);
    if (xs.length > 1) text(s, W - PAD.r, H - 8, xs[xs.length - 1], "end");
  }
}
function topSeries(rows, seriesKey, yKey) {
  // The MAX_SERIES series with the most weight keep their line; the rest share one "other" line.
  const weight = new Map();
  rows.forEach(r => weight.set(r[seriesKey], (weight.get(r[seriesKey]) || 0) + (Number(r[yKey]) || 0)));
  const kept = [...weight.keys()].sort((a, b) => weight.get(b) - weight.get(a)).slice(0, MAX_SERIES);
  if (kept.length === weight.size) return rows;
  const other = new Map();
  rows.filter(r => !kept.includes(r[seriesKey])).forEach(r => {
    const key = JSON.stringify(Object.entries(r).filter(([k]) => k !== seriesKey && k !== yKey));
    other.set(key, (other.get(key) || 0) + (Number(r[yKey]) || 0));
  });
  const others = [...other].map(([key, v]) => ({...Object.fromEntries(JSON.parse(key)),
    [seriesKey]: `other (${weight.size - kept.length})`, [yKey]: v}));
  return rows.filter(r => kept.includes(r[seriesKey])).concat(others);
}
function lineChart(container, rows, xKey, seriesKey, yKey, yLabel) {
  if (!rows.length) return empty(container);
  if (seriesKey) rows = topSeries(rows, seriesKey, yKey);
  const xs = [...new Set(rows.map(r => r[xKey]))].sort((a, b) => a < b ? -1 : a > b ? 1 : 0);
  const names = seriesKey ? [...new Set(rows.map(r => r[seriesKey]))].sort() : [yKey];
  const yMax = Math.max(...rows.map(r => Number(r[yKey]) || 0), 1e-9);
  const s = svg(container);
  axes(s, xs, yMax, yLabel);
  const x = i => PAD.l + (xs.length === 1 ? (W - PAD.l - PAD.r) / 2 : i * (W - PAD.l - PAD.r) / (xs.length - 1));
  const y = v => H - PAD.b - (v / yMax) * (H - PAD.t - PAD.b);
  names.forEach((name, n) => {
    const points = rows.filter(r => !seriesKey || r[seriesKey] === name)
      .map(r => [x(xs.indexOf(r[xKey])), y(Number(r[yKey]) || 0)]);
    const color = COLORS[n % COLORS.length];
    el("path", {d: points.map((p, i) => (i ? "L" : "M") + p[0].toFixed(1) + " " + p[1].toFixed(1)).join(""),
                fill: "none", stroke: color, "stroke-width": 2, class: "mark"}, s);
    points.forEach(p => el("circle", {cx: p[0], cy: p[1], r: 2.5, fill: color}, s));
  });
  legend(container, names);
  drawn += 1;
}
function barChart(container, rows) {
  if (!rows.length) return empty(container);
  const models = [...new Set(rows.map(r => r.model))].sort();
  const buckets = [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9];
  const yMax = Math.max(...rows.map(r => r.predictions), 1);
  const s = svg(container);
  axes(s, [], yMax, v => String(v));
  const slot = (W - PAD.l - PAD.r) / buckets.length, bar = slot / (models.length + 1);
  buckets.forEach((b, i) => {
    text(s, PAD.l + i * slot + slot / 2, H - 8, b.toFixed(1), "middle");
    models.forEach((m, j) => {
      const row = rows.find(r => r.model === m && Math.abs(Number(r.bucket_from) - b) < 1e-6);
      const v = row ? row.predictions : 0;
      const h = (v / yMax) * (H - PAD.t - PAD.b);
      el("rect", {x: PAD.l + i * slot + j * bar + bar / 2, y: H - PAD.b - h, width: bar * 0.9, height: h,
                  fill: COLORS[j % COLORS.length], class: "mark"}, s);
    });
  });
  legend(container, models);
  drawn += 1;
}
function table(container, rows) {
  if (!rows.length) return empty(container);
  rows = rows.slice().sort((a, b) => b.last_reading_ms - a.last_reading_ms);
  const t = document.createElement("table");
  const head = t.insertRow();
  ["sensor", "model", "kind", "prediction", "probability", "last reading (UTC)"].forEach(h => {
    const th = document.createElement("th");
    th.textContent = h;
    head.appendChild(th);
  });
  rows.slice(0, MAX_TABLE_ROWS).forEach(r => {
    const tr = t.insertRow();
    tr.className = "mark";
    const prediction = r.kind === "regression" ? Number(r.value).toFixed(3) : r.label;
    [r.sensor, r.model, r.kind, prediction, r.probability === null ? "-" : Number(r.probability).toFixed(3),
     new Date(r.last_reading_ms).toISOString().replace("T", " ").slice(0, 19)].forEach(v => {
      tr.insertCell().textContent = v;
    });
  });
  container.appendChild(t);
  if (rows.length > MAX_TABLE_ROWS) {
    const more = document.createElement("p");
    more.className = "empty";
    more.textContent = `and ${rows.length - MAX_TABLE_ROWS} more (nrt query athena/latest_prediction_per_sensor.sql)`;
    container.appendChild(more);
  }
  drawn += 1;
}

const data = JSON.parse(document.getElementById("data").textContent);
for (const [id, chart] of Object.entries(data.charts)) {
  const title = document.getElementById(id + "-title");
  title.textContent = chart.title + " ";
  const q = document.createElement("span");
  q.className = "query";
  q.textContent = "athena/" + chart.query;
  title.appendChild(q);
}
const c = data.charts;
lineChart(document.getElementById("label_rate"), c.label_rate.rows.map(r => ({...r, series: r.model + ": " + r.label})),
          "minute", "series", "share", v => (v * 100).toFixed(0) + "%");
barChart(document.getElementById("probability"), c.probability.rows);
lineChart(document.getElementById("value"), c.value.rows, "minute", "model", "mean_value", v => v.toPrecision(3));
lineChart(document.getElementById("value_distribution"), c.value_distribution.rows, "decile", "model", "value_to",
          v => v.toPrecision(3));
table(document.getElementById("latest"), c.latest.rows);
lineChart(document.getElementById("lag"), c.lag.rows.flatMap(r => [
  {minute: r.minute, series: "p50", ms: r.p50_lag_ms}, {minute: r.minute, series: "p99", ms: r.p99_lag_ms}]),
  "minute", "series", "ms", v => Math.round(v) + " ms");
document.body.dataset.drawn = String(drawn);
</script>
</body>
</html>
"""


def render_page(data: DashboardData) -> str:
    """The page, with its data inlined (and made safe inside a script element)."""
    payload = json.dumps(data).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    page = _PAGE.replace("__MAX_SERIES__", str(MAX_SERIES)).replace("__MAX_TABLE_ROWS__", str(MAX_TABLE_ROWS))
    return page.replace("__GENERATED__", html.escape(str(data["generated_at"]))).replace("__DATA__", payload)


def write_dashboard(lake: Path, target: Path) -> Path:
    """`nrt dashboard`: query the lake and write the page; returns its path."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    partial.write_text(render_page(dashboard_data(lake)), encoding="utf-8")
    partial.replace(target)
    return target


class CachedPage:
    """A page made at most once every `seconds` (the dashboard's queries read the whole lake:
    a browser reloading in a loop must not cost the API its latency). One request makes it;
    the others meanwhile answer what was made last."""

    def __init__(self, make: Callable[[], str], seconds: float = 5.0, clock: Callable[[], float] = time.monotonic):
        self.make = make
        self.seconds = seconds
        self.clock = clock
        self._page: str | None = None
        self._made_at = float("-inf")
        self._lock = threading.Lock()

    def __call__(self) -> str:
        if self._page is not None and self.clock() - self._made_at < self.seconds:
            return self._page
        with self._lock:
            if self._page is None or self.clock() - self._made_at >= self.seconds:
                self._page = self.make()
                self._made_at = self.clock()
            return self._page
