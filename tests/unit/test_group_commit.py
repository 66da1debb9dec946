"""nrt/state/store.py's GroupCommit: every change handed in is committed, in the order handed in;
sync() returns once everything handed in before it is kept, or says that it could not be."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

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

    with pytest.raises(StoreUnavailable, match=r"could not keep a write .*then restart nrt up"):
        committer.sync()
    # The tables in memory are now ahead of the store: no later answer may say "kept" either.
    with pytest.raises(StoreUnavailable):
        committer.sync()
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
