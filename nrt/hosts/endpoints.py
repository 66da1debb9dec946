"""The endpoints' side of the model hosts: what `nrt up` plugs into the embedded AWS so that an
endpoint is served as a serverless endpoint is: a new endpoint or config is loaded in a host
before it is InService, an invocation with no host cold-starts one, and hosts of endpoints
gone, exited, unhealthy or idle too long are stopped (the supervisor thread)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from nrt import emulator
from nrt.emulator.server import EmbeddedAws
from nrt.hosts.artifacts import materialise
from nrt.hosts.supervisor import Hosts, ModelHostFailed


class EndpointHosts:
    """The model hosts of one embedded AWS's prefixed endpoints, wired into it by `wire()`."""

    def __init__(self, aws: EmbeddedAws, unpack_to: Path, idle_seconds: float, log: Callable[[str], None]) -> None:
        self.aws = aws
        self.unpack_to = unpack_to  # where a model.tar.gz from the embedded S3 is unpacked, per version
        self.log = log
        wiring = aws.wiring
        self.hosts = Hosts(
            route=wiring.model_hosts.route,
            withdraw=wiring.model_hosts.withdraw,
            idle_for=wiring.model_hosts.idle_for,
            idle_seconds=idle_seconds,
            log=log,
        )
        self._changed = threading.Event()
        self._stop = threading.Event()

    def wire(self) -> EndpointHosts:
        """After the endpoints are restored (they stay InService, no host started): plug the
        host start into the embedded SageMaker, and wake the supervisor at every endpoint change."""
        wiring: emulator.Wiring = self.aws.wiring
        wiring.host_start = self.start_host
        save = wiring.endpoints_changed

        def changed() -> None:
            if save is not None:
                save()
            self._changed.set()

        wiring.endpoints_changed = changed
        threading.Thread(target=self._supervise, name="host-supervisor", daemon=True).start()
        return self

    def start_host(self, endpoint: str, version: str, url: str) -> str:
        """wiring.host_start: the URL of a host serving the endpoint's model `version`."""

        def directory() -> Path:
            found = materialise(self.aws, url, self.unpack_to / version)
            if found is None:
                raise ModelHostFailed(f"no model artifact at {url} on this machine")
            return found

        return self.hosts.ensure(endpoint, version, directory)

    def _supervise(self) -> None:
        """Every second (at once after an endpoint change): stop the hosts of endpoints gone,
        and those that exited, fail their health checks or sat idle too long."""
        while not self._stop.is_set():
            changed = self._changed.wait(1.0)
            if self._stop.is_set():
                return
            try:
                if changed:
                    self._changed.clear()
                    sm = self.aws.client("sagemaker")
                    pages = sm.get_paginator("list_endpoints").paginate(NameContains=self.aws.prefix)
                    self.hosts.keep({e["EndpointName"] for page in pages for e in page["Endpoints"]})
                self.hosts.check()
            except Exception as exc:  # keep supervising; say what went wrong
                self.log(f"host supervisor: {exc}")

    def down(self) -> dict[str, str]:
        """Endpoints whose host went out of service, with why, until the next invocation starts it."""
        return dict(self.hosts.down)

    def stop(self) -> None:
        """No host starts from here on; every host stops."""
        self._stop.set()
        self._changed.set()
        self.aws.wiring.host_start = None
        self.hosts.stop_all()
