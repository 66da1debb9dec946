"""`nrt outcomes upload`: a CSV of wine outcomes (scikit-learn's load_wine labels) sent in
batches to a stand-in for POST /outcomes that answers as the outcomes workflow does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from nrt.ops.outcomes import BATCH, UploadError, batches, cell_value, read_rows, upload

LABELS = {"class_0", "class_1", "class_2"}


class StandIn:
    """Answers a batch as the outcomes workflow does: each outcome stored, a duplicate, a
    correction, or refused in its place (a label the model does not know)."""

    def __init__(self, fail_first: int = 0) -> None:
        self.stored: dict[str, Any] = {}
        self.bodies: list[dict[str, Any]] = []
        self.fail_first = fail_first

    def post(self, body: dict[str, Any]) -> tuple[int, Any]:
        self.bodies.append(body)
        if self.fail_first:
            self.fail_first -= 1
            return 503, {"status": 503, "error": "StoreUnavailable", "message": "send it again"}
        return 200, {
            "model": body["model"],
            "count": len(body["outcomes"]),
            "results": [self.one(o) for o in body["outcomes"]],
        }

    def one(self, outcome: dict[str, Any]) -> dict[str, Any]:
        event_id = outcome.get("event_id") or f"{outcome['sensor']}:{outcome['timestamp']}"
        if str(outcome["outcome"]) not in LABELS:
            return {
                "event_id": event_id,
                "status": 400,
                "error": "UnknownOutcome",
                "message": f"no label {outcome['outcome']}",
            }
        before = self.stored.get(event_id)
        self.stored[event_id] = outcome["outcome"]
        return {
            "event_id": event_id,
            "duplicate": before == outcome["outcome"],
            "corrected": before not in (None, outcome["outcome"]),
        }


@pytest.fixture
def wine_csv(tmp_path: Path) -> Path:
    """One row a wine of load_wine, named by sensor and timestamp, labelled with its class."""
    from sklearn.datasets import load_wine

    wine = load_wine()
    lines = ["model,sensor,timestamp,outcome"]
    lines += [f"wine,cellar-{i % 7},{1_767_225_600_000 + i},{wine.target_names[t]}" for i, t in enumerate(wine.target)]
    path = tmp_path / "outcomes.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_given_the_wine_outcomes_when_uploaded_then_every_row_is_stored_in_batches_of_at_most_100(wine_csv):
    api = StandIn()

    summary = upload(wine_csv, api.post, log=lambda _: None)

    assert (summary.rows, summary.stored, summary.refused) == (178, 178, [])
    assert [len(b["outcomes"]) for b in api.bodies] == [100, 78]
    assert api.bodies[0]["outcomes"][0] == {"outcome": "class_0", "sensor": "cellar-0", "timestamp": 1_767_225_600_000}


def test_given_a_file_uploaded_twice_when_sent_again_then_every_row_answers_already_there_and_nothing_is_refused(
    wine_csv,
):
    api = StandIn()
    upload(wine_csv, api.post, log=lambda _: None)

    again = upload(wine_csv, api.post, log=lambda _: None)

    assert (again.stored, again.duplicates, again.refused) == (0, 178, [])


def test_given_bad_rows_when_uploaded_then_each_is_named_by_its_line_and_the_others_are_stored(tmp_path):
    path = tmp_path / "mixed.csv"
    path.write_text(
        "model,event_id,sensor,timestamp,outcome\n"
        "wine,w-1,,,class_1\n"  # line 2: stored by event_id
        "wine,,cellar-1,soon,class_2\n"  # line 3: no event_id and a timestamp that is no number
        "wine,w-3,,,class_7\n"  # line 4: a label the model does not know
        "\n"
        "wine,w-5,,,\n"  # line 6: no outcome
        "wine,,cellar-2,1767225600000,class_0\n"  # line 7: stored by sensor and timestamp
    )
    api = StandIn()

    summary = upload(path, api.post, log=lambda _: None)

    assert summary.stored == 2
    assert [(r.line, r.reason.split(":")[0]) for r in summary.refused] == [
        (3, "needs event_id, or sensor and timestamp (epoch milliseconds)"),
        (4, "400 UnknownOutcome"),
        (6, "no outcome"),
    ]
    assert "class_7" in summary.refused[1].reason


def test_given_a_store_that_answers_503_when_uploaded_then_the_batch_is_sent_again_after_a_wait(wine_csv):
    api = StandIn(fail_first=2)
    waits: list[float] = []

    summary = upload(wine_csv, api.post, log=lambda _: None, wait=waits.append)

    assert (summary.stored, summary.refused) == (178, [])
    assert waits == [1.0, 2.0]


def test_given_an_api_that_never_answers_when_uploaded_then_every_row_is_refused_with_the_reason(wine_csv):
    summary = upload(wine_csv, lambda body: (0, "no answer (refused)"), log=lambda _: None, wait=lambda _: None)

    assert len(summary.refused) == 178
    assert summary.refused[0].line == 2 and summary.refused[0].reason == "0 no answer (refused)"


def test_given_a_header_without_a_way_to_name_the_reading_then_nothing_is_sent_and_the_error_names_it(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("model,sensor,outcome\nwine,cellar-1,class_0\n")

    with pytest.raises(
        UploadError, match=r"no event_id \(or sensor and timestamp\); its columns are model, sensor, outcome"
    ):
        list(read_rows(path))


@pytest.mark.parametrize(
    ("cell", "sent"),
    [("1", 1), ("151.5", 151.5), ("-2e3", -2000.0), ("007", "007"), ("yes", "yes"), ("true", "true"), ("1.0", 1.0)],
)
def test_a_cell_that_is_a_json_number_is_sent_as_a_number_and_any_other_as_text(cell, sent):
    assert cell_value(cell) == sent and type(cell_value(cell)) is type(sent)


def test_batches_change_with_the_model_and_stay_under_the_body_limit(tmp_path):
    path = tmp_path / "two.csv"
    big = "x" * 700  # over the API's 256: the guard, not the contract, is what is tested
    rows = [f"{'a' if i < 3 else 'b'},e-{i},{big}" for i in range(400)]
    path.write_text("model,event_id,outcome\n" + "\n".join(rows) + "\n")

    sizes = [(b[0].model, len(b)) for b in batches(r for r in read_rows(path) if not hasattr(r, "reason"))]

    assert sizes[0] == ("a", 3)
    assert all(n <= BATCH for _, n in sizes) and sum(n for _, n in sizes) == 400
    assert max(n for _, n in sizes) < BATCH  # the body limit binds before the count


def test_the_command_parses_as_the_readme_shows_it():
    from nrt import cli

    args = cli.build_parser().parse_args(["outcomes", "upload", "outcomes.csv", "--batch", "50"])

    assert (args.file, args.batch, args.func.__name__) == ("outcomes.csv", 50, "cmd_outcomes")
