"""End to end: `nrt up` whose disk fills while it runs, on a real filesystem that fills (a 64 MiB
tmpfs, mounted without root in a user and mount namespace of its own, `unshare -rm`), so every
write meets the kernel's own ENOSPC and SQLite's own SQLITE_FULL. As a user would: the stack
up, readings sent, the disk filled with a file; new writes are refused with 503 DiskFull and
Retry-After while /status, /models and the health line go on and name the condition, and the
stream worker holds what it has without a restart; the file removed, the same readings are
accepted again without restarting `nrt up`, the health line says so, and every reading
accepted before, during or after is in the lake exactly once."""

from __future__ import annotations

import errno
import json
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from benchmarks.stack import Stack, nrt_up, trained_default_model
from nrt.default_model import DEFAULT_MODEL
from nrt.lake.parquet import read_rows, table_spec
from nrt.statedir import StateDir
from tests.helpers import ROOT

TMPFS_SIZE = "64m"
T = TypeVar("T")


def namespaces_work() -> bool:
    """Whether this machine lets an unprivileged process mount a tmpfs of its own."""
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-rm", "sh", "-c", "mount -t tmpfs -o size=1m tmpfs /mnt"], capture_output=True)
    return probe.returncode == 0


@pytest.mark.skipif(not namespaces_work(), reason="no unprivileged user and mount namespaces (unshare -rm) here")
def test_a_full_disk_refuses_new_writes_with_503_and_retry_after_keeps_reads_and_health_and_recovers_without_a_restart(
    tmp_path: Path,
) -> None:
    mount = tmp_path / "disk"
    mount.mkdir()
    script = 'mount -t tmpfs -o size="$0" tmpfs "$1" && exec "$2" -m tests.e2e.test_disk_full_stack "$1" "$3"'
    done = subprocess.run(
        ["unshare", "-rm", "sh", "-c", script, TMPFS_SIZE, str(mount), sys.executable, str(trained_default_model())],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    assert "disk full, refused, read, recovered" in done.stdout


# --- what runs inside the namespace, on the small disk -------------------------------------------


def call(url: str, body: dict[str, Any] | None = None) -> tuple[int, dict[str, str], Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as resp:
            return resp.status, dict(resp.headers), json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), json.loads(exc.read())


def reading(i: int) -> dict[str, Any]:
    return {"model": "failure", "sensor": f"full-{i % 3}", "timestamp": 1795342530000 + i, "data": [12, 87, i % 40]}


def event_id(i: int) -> str:
    return f"full-{i % 3}:{1795342530000 + i}"


def until(check: Callable[[], T | None], seconds: float, what: str) -> T:
    deadline = time.monotonic() + seconds
    while (found := check()) is None or found is False:
        assert time.monotonic() < deadline, f"timed out after {seconds:g} s waiting for {what}"
        time.sleep(0.2)
    return found


def fill(disk: Path) -> Path:
    """A file that takes every byte left, as a download or a log would."""
    filler = disk / "filler"
    with open(filler, "wb", buffering=0) as out:
        try:
            while True:
                out.write(b"\0" * (1 << 20))
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc
    while True:  # the last, partial megabyte
        try:
            with open(filler, "ab", buffering=0) as out:
                out.write(b"\0" * 4096)
        except OSError:
            return filler


def health_lines(stack: Stack) -> list[str]:
    """The lines `nrt up` prints after its banner, collected as they come."""
    lines: list[str] = []
    stdout = stack.process.stdout
    assert stdout is not None

    def collect() -> None:
        for line in stdout:
            lines.append(line.rstrip("\n"))

    threading.Thread(target=collect, daemon=True).start()
    return lines


def scenario(disk: Path, model: Path) -> None:
    shutil.copytree(model, StateDir(disk).model(DEFAULT_MODEL))
    with nrt_up("--flush-seconds", "2", "--health-seconds", "1", state=disk, seed=False) as stack:
        lines = health_lines(stack)
        worker = stack.stream_worker_pid()
        before = [call(f"{stack.url}/events", reading(i))[0] for i in range(2)]
        before += [call(f"{stack.url}/predictions", reading(i))[0] for i in range(2, 6)]
        assert before == [202] * 2 + [200] * 4, before

        filler = fill(disk)

        for route, i in (("predictions", 6), ("events", 7)):
            status, headers, body = call(f"{stack.url}/{route}", reading(i))
            assert status == 503, (route, status, body)
            assert int(headers["Retry-After"]) > 0, headers
            assert set(body) == {"status", "error", "message"} and body["error"] == "DiskFull", body
            assert "nothing was accepted" in body["message"], body
        status, _, shown = call(f"{stack.url}/status")
        assert status == 200 and shown["disk"]["full"] is True, shown
        assert call(f"{stack.url}/models")[0] == 200
        until(lambda: any("disk full: " in line for line in lines), 10, "a health line naming the full disk")
        held = until(
            lambda: "holding changes" in (s := call(f"{stack.url}/status")[2])["stream"] and s,
            20,
            "the stream worker to hold its changes",
        )
        assert held["disk"]["full"] is True

        filler.unlink()

        answers = [call(f"{stack.url}/predictions", reading(i))[0] for i in (6, 8)]
        answers.append(call(f"{stack.url}/events", reading(7))[0])
        assert answers == [200, 200, 202], answers
        until(lambda: any("disk has room again" in line for line in lines), 10, "a health line saying it recovered")
        expected = {event_id(i) for i in range(9)}

        def lake_has_them() -> list[str] | None:
            ids = [str(r["event_id"]) for r in read_rows(disk / "lake", table_spec())]
            return ids if expected <= set(ids) else None

        ids = until(lake_has_them, 60, "every accepted reading in the lake")
        assert sorted(ids) == sorted(expected), "each accepted reading once, and nothing refused"
        assert stack.stream_worker_pid() == worker, "the stream worker was never restarted"
        assert not [line for line in lines if "stream worker exited" in line], lines
        assert call(f"{stack.url}/status")[2]["stream"] == "ok"
        said = (disk / "logs" / "stream.log").read_text()
        assert said.count("cannot write the lake (OSError: No space left on device)") == 1, said
        assert said.count("the lake can be written again") == 1, said
    print("disk full, refused, read, recovered")


if __name__ == "__main__":
    scenario(Path(sys.argv[1]), Path(sys.argv[2]))
