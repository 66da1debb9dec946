"""nrt/state/space.py: when the disk under the state directory counts as full, why, and for how
long; which errors are a lack of space; the back-off between attempts."""

from __future__ import annotations

import errno
import sqlite3
from pathlib import Path

import pytest

from nrt.state.space import RETRY_AFTER_SECONDS, Backoff, DiskSpace, is_no_space, size


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def sqlite_full(tmp_path: Path) -> sqlite3.OperationalError:
    """The error SQLite really gives when a database cannot grow (SQLITE_FULL)."""
    db = sqlite3.connect(tmp_path / "full.db", isolation_level=None)
    db.execute("CREATE TABLE t (x TEXT)")
    db.execute(f"PRAGMA max_page_count = {db.execute('PRAGMA page_count').fetchone()[0]}")
    with pytest.raises(sqlite3.OperationalError) as raised:
        db.execute("INSERT INTO t VALUES (?)", ("x" * 10_000,))
    db.close()
    return raised.value


def test_sqlite_full_enospc_and_edquot_are_a_lack_of_space_and_other_errors_are_not(tmp_path: Path) -> None:
    assert is_no_space(sqlite_full(tmp_path))
    assert is_no_space(OSError(errno.ENOSPC, "No space left on device"))
    assert is_no_space(OSError(errno.EDQUOT, "Disk quota exceeded"))
    # Arrow's own wording, where the errno is folded into the message.
    assert is_no_space(OSError("Error writing bytes to file. Detail: [errno 28] No space left on device"))
    assert not is_no_space(OSError(errno.EACCES, "Permission denied"))
    assert not is_no_space(sqlite3.OperationalError("database is locked"))


def test_given_less_free_than_the_reserve_then_writes_are_refused_saying_how_much_is_free(tmp_path: Path) -> None:
    free = {"bytes": 1 << 20}
    clock = Clock()
    space = DiskSpace(tmp_path, reserve=16 << 20, free=lambda _: free["bytes"], clock=clock)

    full = space.full()
    clock.now += 3
    later = space.full()

    assert full is not None and later is not None
    assert full.reason == f"1 MiB free under {tmp_path}, less than the 16 MiB it keeps in reserve"
    assert later.since == full.since == 100.0  # full since it was first seen so
    assert full.retry_after == RETRY_AFTER_SECONDS
    assert "nothing was accepted" in full.message()
    assert space.describe() == {
        "free_bytes": 1 << 20,
        "reserve_bytes": 16 << 20,
        "full": True,
        "reason": full.reason,
        "full_for_s": 3.0,
    }

    free["bytes"] = 1 << 30
    assert space.full() is None
    assert space.describe()["full"] is False


def test_given_a_write_failed_for_lack_of_space_then_writes_are_refused_until_one_is_kept_or_the_wait_is_over(
    tmp_path: Path,
) -> None:
    clock = Clock()
    free = {"bytes": 1 << 30}  # a quota, or SQLite's own limit: statvfs shows room all along
    space = DiskSpace(tmp_path, reserve=1 << 20, free=lambda _: free["bytes"], clock=clock)

    assert not space.failed(OSError(errno.EACCES, "Permission denied"))
    assert space.full() is None
    assert space.failed(sqlite_full(tmp_path))
    full = space.full()
    assert full is not None and full.reason == "a write failed: database or disk is full"
    space.wrote()
    assert space.full() is None

    space.failed(OSError(errno.ENOSPC, "No space left on device"))
    clock.now += RETRY_AFTER_SECONDS
    assert space.full() is None  # time to try a write again: it says whether there is room

    space.failed(OSError(errno.ENOSPC, "No space left on device"))
    free["bytes"] += 1 << 20
    assert space.full() is None  # a reserve's worth freed since: try at once


def test_given_a_state_directory_that_cannot_be_measured_then_the_writes_say_whether_there_is_room(
    tmp_path: Path,
) -> None:
    def gone(_: Path) -> int:
        raise FileNotFoundError(errno.ENOENT, "No such file or directory")

    space = DiskSpace(tmp_path, free=gone)

    assert space.full() is None
    assert space.describe() == {"free_bytes": None, "reserve_bytes": space.reserve, "full": False}


def test_backoff_doubles_up_to_its_cap_and_starts_over_after_a_success() -> None:
    backoff = Backoff(first=0.5, cap=3)
    assert [backoff.next() for _ in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    backoff.reset()
    assert backoff.next() == 0.5


@pytest.mark.parametrize(
    ("count", "shown"), [(0, "0 B"), (1023, "1023 B"), (512 * 1024, "512 KiB"), (1536 << 20, "1.5 GiB")]
)
def test_sizes_are_shown_in_binary_units(count: int, shown: str) -> None:
    assert size(count) == shown
