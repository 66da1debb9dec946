"""The stream worker on a full disk (nrt/lake/stream.py, parquet.py, worker.py, health.py): it
holds what it read and backs off, says so once and again when it can write, leaves no half
file behind, and nothing it reports or logs can stop it. The ENOSPC here is the kernel's own:
/dev/full refuses every write with it."""

from __future__ import annotations

import contextlib
import datetime
import errno
import io
import sys
from pathlib import Path
from typing import Any

import pytest

from nrt.health import write_stream_status
from nrt.lake import stream
from nrt.lake.parquet import table_spec, write_rows
from nrt.state.store import Store

ARRIVAL = datetime.datetime(2026, 11, 22, 7, 5, 9, tzinfo=datetime.UTC)


def row(sensor: str) -> dict[str, Any]:
    base: dict[str, Any] = {c: None for c in table_spec().column_names}
    return {**base, "sensor": sensor, "timestamp": 1, "features": [1.0], "dedup_key": sensor}


def test_a_parquet_object_the_disk_cannot_take_raises_enospc_and_leaves_no_half_file(tmp_path: Path) -> None:
    spec = table_spec()
    folder = tmp_path / spec.partition_path(ARRIVAL)
    folder.mkdir(parents=True)
    (folder / ".p.parquet.partial").symlink_to("/dev/full")  # where the object is written first

    with pytest.raises(OSError) as raised:
        write_rows(tmp_path, spec, [row("s-1")], ARRIVAL, "p.parquet")

    assert raised.value.errno == errno.ENOSPC
    assert list(folder.iterdir()) == []


def test_a_status_report_the_disk_cannot_take_is_skipped_and_says_so(tmp_path: Path) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("in the way\n")

    assert write_stream_status(blocked / "stream-status.json", 3, 1_000, 42, "OSError: No space left") is False
    assert write_stream_status(tmp_path / "stream-status.json", 3, 1_000, 42) is True


def test_a_log_line_the_disk_cannot_take_is_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    full = open("/dev/full", "w")  # noqa: SIM115
    monkeypatch.setattr(sys, "stderr", full)
    stream.say("stream worker: cannot write the lake")  # no OSError: the worker goes on
    with contextlib.suppress(OSError):
        full.close()  # what it holds still cannot be written
    shown = io.StringIO()
    monkeypatch.setattr(sys, "stderr", shown)
    stream.say("stream worker: the lake can be written again")
    assert shown.getvalue() == "stream worker: the lake can be written again\n"


class Clock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


def test_a_failing_flush_backs_off_is_said_once_per_reason_and_its_end_is_said(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock()
    monkeypatch.setattr(stream.time, "monotonic", clock)
    trouble = stream.Trouble()

    assert trouble.due()
    assert trouble.failed("OSError: No space left on device")  # news
    assert not trouble.due()
    clock.now += 1.0
    assert trouble.due()
    assert not trouble.failed("OSError: No space left on device")  # the same: not said again
    assert not trouble.due()
    clock.now += 1.5
    assert not trouble.due()  # the second wait is twice the first
    clock.now += 0.5
    assert trouble.due()
    assert trouble.failed("PermissionError: Permission denied")  # another reason: said

    clock.now += 10
    assert trouble.cleared() == 13.0
    assert trouble.cleared() is None and trouble.due() and trouble.error is None


class FullLake:
    """A LakeWriter's flush on a disk that is full for `failures` flushes, then has room."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.buffer = [object(), object()]
        self.checkpoint = stream.Checkpoint(Path("/nonexistent/checkpoint.json"))

    def flush(self) -> stream.Flushed:
        if self.failures:
            self.failures -= 1
            raise OSError(errno.ENOSPC, "No space left on device")
        self.checkpoint.positions[stream.SHARD] = "2"
        self.buffer = []
        return stream.Flushed(2, 0, 0, None)


def test_a_worker_on_a_full_disk_says_it_once_holds_its_changes_and_says_when_it_writes_again(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.db")
    lake = FullLake(failures=3)
    trouble = stream.Trouble()
    lines: list[str] = []

    for _ in range(4):
        stream._flush(lake, store, lines.append, trouble)  # type: ignore[arg-type]

    assert lines[0] == (
        "stream worker: cannot write the lake (OSError: No space left on device); holding 2 changes, "
        "trying again every 5 s at most"
    )
    assert lines[1].startswith("stream worker: the lake can be written again, after ")
    assert lines[2:] == ["stream worker: 2 rows -> lake, 0 duplicates, 0 failed"]
    assert trouble.error is None
