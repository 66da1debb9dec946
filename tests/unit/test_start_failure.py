"""Why `nrt up` could not start, said as its cause: a port taken, a full disk, or else."""

from __future__ import annotations

import errno
import sqlite3
from pathlib import Path

from nrt.cli.stack import start_failure


def test_a_full_disk_is_named_as_such_not_blamed_on_the_ports(tmp_path: Path) -> None:
    for error in (
        OSError(errno.ENOSPC, "No space left on device"),
        sqlite3.OperationalError("database or disk is full"),
    ):
        message = start_failure(error, tmp_path)
        assert f"no space left for its state under {tmp_path.resolve()}" in message
        assert "ports" not in message


def test_another_error_is_said_as_it_is(tmp_path: Path) -> None:
    message = start_failure(OSError(errno.EACCES, "Permission denied"), tmp_path)
    assert message == "cannot start the local stack: [Errno 13] Permission denied"
