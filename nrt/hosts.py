"""Model hosts: one process per endpoint serving its model over the SageMaker container's HTTP
contract (nrt/modelhost.py), and the supervisor that keeps them serving.

A host that exits or stops answering its health check (GET /ping) is taken out of service at
once (InvokeEndpoint answers ModelNotReadyException, which the workflow turns into 503), and
started again with exponential backoff; while it is down, `/models`, `/status` and
`nrt status` say so and why. A model that cannot start is retried on the same backoff, never
in a tight loop.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from nrt.local import spawn_child

PING_SECONDS = 2.0  # a health check that takes longer has failed
MISSES = 3  # health checks failed in a row before a live host is restarted
BACKOFF = (1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 60.0)  # seconds before each restart, then 60 s


@dataclass
class ModelHost:
    endpoint: str
    url: str
    process: subprocess.Popen[str]
    version: str = ""
    directory: Path | None = None
    misses: int = 0


def model_host_env(environ: Mapping[str, str]) -> dict[str, str]:
    """The model host's environment: one OpenMP thread unless the user chose otherwise.

    scikit-learn's gradient boosting scores with an OpenMP pool as wide as the machine.
    For one request's few rows the pool's threads spin more than they compute: on 2 cores,
    1.9 ms of CPU per call against 0.8 ms with one thread, and no faster. The hosts share
    the machine with the API and the embedded AWS; concurrency comes from serving requests
    in threads, not from splitting one small prediction.
    """
    return {**environ, "OMP_NUM_THREADS": environ.get("OMP_NUM_THREADS", "1")}


class ModelHostFailed(RuntimeError):
    """A model host did not start; the message is its reason (the model could not load, say)."""


def start_model_host(directory: Path, endpoint: str, version: str = "") -> ModelHost:
    """Run nrt.modelhost in its own process and wait for its ready line (or its exit)."""
    process = spawn_child(
        [sys.executable, "-m", "nrt.modelhost", "--model-dir", str(directory), "--port", "0"],
        model_host_env(os.environ),
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if "ready on " not in line:
        process.kill()
        process.wait()
        raise ModelHostFailed(line.strip().removeprefix("model host failed: ") or f"exit {process.returncode}")
    return ModelHost(endpoint, line.rsplit(" ", 1)[-1].strip(), process, version, directory)


def answers_ping(url: str, timeout: float = PING_SECONDS) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/ping", timeout=timeout) as reply:
            return bool(reply.status == 200)
    except OSError:
        return False


@dataclass
class Down:
    """A host out of service: why, how many restarts were tried, when the next one is due."""

    host: ModelHost
    reason: str
    attempts: int = 0
    retry_at: float = 0.0

    def describe(self, now: float) -> str:
        wait = max(0.0, self.retry_at - now)
        return f"{self.reason}; restarting in {wait:.0f} s (attempt {self.attempts + 1})"


@dataclass
class Supervisor:
    """Watches the hosts it is given; takes a failing one out of service and restarts it."""

    serve: Callable[[ModelHost], None]  # a host is in service (or back in service)
    withdraw: Callable[[str], None]  # the endpoint has no host in service
    log: Callable[[str], None] = print
    clock: Callable[[], float] = time.monotonic
    start: Callable[[Path, str, str], ModelHost] = start_model_host
    ping: Callable[[str], bool] = answers_ping
    down: dict[str, Down] = field(default_factory=dict)

    def check(self, hosts: dict[str, ModelHost]) -> None:
        """One round: every host in service checked; every host due for a restart restarted."""
        now = self.clock()
        for endpoint, host in list(hosts.items()):
            failure = self._failure(host)
            if failure is None:
                continue
            hosts.pop(endpoint)
            self.withdraw(endpoint)
            _stop(host.process)
            self.down[endpoint] = Down(host, failure, 0, now + BACKOFF[0])
            self.log(f"model host for {endpoint} {failure}; out of service, restarting in {BACKOFF[0]:g} s")
        for endpoint, down in list(self.down.items()):
            if down.retry_at > now or down.host.directory is None:
                continue
            try:
                host = self.start(down.host.directory, endpoint, down.host.version)
            except ModelHostFailed as failure:
                down.attempts += 1
                down.reason = f"cannot start: {failure}"
                down.retry_at = now + BACKOFF[min(down.attempts, len(BACKOFF) - 1)]
                self.log(f"model host for {endpoint} {down.reason}; next try in {down.retry_at - now:g} s")
                continue
            del self.down[endpoint]
            hosts[endpoint] = host
            self.serve(host)
            self.log(f"model host for {endpoint} restarted on {host.url}")

    def _failure(self, host: ModelHost) -> str | None:
        code = host.process.poll()
        if code is not None:
            return f"exited ({code})"
        if self.ping(host.url):
            host.misses = 0
            return None
        host.misses += 1
        return f"did not answer {MISSES} health checks" if host.misses >= MISSES else None

    def forget(self, endpoint: str) -> None:
        """The endpoint is gone or serves another version: stop trying to restart this one."""
        self.down.pop(endpoint, None)

    def problems(self) -> dict[str, str]:
        now = self.clock()
        return {endpoint: down.describe(now) for endpoint, down in self.down.items()}


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5)
