"""Fixtures of the tiers that run the embedded AWS (workflow, e2e, template): each tier's
conftest imports the ones it uses."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from nrt import compat, embedded
from nrt.embedded import EmbeddedAws
from nrt.runtime import deploy_local_endpoint
from tests.helpers import free_port
from tests.helpers.model_hosts import Behaviour, FakeModelHost, rule_model


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small trained model (with its report), for deploy and retraining tests."""
    from training.train import Recipe, train

    directory = tmp_path_factory.mktemp("models") / "small"
    train(directory, Recipe("synthetic", "label", None, "binary", rows=2000))
    return directory


@pytest.fixture(scope="session")
def aws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedAws]:
    """The embedded AWS with the template's tables and state machine."""
    running = embedded.start(port=free_port())
    embedded.provision(running)
    yield running
    running.stop()


@pytest.fixture
def model_host(aws: EmbeddedAws, request: pytest.FixtureRequest) -> Iterator[Callable[[str, Behaviour], FakeModelHost]]:
    """Deploy `<prefix><name>` in the embedded AWS, served by a scripted host."""
    started: list[tuple[str, FakeModelHost]] = []

    def deploy(name: str, behaviour: Behaviour = rule_model) -> FakeModelHost:
        host = FakeModelHost(behaviour).start()
        endpoint = deploy_local_endpoint(aws, name, Path("/nonexistent"))
        compat.WIRING.model_hosts[endpoint] = host.url
        started.append((endpoint, host))
        return host

    yield deploy
    for endpoint, host in started:
        compat.WIRING.model_hosts.pop(endpoint, None)
        host.stop()
