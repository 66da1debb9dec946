"""nrt/state/store.py's GroupCommit: every change handed in is committed, in the order handed in;
sync() returns once everything handed in before it is kept, or says that it could not be."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from nrt.state.space import Backoff, DiskSpace
from nrt.state.store import GroupCommit, Store, StoreUnavailable


def change(sensor: str, n: int) -> dict[str, Any]:
    image = {"sensor": {"S": sensor}, "n": {"N": str(n)}}
    return {
        "eventName": "INSERT",
        "dynamodb": {"Keys": {"sensor": {"S": sensor}, "n": {"N": str(n)}}, "NewImage": image},
    }


def test_concurrent_changes_are_all_kept_in_the_order_each_writer_handed_them_in(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.db")
    committer = GroupCommit(store, streamed={"t"})

    def writer(sensor: str) -> None:
        for n in range(50):
            committer.submit("t", change(sensor, n))
            committer.sync()
            assert [i["n"] for i in store.items("t") if i["sensor"] == {"S": sensor}][-1] == {"N": str(n)}

    threads = [threading.Thread(target=writer, args=(f"s{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    committer.close()

    assert store.count("t") == 400
    logged = store.changes_after(0, 10_000)
    for i in range(8):
        mine = [
            int(c.record["dynamodb"]["Keys"]["n"]["N"])
            for c in logged
            if c.record["dynamodb"]["Keys"]["sensor"]["S"] == f"s{i}"
        ]
        assert mine == list(range(50))


def test_a_change_the_store_cannot_keep_is_reported_to_its_writer(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.db")
    store.close()  # a store that fails every write
    committer = GroupCommit(store)

    committer.submit("t", change("s", 1))

    with pytest.raises(StoreUnavailable, match=r"could not keep a write .*kept once there is room"):
        committer.sync()
    # The tables in memory are now ahead of the store: no later answer may say "kept" either.
    with pytest.raises(StoreUnavailable):
        committer.sync()
    assert committer.waiting == 1
    committer.close()


def fill(store: Store, pages: int | None = None) -> None:
    """SQLite's own limit on the database's pages: past it every write fails with SQLITE_FULL,
    "database or disk is full", as on a full disk (None: no limit but SQLite's)."""
    limit = store._db.execute("PRAGMA page_count").fetchone()[0] if pages is None else pages
    store._db.execute(f"PRAGMA max_page_count = {limit}")


def big(sensor: str, n: int) -> dict[str, Any]:
    record = change(sensor, n)
    record["dynamodb"]["NewImage"]["pad"] = {"S": "x" * 8000}  # a new page, whatever is free
    return record


def until(check: Callable[[], bool], seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_given_a_full_store_when_changes_cannot_be_kept_then_writers_hear_at_once_and_every_change_is_kept_in_order_once_there_is_room(  # noqa: E501
    tmp_path: Path,
) -> None:
    store = Store(tmp_path / "state.db")
    space = DiskSpace(tmp_path, reserve=1 << 20, free=lambda _: 1 << 30)  # SQLite says full, statvfs does not
    committer = GroupCommit(store, streamed={"t"}, space=space, backoff=Backoff(first=0.01, cap=0.05))
    committer.submit("t", big("s", 0))
    committer.sync()
    fill(store)

    committer.submit("t", big("s", 1))
    with pytest.raises(StoreUnavailable, match="database or disk is full"):
        committer.sync()
    full = space.full()
    assert full is not None and "database or disk is full" in full.reason
    committer.submit("t", big("s", 2))  # handed in while the store is behind: raises at once
    with pytest.raises(StoreUnavailable):
        committer.sync()
    assert committer.waiting >= 1 and store.count("t") == 1

    fill(store, 1 << 30)  # room again: the next attempt keeps them, nobody restarts anything
    until(lambda: committer.waiting == 0)
    committer.sync()

    assert committer.broken is None and space.full() is None
    assert [c.record["dynamodb"]["Keys"]["n"]["N"] for c in store.changes_after(0)] == ["0", "1", "2"]
    assert store.count("t") == 3
    committer.close()


def test_a_table_not_kept_is_left_alone_and_conversion_happens_on_the_way_in(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.db")
    committer = GroupCommit(
        store, tables={"kept"}, streamed={"kept"}, convert=lambda r: {**r, "eventName": r["eventName"].lower()}
    )
    committer.submit("kept", change("s", 1))
    committer.submit("other", change("s", 2))
    committer.sync()

    assert store.count("kept") == 1 and store.count("other") == 0
    assert [c.record["eventName"] for c in store.changes_after(0)] == ["insert"]
    committer.close()


def test_given_changes_handed_in_when_an_answer_waits_then_it_keeps_them_all_in_one_commit_in_its_own_thread(
    tmp_path: Path,
) -> None:
    store = Store(tmp_path / "state.db")
    commits: list[int] = []
    record_changes = store.record_changes

    def counted(changes: list[tuple[str, dict[str, Any], bool]]) -> None:
        assert threading.current_thread() is threading.main_thread()  # no thread woken, none switched to
        commits.append(len(changes))
        record_changes(changes)

    store.record_changes = counted  # type: ignore[method-assign]
    committer = GroupCommit(store, linger=60)  # only a waiting answer commits
    for n in range(3):
        committer.submit("t", change("s", n))
    assert commits == []  # a write wakes nobody

    committer.sync()

    assert commits == [3] and store.count("t") == 3
    committer.close()


def test_given_a_change_nobody_waits_for_when_the_linger_passes_then_it_is_kept(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.db")
    committer = GroupCommit(store, linger=0.05)

    committer.submit("t", change("s", 1))

    until(lambda: store.count("t") == 1, seconds=5)
    committer.close()
