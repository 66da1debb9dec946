"""`nrt dashboard`: the page loads in a real headless browser (Debian's chromium), offline,
with no console errors, and draws each model's charts for its kind. What is asserted is what the
browser rendered: the DOM after the page's scripts ran, and the boxes the browser laid out for
every axis label (measured by a script the test adds after the page's own)."""

from __future__ import annotations

import datetime
import html
import itertools
import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

from nrt.lake.dashboard import CHARTS, MAX_LABELS, dashboard_data, render_page, write_dashboard
from nrt.lake.parquet import table_spec, write_rows
from tests.helpers.kind_lakes import DIGITS, Scored, no_probabilities, score_three_models, write_three_kinds_lake
from tests.helpers.lakes import MS, NOW, lake_row
from tests.helpers.outcome_lakes import three_labelled_models, write_labelled_lake, write_model_folder

Measured = tuple[str, str, list[dict[str, Any]]]  # the DOM, the log, the labels' boxes
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

# Run after the page's scripts: every SVG text's box as the browser laid it out, in the SVG's
# own units, with the chart and the model it belongs to.
MEASURE = """<script>
const boxes = [...document.querySelectorAll("svg")].flatMap(svg => {
  const [, , w, h] = svg.getAttribute("viewBox").split(" ").map(Number);
  const chart = svg.closest("[data-chart]"), model = svg.closest("[data-model]");
  return [...svg.querySelectorAll("text")].map(t => {
    const b = t.getBBox();
    return {text: t.textContent, cls: t.getAttribute("class"), t: t.getAttribute("data-t"), x: b.x, y: b.y,
            w: b.width, h: b.height, W: w, H: h, chart: chart ? chart.dataset.chart : null,
            model: model ? model.dataset.model : svg.parentElement.id};
  });
});
document.body.dataset.measured = JSON.stringify(boxes);
</script>
"""


