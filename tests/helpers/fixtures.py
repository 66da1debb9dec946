"""Fixtures of the tiers that run the embedded AWS (workflow, e2e, template). Registered once
for the whole session (tests/conftest.py), so every tier shares one embedded AWS; they import
moto only when a test asks for them, so the unit tier never does."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.helpers import free_port
from tests.helpers.model_hosts import Behaviour, FakeModelHost, rule_model

if TYPE_CHECKING:
    from nrt.emulator.server import EmbeddedAws
    from nrt.state.store import Store


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    """A small lake made in the test (tests/helpers/lakes.py)."""
    from tests.helpers.lakes import make_lake

    return make_lake(tmp_path)


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small trained model (with its report), for deploy and retraining tests."""
    from training.train import Recipe, train

    directory = tmp_path_factory.mktemp("models") / "small"
    train(directory, Recipe("synthetic", "label", None, "binary", rows=2000))
    return directory


@pytest.fixture(scope="session")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """The local stack's durable store (nrt/state/store.py) that the embedded AWS's tables write to."""
    from nrt.state.store import Store

    kept = Store(tmp_path_factory.mktemp("state") / "state.db")
    yield kept
    kept.close()


@pytest.fixture(scope="session")
def aws(store: Store) -> Iterator[EmbeddedAws]:
    """The embedded AWS with the template's tables and state machine, keeping every table
    change in the store as `nrt up` does."""
    from nrt.emulator.server import provision, start
    from nrt.state.restore import keep_changes

    running = start(port=free_port())
    provision(running)
    committer = keep_changes(running, store)
    yield running
    running.wiring.table_changes = None
    committer.close()
    running.stop()


@pytest.fixture
def model_host(aws: EmbeddedAws, request: pytest.FixtureRequest) -> Iterator[Callable[[str, Behaviour], FakeModelHost]]:
    """Deploy `<prefix><name>` in the embedded AWS, served by a scripted host."""
    from nrt.default_model import deploy_local_endpoint

    started: list[tuple[str, FakeModelHost]] = []

    def deploy(name: str, behaviour: Behaviour = rule_model) -> FakeModelHost:
        host = FakeModelHost(behaviour).start()
        endpoint = deploy_local_endpoint(aws, name, Path("/nonexistent"))
        aws.wiring.model_hosts.route(endpoint, host.url)
        started.append((endpoint, host))
        return host

    yield deploy
    for endpoint, host in started:
        aws.wiring.model_hosts.withdraw(endpoint)
        host.stop()
