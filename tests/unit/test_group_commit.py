"""nrt/durable.py's GroupCommit: every change handed in is committed, in the order handed in,
and whoever handed it in learns when it is kept, or that it could not be."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from nrt.durable import GroupCommit, Store, StoreUnavailable


def change(sensor: str, n: int) -> dict[str, Any]:
    image = {"sensor": {"S": sensor}, "n": {"N": str(n)}}
    return {
        "eventName": "INSERT",
        "dynamodb": {"Keys": {"sensor": {"S": sensor}, "n": {"N": str(n)}}, "NewImage": image},
    }


def test_concurrent_changes_are_all_kept_in_the_order_each_writer_handed_them_in(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.db")
    committer = GroupCommit(store)

    def writer(sensor: str) -> None:
        for n in range(50):
            committer.submit("t", change(sensor, n), streamed=True)()  # returns once kept

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

    wait = committer.submit("t", change("s", 1), streamed=False)

    with pytest.raises(StoreUnavailable, match="could not keep this write"):
        wait()
    committer.close()
