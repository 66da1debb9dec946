"""Room on the disk that holds the local stack's state: whether writes can be kept now.

On AWS the tables, the stream and the lake are DynamoDB, Kinesis and S3, which do not fill.
Locally they are `state.db` and the lake's files, on one disk that can. The stack then
refuses new writes (503 with Retry-After) before it accepts anything, keeps answering reads
and its health, and takes writes again as soon as there is room, without a restart.

The disk counts as full when fewer than `reserve` bytes are free under the state directory
(the room kept so that what was accepted can still be committed and streamed to the lake),
or when a write has just failed for lack of space (a quota, or a disk that filled between
the check and the write): that lasts until a write succeeds or RETRY_AFTER_SECONDS pass.
"""

from __future__ import annotations

import errno
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

# Free bytes under the state directory below which writes are refused.
RESERVE_BYTES = 16 * 1024 * 1024
# What a refused writer is told to wait (Retry-After), and how long a failed write counts.
RETRY_AFTER_SECONDS = 5

NO_SPACE_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
# What the errors say when they carry no errno: SQLite's SQLITE_FULL, Arrow's wrapped OSError.
NO_SPACE_WORDS = ("database or disk is full", "no space left on device", "disk quota exceeded")


def is_no_space(error: BaseException) -> bool:
    """Whether an error is a write that failed for lack of space (ENOSPC, EDQUOT, SQLITE_FULL)."""
    if isinstance(error, sqlite3.Error) and getattr(error, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL:
        return True
    if isinstance(error, OSError) and error.errno in NO_SPACE_ERRNOS:
        return True
    return any(words in str(error).lower() for words in NO_SPACE_WORDS)


def free_bytes(path: Path) -> int:
    """Bytes an unprivileged process may still write under path (statvfs's f_bavail)."""
    found = os.statvfs(path)
    return found.f_bavail * found.f_frsize


def size(count: float) -> str:
    """`0 B`, `512 KiB`, `16 MiB`, `1.5 GiB`."""
    units = ("B", "KiB", "MiB", "GiB")
    unit = 0
    while abs(count) >= 1024 and unit < len(units) - 1:
        count /= 1024
        unit += 1
    return f"{count:.0f} {units[unit]}" if unit == 0 or count == int(count) else f"{count:.1f} {units[unit]}"


@dataclass(frozen=True)
class Full:
    """Why writes are refused now, since when (seconds on the clock), and how long to wait."""

    reason: str
    since: float
    retry_after: int = RETRY_AFTER_SECONDS

    def message(self) -> str:
        return (
            f"the local stack's disk is full ({self.reason}): nothing was accepted; free some space, then send it again"
        )


@dataclass(frozen=True)
class Failure:
    """A write that failed for lack of space: what it said, when, and the free bytes then."""

    reason: str
    at: float
    free: int | None


class DiskSpace:
    """Whether the disk under `root` can keep writes now (see the module's docstring)."""

    def __init__(
        self,
        root: Path,
        reserve: int = RESERVE_BYTES,
        free: Callable[[Path], int] = free_bytes,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.root = root
        self.reserve = reserve
        self._free = free
        self._clock = clock
        self._lock = threading.Lock()
        self._failure: Failure | None = None  # the last write that failed for lack of space
        self._since: float | None = None  # when the disk became full, while it is

    def failed(self, error: BaseException) -> bool:
        """A write failed: remember it when it was for lack of space (returns whether it was)."""
        if not is_no_space(error):
            return False
        failure = Failure(f"a write failed: {error}", self._clock(), self.free())
        with self._lock:
            self._failure = failure
        return True

    def wrote(self) -> None:
        """A write was kept: there is room again, whatever failed before."""
        with self._lock:
            self._failure = None

    def free(self) -> int | None:
        """Free bytes under root now (None: it cannot be told)."""
        try:
            return self._free(self.root)
        except OSError:
            return None

    def full(self) -> Full | None:
        """Why writes are refused now, or None when they can be kept."""
        free = self.free()
        now = self._clock()
        with self._lock:
            reason = self._short_of_space(free) or self._failed_lately(free, now)
            if reason is None:
                self._since = None
                return None
            self._since = now if self._since is None else self._since
            return Full(reason, self._since)

    def _short_of_space(self, free: int | None) -> str | None:
        if free is None or free >= self.reserve:
            return None  # room, or it cannot be told: the writes themselves will say
        return f"{size(free)} free under {self.root}, less than the {size(self.reserve)} it keeps in reserve"

    def _failed_lately(self, free: int | None, now: float) -> str | None:
        """A failed write counts for RETRY_AFTER_SECONDS, or until a reserve's worth is freed."""
        failure = self._failure
        if failure is None or now - failure.at >= RETRY_AFTER_SECONDS:
            return None
        if free is not None and failure.free is not None and free - failure.free >= self.reserve:
            return None
        return failure.reason

    def describe(self) -> dict[str, object]:
        """What GET /status shows: free bytes, the reserve, and why writes are refused (if so)."""
        full = self.full()
        out: dict[str, object] = {"free_bytes": self.free(), "reserve_bytes": self.reserve, "full": full is not None}
        if full is not None:
            out["reason"] = full.reason
            out["full_for_s"] = round(self._clock() - full.since, 1)
        return out


class Backoff:
    """Delays between attempts at something failing: first, doubled each time, at most cap;
    reset() after a success."""

    def __init__(self, first: float = 0.5, cap: float = RETRY_AFTER_SECONDS) -> None:
        self.first = first
        self.cap = cap
        self.failures = 0

    def next(self) -> float:
        """The delay before the next attempt, counting one more failure."""
        self.failures += 1
        return float(min(self.cap, self.first * 2 ** min(self.failures - 1, 30)))

    def reset(self) -> None:
        self.failures = 0