def load_in_browser(page: Path) -> tuple[str, str]:
    """The DOM after the page's scripts ran, and the browser's log."""
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run(
            [
                CHROMIUM,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--user-data-dir={profile}",
                "--enable-logging=stderr",
                "--v=0",
                "--virtual-time-budget=3000",
                "--dump-dom",
                page.as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout, done.stderr


def measured(page: Path) -> Measured:
    """Load a copy of the page with the measuring script after the page's own."""
    copy = page.with_name("measured.html")
    copy.write_text(page.read_text().replace("</body>", MEASURE + "</body>"))
    dom, log = load_in_browser(copy)
    found = re.search(r'data-measured="([^"]*)"', dom)
    assert found, "the measuring script did not run"
    return dom, log, json.loads(html.unescape(found.group(1)))


def section(dom: str, model: str) -> str:
    """A model's section of the rendered page."""
    start = dom.index(f'data-model="{model}"')
    end = dom.find("<section", start)
    return dom[start : end if end > 0 else len(dom)]


def assert_nothing_clipped(boxes: list[dict[str, Any]]) -> None:
    """Every label inside its drawing, and no two tick labels of one axis overlapping."""
    for b in boxes:
        assert b["w"] > 0 and b["text"].strip(), b
        assert b["x"] >= 0 and b["x"] + b["w"] <= b["W"], b
        assert b["y"] >= 0 and b["y"] + b["h"] <= b["H"], b
    axes: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for b in boxes:
        axes.setdefault((b["model"], b["chart"], b["cls"]), []).append(b)
    for ticks in axes.values():
        ticks.sort(key=lambda b: (b["x"], b["y"]))
        for a, b in itertools.pairwise(ticks):
            apart = a["x"] + a["w"] <= b["x"] or a["y"] + a["h"] <= b["y"] or b["y"] + b["h"] <= a["y"]
            assert apart, (a, b)


@pytest.fixture(scope="module")
def scored() -> list[Scored]:
    return score_three_models()


@pytest.fixture(scope="module")
def three_kinds(scored: list[Scored], tmp_path_factory: pytest.TempPathFactory) -> Measured:
    """The page of a binary model, a 10-label model and a regressor, loaded and measured."""
    folder = tmp_path_factory.mktemp("three-kinds")
    page = write_dashboard(write_three_kinds_lake(folder / "lake", scored), folder / "dashboard.html")
    return measured(page)


def test_the_browser_is_installed_by_the_project():
    assert Path(CHROMIUM).exists(), "make test installs Debian's chromium; see the Makefile"


def test_given_three_models_of_different_kinds_then_each_has_the_charts_of_its_kind_without_errors(three_kinds):
    dom, log, _ = three_kinds

    assert "data-error" not in dom
    assert "CONSOLE" not in log, [line for line in log.splitlines() if "CONSOLE" in line]
    assert re.findall(r'data-model="(\w+)" data-kind="(\w+)"', dom) == [
        ("cancer", "binary"),
        ("digits", "multiclass"),
        ("progression", "regression"),
    ]
    assert 'data-drawn="8"' in dom  # two charts per model, the table and the lag
    charts = {m: re.findall(r'data-chart="(\w+)"', section(dom, m)) for m in ("cancer", "digits", "progression")}
    assert charts == {
        "cancer": ["positive_share", "probability"],
        "digits": ["label_rate", "probability"],
        "progression": ["value", "value_distribution"],
    }


def test_a_binary_models_chart_is_the_share_of_its_positive_label(three_kinds, scored):
    dom, _, _ = three_kinds
    cancer = section(dom, "cancer")
    predicted = [a["prediction"] for a in scored[0].answers]

    assert "Share given malignant, the positive label" in cancer
    assert f"malignant: {predicted.count('malignant')} of {len(predicted)} readings" in cancer
    assert "benign" not in cancer  # its share is the rest: one line, not two
    assert len(re.findall(r'<path [^>]*class="mark"', cancer)) == 1


def test_every_label_of_the_ten_label_model_is_drawn_and_listed_with_its_count(three_kinds, scored):
    dom, _, _ = three_kinds
    digits = section(dom, "digits")
    counts = {d: [str(a["prediction"]) for a in scored[1].answers].count(d) for d in DIGITS}

    assert sorted(set(re.findall(r'data-label="([^"]+)"', digits)), key=int) == DIGITS
    for digit, n in counts.items():
        assert re.search(rf"</i>{digit}: {n} \(\d+\.\d%\)</span>", digits), digit
    assert "other" not in digits
    assert len(set(re.findall(r'<i style="background: ([^;]+);', digits))) == 10  # a colour each


def test_time_axes_are_times_placed_in_proportion(three_kinds):
    _, _, boxes = three_kinds
    by_chart: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for b in boxes:
        if b["t"] is not None:
            by_chart.setdefault((b["model"], b["chart"]), []).append(b)

    assert set(by_chart) == {
        ("cancer", "positive_share"),
        ("digits", "label_rate"),
        ("progression", "value"),
        ("lag", None),
    }
    for ticks in by_chart.values():
        times = [int(b["t"]) for b in ticks]
        assert len(ticks) >= 3 and times == sorted(times)
        for b, t in zip(ticks, times, strict=True):
            assert b["text"] == datetime.datetime.fromtimestamp(t / 1000, datetime.UTC).strftime("%H:%M")
        centres = [b["x"] + b["w"] / 2 for b in ticks]
        per_ms = (centres[-1] - centres[0]) / (times[-1] - times[0])
        for centre, t in zip(centres, times, strict=True):
            assert centre == pytest.approx(centres[0] + (t - times[0]) * per_ms, abs=0.5)


def test_no_axis_label_is_clipped_and_counts_are_on_a_log_scale(three_kinds):
    dom, _, boxes = three_kinds

    assert_nothing_clipped(boxes)
    confidence = [b["text"] for b in boxes if b["model"] == "cancer" and b["chart"] == "probability"]
    assert {"0", "1", "10", "100"} <= set(confidence)
    one = [float(h) for h in re.findall(r'<rect [^>]*height="([\d.]+)"[^>]*data-count="1"', dom)]
    assert one and min(one) > 10  # a bucket of one prediction is a bar, not a hairline


def test_given_lags_of_days_and_values_in_millions_then_axes_read_in_days_and_with_separators(tmp_path):
    late = 450_000_000  # ms: 5.2 days
    rows = [
        lake_row(f"s-{i}", i * 60 - late // 1000, "price", None, None, kind="regression", value=1_250_000.0 + i * 9_500)
        for i in range(30)
    ]
    for row in rows:
        row["ingested_at"] = row["timestamp"] + late
    write_rows(tmp_path / "lake", table_spec(), rows, NOW, "late.parquet")
    page = write_dashboard(tmp_path / "lake", tmp_path / "dashboard.html")

    dom, log, boxes = measured(page)

    assert "data-error" not in dom and "CONSOLE" not in log
    assert_nothing_clipped(boxes)
    lag = [b["text"] for b in boxes if b["model"] == "lag" and b["cls"] == "tick-y"]
    assert lag and all(re.fullmatch(r"\d+ d", t) for t in lag), lag
    values = [b["text"] for b in boxes if b["chart"] == "value" and b["cls"] == "tick-y"]
    assert values and all(re.fullmatch(r"\d,\d{3},\d{3}", t) for t in values), values


def test_given_three_days_of_readings_with_long_values_then_ticks_are_dates_and_labels_never_overlap(tmp_path):
    hours = 72
    rows = [
        lake_row(f"s-{i}", (i - hours) * 3600, "fine", None, None, kind="regression", value=1_000_000 + i * 0.00003)
        for i in range(hours)
    ]
    write_rows(tmp_path / "lake", table_spec(), rows, NOW, "days.parquet")
    page = write_dashboard(tmp_path / "lake", tmp_path / "dashboard.html")

    dom, log, boxes = measured(page)

    assert "data-error" not in dom and "CONSOLE" not in log
    assert_nothing_clipped(boxes)
    ticks = [b for b in boxes if b["chart"] == "value" and b["t"] is not None]
    assert len(ticks) >= 3
    for b in ticks:
        moment = datetime.datetime.fromtimestamp(int(b["t"]) / 1000, datetime.UTC)
        assert b["text"] in (moment.strftime("%m-%d %H:%M"), moment.strftime("%m-%d")), b
    values = [b["text"] for b in boxes if b["chart"] == "value_distribution" and b["cls"] == "tick-x"]
    assert len(values) >= 2 and all(re.fullmatch(r"1,000,000\.\d+", v) for v in values), values


def test_given_many_labels_then_each_model_keeps_its_own_and_lists_every_one(tmp_path):
    labels = [f"user_{i}" for i in range(15)]
    rows = [lake_row(f"robot-{i:03d}", i % 50, "users", labels[i % 15], 0.7, kind="multiclass") for i in range(300)]
    rows += [lake_row(f"robot-{i:03d}", i, "penguins", "Adelie", 0.8, kind="multiclass") for i in range(3)]
    write_rows(tmp_path, table_spec(), rows, NOW, "many.parquet")
    page = write_dashboard(tmp_path, tmp_path / "dashboard.html")

    dom, log, boxes = measured(page)

    assert "data-error" not in dom and "CONSOLE" not in log
    users, penguins = section(dom, "users"), section(dom, "penguins")
    drawn = set(re.findall(r'data-label="([^"]+)"', users))
    assert len(drawn) == MAX_LABELS and "other 4 labels of this model" in drawn
    legend = re.findall(r"</i>([^:<]+):", users)
    assert legend == [f"user_{i}" for i in range(11)] + ["other 4 labels of this model"]  # in natural order
    assert "other labels: " in users and all(f"{label}: 20 " in users or f"{label} 20" in users for label in labels)
    assert set(re.findall(r'data-label="([^"]+)"', penguins)) == {"Adelie"}  # no label of another model
    assert dom.count('<tr class="mark">') == 25
    assert "and 278 more" in dom
    assert_nothing_clipped(boxes)


def test_given_a_binary_model_without_probabilities_then_its_labels_shares_are_drawn(tmp_path):
    page = write_dashboard(write_three_kinds_lake(tmp_path / "lake", [no_probabilities()]), tmp_path / "page.html")

    dom, log, boxes = measured(page)

    assert "data-error" not in dom and "CONSOLE" not in log
    svm = section(dom, "svm")
    assert 'data-kind="binary"' in svm and re.findall(r'data-chart="(\w+)"', svm) == ["label_rate"]
    assert set(re.findall(r'data-label="([^"]+)"', svm)) == {"yes", "no"}
    assert "</i>no: 4 (66.7%)</span>" in svm and "</i>yes: 2 (33.3%)</span>" in svm
    assert_nothing_clipped(boxes)


def test_given_an_empty_lake_when_opened_then_it_says_so_without_errors(tmp_path):
    page = write_dashboard(tmp_path / "lake", tmp_path / "dashboard.html")

    dom, log = load_in_browser(page)

    assert 'data-drawn="0"' in dom
    assert dom.count('<p class="empty">No predictions yet.</p>') == 1
    assert dom.count('<p class="empty">No rows yet.</p>') == 2  # the table and the lag
    assert "CONSOLE" not in log and "data-error" not in dom


def test_given_the_small_lake_then_every_kind_and_legacy_rows_are_drawn(lake, tmp_path):
    page = write_dashboard(lake, tmp_path / "dashboard.html")

    dom, log = load_in_browser(page)

    assert "data-error" not in dom and "CONSOLE" not in log
    assert re.findall(r'data-model="(\w+)" data-kind="(\w+)"', dom) == [
        ("candidate", "binary"),
        ("failure", "binary"),
        ("penguins", "multiclass"),
        ("price", "regression"),
    ]
    assert 'data-drawn="10"' in dom
    assert dom.count('<tr class="mark">') == 6  # each sensor and model's latest prediction
    assert "<td>regression</td><td>700.000</td>" in dom and "<td>multiclass</td><td>Adelie</td>" in dom
    for query in {q for _, q in CHARTS.values()}:
        assert f"athena/{query}" in dom


def test_the_page_needs_no_network():
    page = render_page(
        {"generated_at": "now", "charts": {k: {"title": t, "query": q, "rows": []} for k, (t, q) in CHARTS.items()}}
    )

    assert not re.search(r"(src|href)=\"(https?:)?//", page)
    assert "<link" not in page


def test_data_cannot_close_the_script_element(lake):
    data = dashboard_data(lake)
    data["charts"]["latest"]["rows"][0]["sensor"] = "</script><script>alert(1)</script>"

    page = render_page(data)

    assert page.count("</script>") == 3  # the error hook, the data and the drawing code


@pytest.mark.parametrize("chart", list(CHARTS))
def test_each_chart_is_drawn_from_its_athena_query(lake, chart):
    assert dashboard_data(lake)["charts"][chart]["rows"], chart


def test_times_reach_the_page_as_epoch_milliseconds(lake):
    rows = dashboard_data(lake)["charts"]["positive_share"]["rows"]

    assert [r["minute"] for r in rows] == [MS // 60_000 * 60_000] * 2


@pytest.fixture(scope="module")
def labelled_page(tmp_path_factory: pytest.TempPathFactory) -> tuple[Measured, dict[str, Any], Path]:
    """Three models of different kinds with outcomes in the lake, each trained folder holding its
    signature, training profile and held-out metrics; the page loaded and measured."""
    folder = tmp_path_factory.mktemp("labelled")
    models = three_labelled_models()
    write_labelled_lake(folder / "lake", models)
    trained = {"cancer": {"f1": 0.95}, "wine": {"macro_f1": 0.9}, "progression": {"mae": 40.0}}
    for one in models:
        write_model_folder(folder / "models", one, trained[one.model])
    page = write_dashboard(folder / "lake", folder / "dashboard.html", folder / "models")
    return measured(page), dict(dashboard_data(folder / "lake", models=folder / "models")), folder


def test_given_outcomes_then_each_model_has_its_live_quality_beside_training_and_its_worst_drift(labelled_page):
    (dom, log, boxes), data, _ = labelled_page

    assert "data-error" not in dom and "CONSOLE" not in log
    for model, metric in (("cancer", "f1"), ("wine", "macro_f1"), ("progression", "mae")):
        part = section(dom, model)
        assert re.findall(r'data-chart="(\w+)"', part)[-2:] == ["quality", "drift"], model
        assert f"Live quality: {metric} per day beside training" in part
        assert part.count('class="training"') == 1  # the training value's dashed line
        worst = data["drift"][model]
        assert f"<td>{worst['feature']}</td>" in part and f"<td>{worst['verdict']}</td>" in part
    assert "f1 at training: 0.9500" in section(dom, "cancer")
    assert section(dom, "progression").count('class="interval"') == 1  # MAE has a 95 % interval per day
    assert section(dom, "cancer").count('class="interval"') == 0  # F1 has none
    assert_nothing_clipped([b for b in boxes if b["chart"] == "quality"])


def test_the_worst_drift_shown_is_the_highest_psi_nrt_drift_measures(labelled_page):
    from nrt.lake.athena import LocalAthena
    from nrt.lake.drift import measure, trained

    _, data, folder = labelled_page
    athena = LocalAthena(folder / "lake")

    for model in ("cancer", "wine", "progression"):
        found = trained(folder / "models" / model)
        assert found is not None
        drifts = measure(athena, model, *found, 24.0)
        top = max(drifts, key=lambda d: d.psi)
        assert (data["drift"][model]["feature"], data["drift"][model]["psi"]) == (top.feature, top.psi)
