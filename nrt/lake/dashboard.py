"""`nrt dashboard`: one self-contained HTML page with the charts QuickSight shows on AWS.

The numbers come from the same athena/*.sql queries, run by local Athena over the lake. The
page carries its data as JSON and draws SVG with plain JavaScript: no CDN, no network, so it
opens from disk on a machine with no internet.

Charts are per model and per kind, and the kind is the lake's `kind` column: a binary model's
share of its positive label over time, a multi-class model's share of every label over time,
a regressor's value over time and its distribution; each classifier's confidence on a log
scale. Times are drawn on a time axis (UTC), durations in the unit that fits (ms, s, min, h, d).
A model with outcomes in the lake also has its live quality per day (athena/model_quality.sql:
the kind's headline metric, nrt/lake/quality.py) beside the value it had at training; a model
with a training profile, its most drifting feature (PSI over the last 24 hours, nrt/lake/drift.py).
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

from nrt.lake import drift, quality
from nrt.lake.athena import ATHENA_DIR, LocalAthena, Result

# Chart id -> (what it shows, the athena/ query it draws). The page draws the per-kind ones once
# for each model of that kind (the rows' `model` and `kind`), never per sensor, so it stays
# readable with hundreds of sensors.
CHARTS = {
    "positive_share": ("Binary: share given the positive label, per minute", "positive_share_per_minute.sql"),
    "label_rate": ("Multi-class: share of each label, per minute", "label_rate_per_minute.sql"),
    "probability": ("Classifiers: confidence", "probability_distribution.sql"),
    "value": ("Regression: predicted value per minute", "value_per_minute.sql"),
    "value_distribution": ("Regression: distribution of predicted values", "value_distribution.sql"),
    "latest": ("Latest prediction per sensor and model (most recent first)", "latest_prediction_per_sensor.sql"),
    "lag": ("Lag from reading to lake, per minute of arrival", "lake_lag.sql"),
}
# A multi-class chart gives this many labels a colour of their own (the biggest share
# first); a model with more has the rest in one band of its own labels. Every label and its
# count is listed under the chart whatever their number.
MAX_LABELS = 12
MAX_TABLE_ROWS = 25


class Chart(TypedDict):
    title: str
    query: str  # its athena/ file
    rows: list[dict[str, object]]  # the query's rows, as the page's script reads them (JSON)


class Quality(TypedDict):
    headline: dict[str, str]  # kind -> the metric compared with training
    training: dict[str, dict[str, object]]  # model -> its training metrics (evaluation.json)
    rows: list[dict[str, object]]  # model_quality's rows per day


class WorstDrift(TypedDict):
    feature: str
    psi: float
    verdict: str
    readings: int
    moved: str


class DashboardData(TypedDict):
    generated_at: str
    charts: dict[str, Chart]
    quality: Quality
    drift: dict[str, WorstDrift]  # model -> its most drifting feature


DRIFT_HOURS = 24.0


def _plain(value: object) -> object:
    """A time or a day as epoch milliseconds (UTC: Athena's session time zone), a float rounded."""
    if isinstance(value, datetime.datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=datetime.UTC)
        return int(moment.timestamp() * 1000)
    if isinstance(value, datetime.date):
        return int(datetime.datetime(value.year, value.month, value.day, tzinfo=datetime.UTC).timestamp() * 1000)
    if isinstance(value, float):
        return round(value, 6)
    return value


def _records(result: Result) -> list[dict[str, object]]:
    return [{k: _plain(v) for k, v in r.items()} for r in result.records()]


def dashboard_data(
    lake: Path, athena_dir: Path = ATHENA_DIR, models: Path | None = None, tagged: quality.Tags | None = None
) -> DashboardData:
    """Each chart's rows, from its athena/ query over the lake; live quality per day; and, for
    the models in `models` (nrt train's folders), their training metrics (the serving model's
    by its endpoint's tags where `tagged` reads them) and worst drift."""
    athena = LocalAthena(lake, athena_dir=athena_dir)
    generated_at = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    charts: dict[str, Chart] = {
        chart: {"title": title, "query": query, "rows": _records(athena.run_file(athena_dir / query))}
        for chart, (title, query) in CHARTS.items()
    }
    daily = _records(athena.execute("SELECT * FROM model_quality WHERE day IS NOT NULL ORDER BY model, day"))
    # The lake's model names are endpoint names (letters, digits, hyphens): each is a folder name.
    in_lake = {str(r["model"]) for chart in charts.values() for r in chart["rows"] if "model" in r}
    names = sorted(n for n in in_lake if n.replace("-", "").isalnum())
    training = {n: dict(quality.trained(models, n, tagged).metrics) for n in names} if models is not None else {}
    return {
        "generated_at": generated_at,
        "charts": charts,
        "quality": {"headline": quality.HEADLINE, "training": training, "rows": daily},
        "drift": worst_drift(athena, models, names) if models is not None else {},
    }


def worst_drift(athena: LocalAthena, models: Path, names: list[str]) -> dict[str, WorstDrift]:
    """Each model with a training profile: its feature with the highest PSI over the last day."""
    worst: dict[str, WorstDrift] = {}
    for name in names:
        found = drift.trained(models / name) if (models / name).is_dir() else None
        if found is None:
            continue
        measured = [d for d in drift.measure(athena, name, *found, DRIFT_HOURS) if d.readings]
        if measured:
            top = max(measured, key=lambda d: d.psi)
            worst[name] = {
                "feature": top.feature,
                "psi": top.psi,
                "verdict": top.verdict,
                "readings": top.readings,
                "moved": top.moved,
            }
    return worst


_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>nrt-inference: predictions</title>
<style>
body { font: 14px system-ui, sans-serif; margin: 24px; color: #1f2933; background: #f7f9fb; }
h1 { font-size: 20px; margin: 0 0 4px; }
.meta { color: #5f6b7a; margin-bottom: 16px; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(560px, 1fr)); gap: 16px; margin-bottom: 16px; }
section { background: #fff; border: 1px solid #dde3ea; border-radius: 6px; padding: 12px 16px; }
h2 { font-size: 16px; margin: 0 0 8px; }
h3 { font-size: 14px; margin: 12px 0 2px; }
.kind { font-size: 12px; font-weight: 500; color: #fff; background: #52606d; border-radius: 3px; padding: 1px 6px; }
.query, .axis { color: #5f6b7a; font-size: 12px; font-weight: normal; }
.axis { margin: 0 0 2px; }
svg text { font-size: 12px; fill: #3e4c59; }
.legend span { display: inline-block; margin-right: 12px; font-size: 12px; white-space: nowrap; }
.legend i { display: inline-block; width: 10px; height: 10px; margin-right: 4px; }
table { border-collapse: collapse; width: 100%; }
td, th { text-align: left; padding: 4px 8px; border-bottom: 1px solid #eef1f4; }
.empty { color: #5f6b7a; font-style: italic; }
</style>
</head>
<body>
<h1>nrt-inference: predictions in the lake</h1>
<div class="meta">Generated __GENERATED__ from the lake by the athena/ queries (local Athena). Times are UTC.</div>
<div class="grid" id="models"></div>
<div class="grid">
<section><h2 id="latest-title"></h2><div id="latest"></div></section>
<section><h2 id="lag-title"></h2><div id="lag"></div></section>
</div>
<script>window.addEventListener("error", e => { document.body.dataset.error = String(e.message); });</script>
<script type="application/json" id="data">__DATA__</script>
<script>
"use strict";
// Tableau's ten colours and two more: twelve labels each with a colour of their own.
const COLORS = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
                "#9c755f", "#bab0ac", "#17becf", "#6b6ecf"];
const NS = "http://www.w3.org/2000/svg";
const W = 560, H = 240, TOP = 10, BOTTOM = 24, GAP = 8;
const MAX_LABELS = __MAX_LABELS__, MAX_TABLE_ROWS = __MAX_TABLE_ROWS__;
const MINUTE = 60000;
// Columns of at most this many minutes' worth: a week of minutes still draws fast.
const BUCKETS = [1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440].map(m => m * MINUTE);
const MAX_COLUMNS = 120;
const TIME_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440, 2880, 10080].map(m => m * MINUTE);
const DURATIONS = [["ms", 1], ["s", 1000], ["min", MINUTE], ["h", 60 * MINUTE], ["d", 1440 * MINUTE]];
let drawn = 0;

function el(name, attrs, parent) {
  const node = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (parent) parent.appendChild(node);
  return node;
}
function html(name, text, parent, className) {
  const node = document.createElement(name);
  if (text !== undefined) node.textContent = text;
  if (className) node.className = className;
  if (parent) parent.appendChild(node);
  return node;
}
function label(parent, x, y, value, anchor, cls) {
  const t = el("text", {x: x, y: y, "text-anchor": anchor, class: cls}, parent);
  t.textContent = value;
  return t;
}
function width(s, value) {
  const t = label(s, 0, 0, value, "start", "");
  const w = t.getBBox().width;
  t.remove();
  return w;
}
function empty(container, text) {
  html("p", text || "No rows yet.", container, "empty");
}

// Numbers: thousands separators, as many decimals as the tick step needs.
function decimals(step) {
  return step >= 1 ? 0 : Math.min(6, Math.ceil(-Math.log10(step) - 1e-9));
}
function number(v, step) {
  const d = decimals(step);
  return new Intl.NumberFormat("en-US", {minimumFractionDigits: d, maximumFractionDigits: d}).format(v);
}
function niceStep(span, count) {
  const raw = span / count, power = Math.pow(10, Math.floor(Math.log10(raw)));
  return [1, 2, 2.5, 5, 10].map(m => m * power).find(s => s >= raw);
}
function linear(lo, hi, format, count) {
  if (!(hi > lo)) { const pad = Math.abs(lo) / 10 || 1; lo -= pad; hi += pad; }
  const step = niceStep(hi - lo, count || 5);
  lo = Math.floor(lo / step + 1e-9) * step;
  hi = Math.ceil(hi / step - 1e-9) * step;
  const ticks = [];
  for (let v = lo; v <= hi + step / 2; v += step) ticks.push({v: v, text: format(v, step)});
  return {lo: lo, hi: hi, ticks: ticks, f: v => v};
}
function numbers(lo, hi, unit) {
  return linear(lo, hi, (v, step) => number(v, step) + (unit ? " " + unit : ""));
}
function percent() {
  return linear(0, 1, (v, step) => number(v * 100, step * 100) + "%", 4);
}
// A duration axis in the one unit that keeps its numbers short (450,000,000 ms is 5.2 d).
function durations(maxMs) {
  const [unit, ms] = DURATIONS.filter(([, size]) => maxMs >= 2 * size).pop() || DURATIONS[0];
  const axis = linear(0, Math.max(maxMs / ms, 1), (v, step) => number(v, step) + " " + unit);
  return {...axis, lo: axis.lo * ms, hi: axis.hi * ms, ticks: axis.ticks.map(t => ({v: t.v * ms, text: t.text}))};
}
// Counts on a log scale (of 1 + count, so one prediction still shows): ticks 0, 1, 10, 100, ...
function counts(max) {
  const top = Math.pow(10, Math.max(1, Math.ceil(Math.log10(Math.max(max, 1)))));
  const ticks = [{v: 0, text: "0"}];
  for (let v = 1; v <= top; v *= 10) ticks.push({v: v, text: number(v, 1)});
  return {lo: 0, hi: top, ticks: ticks, f: v => Math.log10(1 + v)};
}
// Time (UTC): ticks on whole minutes, hours or days, at most six.
function times(t0, t1) {
  if (t1 - t0 < 10 * MINUTE) { const mid = (t0 + t1) / 2; t0 = mid - 5 * MINUTE; t1 = mid + 5 * MINUTE; }
  const step = TIME_STEPS.find(s => (t1 - t0) / s <= 6) || TIME_STEPS[TIME_STEPS.length - 1];
  const ticks = [];
  for (let t = Math.ceil(t0 / step) * step; t <= t1; t += step) {
    const iso = new Date(t).toISOString();
    const text = step >= 1440 * MINUTE ? iso.slice(5, 10)
      : t1 - t0 >= 1440 * MINUTE ? iso.slice(5, 10) + " " + iso.slice(11, 16) : iso.slice(11, 16);
    ticks.push({v: t, text: text, time: true});
  }
  return {lo: t0, hi: t1, ticks: ticks, f: v => v};
}

// The frame: axes, grid and tick labels, with the margins their measured widths need.
function frame(container, x, y) {
  const s = el("svg", {viewBox: `0 0 ${W} ${H}`, width: "100%", role: "img"}, container);
  const yWidth = Math.max(...y.ticks.map(t => width(s, t.text)));
  const xWidths = x.ticks.map(t => width(s, t.text));
  const probe = v => (v - x.lo) / (x.hi - x.lo);
  let left = Math.ceil(yWidth) + GAP, right = 8;
  if (x.ticks.length) {
    // A tick label centred on its tick must not cross the drawing's edges.
    const first = x.ticks[0], last = x.ticks[x.ticks.length - 1];
    const room = W - left - right;
    if (left + probe(first.v) * room < xWidths[0] / 2 + 1) left = xWidths[0] / 2 + 1 - probe(first.v) * room + left;
    const lastX = left + probe(last.v) * (W - left - right);
    if (lastX + xWidths[xWidths.length - 1] / 2 > W - 1) right += lastX + xWidths[xWidths.length - 1] / 2 - (W - 1);
  }
  const area = {l: left, r: W - right, t: TOP, b: H - BOTTOM};
  const sx = v => area.l + (x.f(v) - x.f(x.lo)) / (x.f(x.hi) - x.f(x.lo)) * (area.r - area.l);
  const sy = v => area.b - (y.f(v) - y.f(y.lo)) / (y.f(y.hi) - y.f(y.lo)) * (area.b - area.t);
  y.ticks.forEach(t => {
    el("line", {x1: area.l, x2: area.r, y1: sy(t.v), y2: sy(t.v), stroke: "#eef1f4"}, s);
    label(s, area.l - GAP / 2, sy(t.v) + 4, t.text, "end", "tick-y");
  });
  // Long tick labels (many digits) label every second (third, ...) tick rather than overlap.
  const centres = x.ticks.map(t => sx(t.v));
  const apart = (i, j) => j >= x.ticks.length || centres[j] - centres[i] >= (xWidths[i] + xWidths[j]) / 2 + GAP;
  let every = 1;
  while (every < x.ticks.length && x.ticks.some((t, i) => i % every === 0 && !apart(i, i + every))) every += 1;
  x.ticks.forEach((t, i) => {
    el("line", {x1: sx(t.v), x2: sx(t.v), y1: area.b, y2: area.b + 4, stroke: "#9aa5b1"}, s);
    if (i % every) return;
    const node = label(s, sx(t.v), H - 6, t.text, "middle", t.time ? "tick-x tick-time" : "tick-x");
    if (t.time) node.setAttribute("data-t", String(t.v));
  });
  el("line", {x1: area.l, y1: area.b, x2: area.r, y2: area.b, stroke: "#9aa5b1"}, s);
  el("line", {x1: area.l, y1: area.t, x2: area.l, y2: area.b, stroke: "#9aa5b1"}, s);
  return {s: s, sx: sx, sy: sy, area: area};
}
function legend(container, entries) {
  const div = html("div", undefined, container, "legend");
  entries.forEach(([name, color]) => {
    const span = html("span", undefined, div);
    html("i", undefined, span).style.background = color;
    span.appendChild(document.createTextNode(name));
  });
}
function chart(container, title, query, axis) {
  const h = html("h3", title + " ", container);
  html("span", "athena/" + query, h, "query");
  html("p", axis, container, "axis");
  return container;
}

// Rows per time column: the smallest column of BUCKETS that keeps them under MAX_COLUMNS.
function bucketOf(rows) {
  const ts = rows.map(r => r.minute);
  const span = Math.max(...ts) - Math.min(...ts);
  return BUCKETS.find(b => span / b <= MAX_COLUMNS) || BUCKETS[BUCKETS.length - 1];
}
function byColumn(rows, size, add) {
  const columns = new Map();
  rows.forEach(r => {
    const t = Math.floor(r.minute / size) * size;
    columns.set(t, add(columns.get(t), r));
  });
  return [...columns].sort((a, b) => a[0] - b[0]);
}
// One line, broken where a column has no rows.
function line(f, points, size, color, cls) {
  let d = "";
  points.forEach(([t, v], i) => {
    d += (i && t - points[i - 1][0] <= size ? "L" : "M") + f.sx(t).toFixed(1) + " " + f.sy(v).toFixed(1);
  });
  el("path", {d: d, fill: "none", stroke: color, "stroke-width": 2, class: cls}, f.s);
  if (points.length <= MAX_COLUMNS) {
    points.forEach(([t, v]) => el("circle", {cx: f.sx(t), cy: f.sy(v), r: 2.5, fill: color, "data-t": t}, f.s));
  }
}
function timeAxis(columns, size) {
  return times(columns[0][0], columns[columns.length - 1][0] + size);
}

function positiveShare(container, rows) {
  const size = bucketOf(rows);
  const columns = byColumn(rows, size, (c, r) => ({readings: (c ? c.readings : 0) + r.readings,
                                                   positives: (c ? c.positives : 0) + r.positives}));
  const f = frame(container, timeAxis(columns, size), percent());
  line(f, columns.map(([t, c]) => [t + size / 2, c.positives / c.readings]), size, COLORS[0], "mark");
  const total = columns.reduce((a, [, c]) => a + c.readings, 0);
  const positives = columns.reduce((a, [, c]) => a + c.positives, 0);
  const name = rows[0].positive_label;
  legend(container, [[`${name}: ${number(positives, 1)} of ${number(total, 1)} readings`, COLORS[0]]]);
}

function natural(a, b) {
  return isFinite(a) && isFinite(b) ? Number(a) - Number(b) : String(a).localeCompare(String(b), "en", {numeric: true});
}
function labelShare(container, rows) {
  const totals = new Map();
  rows.forEach(r => totals.set(r.label, (totals.get(r.label) || 0) + r.readings));
  const biggest = [...totals.keys()].sort((a, b) => totals.get(b) - totals.get(a) || natural(a, b));
  const own = biggest.length > MAX_LABELS ? biggest.slice(0, MAX_LABELS - 1) : biggest;
  const rest = `other ${biggest.length - own.length} labels of this model`;
  const series = own.slice().sort(natural).concat(own.length < biggest.length ? [rest] : []);
  const color = new Map(series.map((name, i) => [name, COLORS[i % COLORS.length]]));
  const size = bucketOf(rows);
  const columns = byColumn(rows, size, (c, r) => {
    c = c || {readings: 0, by: new Map()};
    const name = own.includes(r.label) ? r.label : rest;
    c.readings += r.readings;
    c.by.set(name, (c.by.get(name) || 0) + r.readings);
    return c;
  });
  const f = frame(container, timeAxis(columns, size), percent());
  columns.forEach(([t, c]) => {
    let below = 0;
    const x0 = f.sx(t), x1 = f.sx(t + size);
    series.forEach(name => {
      const share = (c.by.get(name) || 0) / c.readings;
      if (!share) return;
      const top = f.sy(below + share);
      el("rect", {x: x0, width: Math.max(x1 - x0 - 0.5, 0.5), y: top, height: f.sy(below) - top,
                  fill: color.get(name), class: "mark", "data-label": name, "data-t": t}, f.s);
      below += share;
    });
  });
  const all = rows.reduce((a, r) => a + r.readings, 0);
  legend(container, series.map(name => {
    const n = name === rest ? biggest.slice(own.length).reduce((a, l) => a + totals.get(l), 0) : totals.get(name);
    return [`${name}: ${number(n, 1)} (${number(100 * n / all, 0.1)}%)`, color.get(name)];
  }));
  if (own.length < biggest.length) {
    html("p", "other labels: " + biggest.slice(own.length).sort(natural)
      .map(l => `${l} ${number(totals.get(l), 1)}`).join(", "), container, "axis");
  }
}

function histogram(container, bars, x) {
  const f = frame(container, x, counts(Math.max(...bars.map(b => b.n))));
  bars.forEach(b => {
    const x0 = f.sx(b.from), x1 = f.sx(b.to);
    el("rect", {x: x0 + 0.5, width: Math.max(x1 - x0 - 1, 0.5), y: f.sy(b.n), height: f.sy(0) - f.sy(b.n),
                fill: COLORS[0], class: "mark", "data-count": b.n}, f.s);
  });
}
function confidence(container, rows) {
  const bars = rows.map(r => ({from: Number(r.bucket_from), to: Number(r.bucket_from) + 0.05, n: r.predictions}));
  histogram(container, bars, linear(0, 1, (v, step) => number(v, step), 5));
}
function valueDistribution(container, rows) {
  const bars = rows.map(r => ({from: r.value_from, to: r.value_to, n: r.predictions}));
  histogram(container, bars, numbers(Math.min(...bars.map(b => b.from)), Math.max(...bars.map(b => b.to))));
}
function valueOverTime(container, rows) {
  const size = bucketOf(rows);
  const columns = byColumn(rows, size, (c, r) => c ? {readings: c.readings + r.readings,
    sum: c.sum + r.mean_value * r.readings, lo: Math.min(c.lo, r.min_value), hi: Math.max(c.hi, r.max_value)}
    : {readings: r.readings, sum: r.mean_value * r.readings, lo: r.min_value, hi: r.max_value});
  const y = numbers(Math.min(...columns.map(([, c]) => c.lo)), Math.max(...columns.map(([, c]) => c.hi)));
  const f = frame(container, timeAxis(columns, size), y);
  columns.forEach(([t, c]) => el("rect", {x: f.sx(t), width: Math.max(f.sx(t + size) - f.sx(t) - 0.5, 0.5),
    y: f.sy(c.hi), height: Math.max(f.sy(c.lo) - f.sy(c.hi), 1), fill: "#c6d4e6", class: "range"}, f.s));
  line(f, columns.map(([t, c]) => [t + size / 2, c.sum / c.readings]), size, COLORS[0], "mark");
  legend(container, [["mean", COLORS[0]], ["lowest to highest", "#c6d4e6"]]);
}
function lag(container, rows) {
  if (!rows.length) return empty(container);
  const size = bucketOf(rows);
  const columns = byColumn(rows, size, (c, r) => ({p50: Math.max(c ? c.p50 : 0, r.p50_lag_ms),
                                                   p99: Math.max(c ? c.p99 : 0, r.p99_lag_ms)}));
  const f = frame(container, timeAxis(columns, size), durations(Math.max(...columns.map(([, c]) => c.p99))));
  line(f, columns.map(([t, c]) => [t + size / 2, c.p50]), size, COLORS[0], "mark");
  line(f, columns.map(([t, c]) => [t + size / 2, c.p99]), size, COLORS[2], "mark");
  legend(container, [["p50", COLORS[0]], ["p99", COLORS[2]]]);
  drawn += 1;
}
function table(container, rows) {
  if (!rows.length) return empty(container);
  rows = rows.slice().sort((a, b) => b.last_reading_ms - a.last_reading_ms);
  const t = html("table", undefined, container);
  const head = t.insertRow();
  ["sensor", "model", "kind", "prediction", "probability", "last reading (UTC)"].forEach(h => html("th", h, head));
  rows.slice(0, MAX_TABLE_ROWS).forEach(r => {
    const tr = t.insertRow();
    tr.className = "mark";
    const prediction = r.kind === "regression" ? number(r.value, 0.001) : r.label;
    [r.sensor, r.model, r.kind, prediction, r.probability === null ? "-" : Number(r.probability).toFixed(3),
     new Date(r.last_reading_ms).toISOString().replace("T", " ").slice(0, 19)].forEach(v => {
      tr.insertCell().textContent = v;
    });
  });
  if (rows.length > MAX_TABLE_ROWS) {
    const more = `and ${rows.length - MAX_TABLE_ROWS} more (nrt query athena/latest_prediction_per_sensor.sql)`;
    html("p", more, container, "empty");
  }
  drawn += 1;
}

// Days (UTC midnights): ticks on whole days, at most seven, half a day of room each side.
function days(t0, t1) {
  const DAY = 1440 * MINUTE, lo = t0 - DAY / 2, hi = t1 + DAY / 2;
  const step = [1, 2, 7, 14, 28].map(d => d * DAY).find(s => (hi - lo) / s <= 7) || 28 * DAY;
  const ticks = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi; t += step) {
    ticks.push({v: t, text: new Date(t).toISOString().slice(5, 10), time: true});
  }
  return {lo: lo, hi: hi, ticks: ticks, f: v => v};
}
// Live quality per day: the kind's headline metric (its 95 % interval where it has one, as a
// whisker), and the value it had at training as a dashed line.
function qualityOverTime(container, rows, metric, trained) {
  const lows = rows.map(r => r[metric + "_low"]).filter(v => v !== null && v !== undefined);
  const highs = rows.map(r => r[metric + "_high"]).filter(v => v !== null && v !== undefined);
  const values = rows.map(r => r[metric]).filter(v => v !== null);
  const known = trained === null || trained === undefined ? [] : [trained];
  const all = values.concat(lows, highs, known);
  const y = metric !== "mae" ? percent() : numbers(Math.min(...all), Math.max(...all));
  const f = frame(container, days(rows[0].day, rows[rows.length - 1].day), y);
  rows.forEach(r => {
    if (r[metric + "_low"] === null || r[metric + "_low"] === undefined) return;
    el("line", {x1: f.sx(r.day), x2: f.sx(r.day), y1: f.sy(r[metric + "_low"]), y2: f.sy(r[metric + "_high"]),
                stroke: COLORS[0], "stroke-width": 1, class: "interval", "data-t": r.day}, f.s);
  });
  line(f, rows.filter(r => r[metric] !== null).map(r => [r.day, r[metric]]), 1440 * MINUTE, COLORS[0], "mark");
  if (known.length) {
    el("line", {x1: f.area.l, x2: f.area.r, y1: f.sy(trained), y2: f.sy(trained), stroke: COLORS[2],
                "stroke-dasharray": "5 4", "stroke-width": 1.5, class: "training"}, f.s);
  }
  const labelled = rows.reduce((a, r) => a + r.labelled, 0);
  legend(container, [[`${metric} live (${number(labelled, 1)} labelled readings)`, COLORS[0]]].concat(
    known.length ? [[`${metric} at training: ${number(trained, 0.0001)}`, COLORS[2]]] : []));
}
function worstDrift(container, d) {
  const t = html("table", undefined, container);
  const head = t.insertRow();
  ["feature", "PSI", "verdict", "readings", "moved most"].forEach(h => html("th", h, head));
  const tr = t.insertRow();
  tr.className = "mark";
  [d.feature, number(d.psi, 0.0001), d.verdict, number(d.readings, 1), d.moved].forEach(v => {
    tr.insertCell().textContent = v;
  });
}

// Each model's kind is the lake's kind column, carried by the rows of the queries of its kind.
const data = JSON.parse(document.getElementById("data").textContent);
const c = data.charts;
const of = (rows, model) => rows.filter(r => r.model === model);
const models = new Map();
c.label_rate.rows.forEach(r => models.set(r.model, r.kind));
c.value.rows.forEach(r => models.set(r.model, "regression"));
const LABELS = ["label_rate", "Share of each label", "y: share of the readings in each column; x: reading time (UTC)",
                labelShare];
const PLANS = {
  // A binary model whose lake rows hold no probabilities has no known positive label: its labels' shares.
  binary: model => !of(c.positive_share.rows, model).length ? [LABELS] : [
    ["positive_share", `Share given ${of(c.positive_share.rows, model)[0].positive_label}, the positive label`,
     "y: share of the readings in each column; x: reading time (UTC)", positiveShare],
    ["probability", `Confidence: probability of ${of(c.positive_share.rows, model)[0].positive_label}`,
     "y: predictions, log scale; x: probability", confidence]],
  multiclass: () => [
    LABELS,
    ["probability", "Confidence: probability of the predicted label", "y: predictions, log scale; x: probability",
     confidence]],
  regression: () => [
    ["value", "Predicted value over time", "y: predicted value; x: reading time (UTC)", valueOverTime],
    ["value_distribution", "Distribution of predicted values", "y: predictions, log scale; x: predicted value",
     valueDistribution]],
};
const grid = document.getElementById("models");
[...models.keys()].sort().forEach(model => {
  const kind = models.get(model);
  const section = html("section", undefined, grid);
  section.dataset.model = model;
  section.dataset.kind = kind;
  const h = html("h2", model + " ", section);
  html("span", kind, h, "kind");
  PLANS[kind](model).forEach(([id, title, axis, draw]) => {
    const rows = of(c[id].rows, model);
    const box = chart(html("div", undefined, section, "chart"), title, c[id].query, axis);
    box.dataset.chart = id;
    if (!rows.length) return empty(box);
    draw(box, rows);
    drawn += 1;
  });
  const metric = data.quality.headline[kind];
  const live = of(data.quality.rows, model);
  if (live.length) {
    const trained = (data.quality.training[model] || {})[metric];
    const box = chart(html("div", undefined, section, "chart"),
      `Live quality: ${metric} per day` + (trained === undefined ? "" : " beside training"), "model_quality.sql",
      "y: " + metric + " of the readings with an outcome, 95% interval where it has one; x: reading day (UTC)");
    box.dataset.chart = "quality";
    qualityOverTime(box, live, metric, trained);
    drawn += 1;
  }
  if (data.drift[model]) {
    const box = html("div", undefined, section, "chart");
    box.dataset.chart = "drift";
    const h = html("h3", "Most drifting feature, last 24 h (PSI: drift at 0.1, major at 0.25) ", box);
    html("span", "nrt drift " + model, h, "query");
    worstDrift(box, data.drift[model]);
    drawn += 1;
  }
});
if (!models.size) empty(grid, "No predictions yet.");
for (const id of ["latest", "lag"]) {
  const title = document.getElementById(id + "-title");
  title.textContent = c[id].title + " ";
  html("span", "athena/" + c[id].query, title, "query");
}
table(document.getElementById("latest"), c.latest.rows);
lag(document.getElementById("lag"), c.lag.rows);
document.body.dataset.drawn = String(drawn);
</script>
</body>
</html>
"""


def render_page(data: DashboardData) -> str:
    """The page, with its data inlined (and made safe inside a script element)."""
    payload = json.dumps(data).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    page = _PAGE.replace("__MAX_LABELS__", str(MAX_LABELS)).replace("__MAX_TABLE_ROWS__", str(MAX_TABLE_ROWS))
    return page.replace("__GENERATED__", html.escape(str(data["generated_at"]))).replace("__DATA__", payload)


def write_dashboard(lake: Path, target: Path, models: Path | None = None) -> Path:
    """`nrt dashboard`: query the lake and write the page; returns its path."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    partial.write_text(render_page(dashboard_data(lake, models=models)), encoding="utf-8")
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
