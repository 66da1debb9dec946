"""Model hosts: one process per endpoint serving its model over the SageMaker container's HTTP
contract (nrt/hosts/host.py), run as a serverless endpoint runs its container.

A host starts on demand (the endpoint's creation check, or the first invocation after it was
stopped: a cold start, bounded by START_SECONDS, AWS's limit for a serverless container to
answer /ping), and stops after `idle_seconds` without an invocation (scaled to zero). A host
that exits or stops answering its health check (GET /ping) is taken out of service at once and
not restarted in a loop: the next invocation starts it again. `/status` and `nrt status` say
which host went and why until then.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from nrt.children import spawn_child

PING_SECONDS = 2.0  # a health check that takes longer has failed
MISSES = 3  # health checks failed in a row before a live host is stopped
START_SECONDS = 180.0  # AWS: a serverless endpoint's container must answer /ping within 3 minutes
IDLE_SECONDS = 300.0  # `nrt up --model-idle-seconds`'s default


@dataclass
class ModelHost:
    endpoint: str
    url: str
    process: subprocess.Popen[str]
    version: str = ""
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


def start_model_host(directory: Path, endpoint: str, version: str = "", timeout: float = START_SECONDS) -> ModelHost:
    """Run nrt.hosts.host in its own process and wait, at most `timeout`, for its ready line
    and its first answer to /ping (or its exit)."""
    process = spawn_child(
        [sys.executable, "-m", "nrt.hosts.host", "--model-dir", str(directory), "--port", "0"],
        model_host_env(os.environ),
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    deadline = threading.Timer(timeout, process.kill)
    deadline.start()
    try:
        line = process.stdout.readline()
    finally:
        deadline.cancel()
    url = line.rsplit(" ", 1)[-1].strip()
    if "ready on " not in line or not answers_ping(url):
        process.kill()
        process.wait()
        if "ready on " not in line and not line and process.returncode == -9:
            raise ModelHostFailed(f"the model host did not answer /ping within {timeout:g} s")
        raise ModelHostFailed(line.strip().removeprefix("model host failed: ") or f"exit {process.returncode}")
    return ModelHost(endpoint, url, process, version)


def answers_ping(url: str, timeout: float = PING_SECONDS) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/ping", timeout=timeout) as reply:
            return bool(reply.status == 200)
    except OSError:
        return False


@dataclass
class Hosts:
    """The running model hosts, at most one per endpoint: started on demand (one start shared by
    whoever asks meanwhile), stopped when idle, failing or no longer wanted."""

    route: Callable[[str, str], None]  # the endpoint is served by the host at this URL
    withdraw: Callable[[str], None]  # the endpoint has no host in service
    idle_for: Callable[[str], float]  # seconds the endpoint went without an invocation
    idle_seconds: float = IDLE_SECONDS  # 0: never stopped for being idle
    log: Callable[[str], None] = print
    start: Callable[[Path, str, str], ModelHost] = start_model_host
    ping: Callable[[str], bool] = answers_ping
    running: dict[str, ModelHost] = field(default_factory=dict)
    down: dict[str, str] = field(default_factory=dict)  # endpoint -> why its host went, until it starts again
    _locks: dict[str, threading.Lock] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _of(self, endpoint: str) -> threading.Lock:
        with self._lock:
            return self._locks.setdefault(endpoint, threading.Lock())

    def ensure(self, endpoint: str, version: str, directory: Callable[[], Path]) -> str:
        """The URL of a host serving `version` for the endpoint, started (replacing a host of
        another version) if there is none; raises ModelHostFailed with the reason it cannot."""
        with self._of(endpoint):
            host = self.running.get(endpoint)
            if host is not None and host.version == version and host.process.poll() is None:
                return host.url
            started = self.start(directory(), endpoint, version)
            self.running[endpoint] = started
            self.down.pop(endpoint, None)
            self.route(endpoint, started.url)
            self.log(f"model host for {endpoint} ({version}) on {started.url}")
            if host is not None:
                _stop(host.process)
            return started.url

    def check(self) -> None:
        """One round: a host that exited, failed its health checks or sat idle too long is stopped."""
        for endpoint in list(self.running):
            with self._of(endpoint):
                host = self.running.get(endpoint)
                if host is None:
                    continue
                failure = self._failure(host)
                if failure is not None:
                    self.down[endpoint] = f"{failure}; the next invocation starts it again"
                    self.log(f"model host for {endpoint} {failure}; out of service until the next invocation")
                elif self.idle_seconds > 0 and self.idle_for(endpoint) >= self.idle_seconds:
                    self.log(f"model host for {endpoint} stopped: idle for {self.idle_seconds:g} s")
                else:
                    continue
                self._retire(endpoint)

    def _failure(self, host: ModelHost) -> str | None:
        code = host.process.poll()
        if code is not None:
            return f"exited ({code})"
        if self.ping(host.url):
            host.misses = 0
            return None
        host.misses += 1
        return f"did not answer {MISSES} health checks" if host.misses >= MISSES else None

    def keep(self, endpoints: set[str]) -> None:
        """Stop the hosts of endpoints no longer there."""
        for endpoint in set(self.running) - endpoints:
            with self._of(endpoint):
                self._retire(endpoint)
        for endpoint in set(self.down) - endpoints:
            self.down.pop(endpoint, None)

    def _retire(self, endpoint: str) -> None:
        host = self.running.pop(endpoint, None)
        if host is not None:
            self.withdraw(endpoint)
            _stop(host.process)

    def stop_all(self) -> None:
        for endpoint in list(self.running):
            with self._of(endpoint):
                self._retire(endpoint)


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5)
