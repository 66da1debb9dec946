"""`nrt dashboard`: the page loads in a real headless browser (Debian's chromium), offline,
with no console errors, and draws its charts."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from nrt.lake.dashboard import CHARTS, dashboard_data, render_page, write_dashboard

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


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


def test_the_browser_is_installed_by_the_project():
    assert Path(CHROMIUM).exists(), "make test installs Debian's chromium; see the Makefile"


def test_given_a_lake_when_the_dashboard_is_opened_then_it_draws_every_chart_without_errors(lake, tmp_path):
    page = write_dashboard(lake, tmp_path / "dashboard.html")

    dom, log = load_in_browser(page)

    assert 'data-drawn="6"' in dom
    assert "data-error" not in dom
    assert "CONSOLE" not in log, [line for line in log.splitlines() if "CONSOLE" in line]
    # label rates: candidate 1, failure 0 and 1, penguins Adelie; mean value and deciles: price; lag: p50, p99
    assert len(re.findall(r'<path [^>]*class="mark"', dom)) == 4 + 1 + 1 + 2
    assert len(re.findall(r'<rect [^>]*class="mark"', dom)) == 10 * 3  # ten buckets, three classifiers
    assert dom.count('<tr class="mark">') == 6  # each sensor and model's latest prediction
    assert "<td>regression</td><td>700.000</td>" in dom and "<td>multiclass</td><td>Adelie</td>" in dom
    for title, query in CHARTS.values():
        assert title in dom and f"athena/{query}" in dom


def test_given_an_empty_lake_when_opened_then_each_chart_says_so_without_errors(tmp_path):
    page = write_dashboard(tmp_path / "lake", tmp_path / "dashboard.html")

    dom, log = load_in_browser(page)

    assert 'data-drawn="0"' in dom
    assert dom.count('<p class="empty">No rows yet.</p>') == len(CHARTS)
    assert "CONSOLE" not in log and "data-error" not in dom


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


def test_given_hundreds_of_sensors_and_many_labels_the_page_stays_readable(tmp_path):
    from nrt.lake.parquet import table_spec, write_rows
    from tests.helpers.lakes import NOW, lake_row

    rows = [lake_row(f"robot-{i:03d}", i % 50, "users", f"user_{i % 12}", 0.7, kind="multiclass") for i in range(300)]
    write_rows(tmp_path, table_spec(), rows, NOW, "many.parquet")
    page = write_dashboard(tmp_path, tmp_path / "dashboard.html")

    dom, log = load_in_browser(page)

    assert "data-error" not in dom and "CONSOLE" not in log
    label_lines = re.findall(r'<path [^>]*class="mark"', dom.split('id="probability"')[0])
    assert len(label_lines) == 8 + 1  # the eight biggest labels, and one line for the other four
    assert "other (4)" in dom
    assert dom.count('<tr class="mark">') == 25
    assert "and 275 more" in dom
