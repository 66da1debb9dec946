"""producer/producer.py: readings, statistics and flags."""

from __future__ import annotations

import json
import random

import pytest

from producer import producer
from tests.helpers.gateway import make, post


def test_readings_are_in_the_demo_format_and_pass_the_contract():
    rng = random.Random(1)
    api, _ = make()
    for i in range(200):
        reading = producer.make_reading(rng, f"sensor-{i % 3}", 1_700_000_000_000 + i, "failure")
        assert post(api, "/predictions", reading).json() == reading  # passed on to the workflow unchanged
        assert all(0 <= v <= 99 for v in reading["data"])


def test_percentiles_use_nearest_rank():
    values = [float(v) for v in range(1, 101)]
    assert producer.percentile(values, 50) == 50
    assert producer.percentile(values, 99) == 99
    assert producer.percentile(values, 100) == 100
    assert producer.percentile([], 50) == 0


def test_stats_count_readings_by_status_and_summarise_latency():
    stats = producer.Stats(started=0.0)
    for seconds in (0.010, 0.020, 0.030):
        stats.record(200, seconds, 1)
    stats.record(429, 0.5, 50)
    stats.retried()

    summary = stats.summary(now=2.0)

    assert summary["readings"] == 53
    assert summary["requests"] == 4
    assert summary["retries"] == 1
    assert summary["by_status"] == {200: 3, 429: 1}
    assert summary["readings_per_s"] == 26.5
    assert summary["p50_ms"] == 20.0
    assert summary["p99_ms"] == 500.0


@pytest.mark.parametrize(
    "flags", [["--batch", "101"], ["--batch", "-1"], ["--sensors", "0"], ["--repeat", "1"], ["--repeat", "-0.1"]]
)
def test_bad_flags_are_refused(flags):
    with pytest.raises(SystemExit):
        producer.plan_from_args(producer.build_parser().parse_args(flags))


@pytest.mark.parametrize("share", [0.0, 0.5, 0.8])
def test_given_repeat_share_when_readings_are_made_then_that_share_repeats_recent_data(share):
    args = producer.build_parser().parse_args(["--count", "4000", "--repeat", str(share), "--seed", "3"])
    plan = producer.plan_from_args(args)
    bodies = producer.Bodies(plan, producer.Stats())

    sent = [json.loads(bodies.body(i)[0])["data"] for i in range(4000)]

    seen: list[list[int]] = []
    repeats = 0
    for data in sent:
        repeats += data in seen[-producer.REPEAT_POOL :]
        if data not in seen:
            seen.append(data)
    # Each reading repeats a recent one with probability `share` (a fresh one may repeat by chance:
    # the demo's readings are three numbers 0-99).
    assert share - 0.03 <= repeats / len(sent) <= share + 0.03
    assert plan.repeat == share


def test_flags_build_the_plan():
    args = producer.build_parser().parse_args(["--url", "http://h:1", "--count", "7", "--batch", "5", "--async"])
    plan = producer.plan_from_args(args)
    assert (plan.url, plan.count, plan.batch, plan.path) == ("http://h:1", 7, 5, "/events")
    duration = producer.plan_from_args(producer.build_parser().parse_args(["--duration", "3"]))
    assert (duration.count, duration.duration) == (None, 3.0)


def test_the_producers_percentile_is_the_stacks():
    from nrt.stats import percentile

    for values in ([], [1.0], [float(v) for v in range(1, 101)], [0.5, 2.0, 9.0]):
        for q in (0, 1, 50, 95, 99, 100):
            assert producer.percentile(values, q) == percentile(values, q)


@pytest.mark.parametrize(("header", "seconds"), [("1", 1.0), ("2.5", 2.5), ("-3", 0.0), ("soon", None), (None, None)])
def test_a_retry_after_header_is_read_as_seconds(header, seconds):
    assert producer.retry_after(header) == seconds


def test_a_retry_waits_at_least_what_retry_after_asks_and_no_more_than_its_cap():
    assert all(producer.backoff(0, 1.0) >= 1.0 for _ in range(50))
    assert all(producer.backoff(0) <= 0.05 for _ in range(50))  # first retry: 50 ms at most without a header
    assert producer.backoff(0, 3600.0) == 30.0


def test_the_summary_gives_one_example_message_per_status_that_failed():
    stats = producer.Stats(started=0.0)
    stats.record(200, 0.01, 1, example="")
    stats.record(400, 0.01, 1, example="feature 'channel': \"mall\" is not a known category (app, store, web)")
    stats.record(400, 0.01, 1, example="another message, not shown")
    stats.record(599, 0.01, 1, example="ConnectionRefusedError: [Errno 111] Connection refused")

    summary = stats.summary(now=1.0)
    text = producer.format_summary(summary)

    assert summary["examples"] == {
        400: "feature 'channel': \"mall\" is not a known category (app, store, web)",
        599: "ConnectionRefusedError: [Errno 111] Connection refused",
    }
    assert "400, e.g.: feature 'channel'" in text
    assert "599 (no HTTP answer), e.g.: ConnectionRefusedError" in text


def test_an_api_error_s_message_is_its_example_cut_to_a_line():
    assert producer.message_of(b'{"status": 404, "error": "ModelNotFound", "message": "no model named x"}') == (
        "no model named x"
    )
    assert producer.message_of(b"<html>bad gateway</html>") == "<html>bad gateway</html>"
    assert len(producer.message_of(b'{"message": "' + b"x" * 500 + b'"}')) == 160


def test_a_request_with_no_http_answer_is_counted_as_599_with_the_reason():
    import socket

    with socket.create_server(("127.0.0.1", 0)) as closed:
        port = closed.getsockname()[1]
    plan = producer.Plan(url=f"http://127.0.0.1:{port}", rate=0, count=2, concurrency=1, max_retries=0)

    summary = producer.run(plan).summary()

    assert summary["by_status"] == {599: 2}
    assert "ConnectionRefusedError" in summary["examples"][599]


@pytest.fixture
def diabetes_api(tmp_path):
    """A stand-in API on 127.0.0.1 that checks each reading against the signature of a model of
    load_diabetes (the real training.inference checks) and answers as the API does: 200, or 400
    with the message and the feature at fault."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from sklearn.datasets import load_diabetes

    from training.inference import InvalidInput, Signature
    from training.train import features_of

    frame = load_diabetes(as_frame=True, scaled=False).frame.head(30)
    signature = Signature("regression", features_of(frame.drop(columns=["target"])), named=True)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            reading = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            try:
                signature.row(reading, 0)
                status, body = 200, {"prediction": 1.0}
            except InvalidInput as error:
                status, body = 400, {"error": "InvalidReading", **error.answer()}
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    path = tmp_path / "diabetes.csv"
    frame.to_csv(path, index=False)
    yield f"http://127.0.0.1:{server.server_address[1]}", path
    server.shutdown()
    server.server_close()


def test_given_the_training_csv_with_its_label_when_produced_then_a_hint_names_the_drop_to_add(diabetes_api, capsys):
    url, csv = diabetes_api

    code = producer.main(["--url", url, "--csv", str(csv), "--count", "3", "--rate", "0", "--concurrency", "1"])

    assert code == 1
    out = capsys.readouterr().out
    assert "400, e.g.: instances[0]: unknown feature 'target'" in out
    assert "hint: the model takes no 'target', a column of the CSV (its label, a date?): " in out
    assert out.rstrip().endswith("send the rows without it with --drop target")


def test_given_the_label_dropped_when_produced_then_every_reading_is_scored_and_no_hint_is_given(diabetes_api, capsys):
    url, csv = diabetes_api

    code = producer.main(["--url", url, "--csv", str(csv), "--drop", "target", "--count", "3", "--rate", "0"])

    assert code == 0
    assert "hint:" not in capsys.readouterr().out


def test_a_hint_keeps_the_columns_already_dropped_and_ignores_features_not_in_the_csv():
    rows = [{"age": 50, "day": "2026-12-05"}]

    assert producer.drop_hint(["day"], rows, "target").endswith("--drop target,day")  # type: ignore[union-attr]
    assert producer.drop_hint(["coupon"], rows, "") is None
