"""Shared fixtures: one embedded AWS per test session, scriptable model hosts, free ports."""

from __future__ import annotations

import datetime
import json
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from benchmarks.stack import free_port as free_port
from nrt import compat, embedded
from nrt.embedded import EmbeddedAws
from nrt.lake import table_spec, write_rows
from nrt.runtime import deploy_local_endpoint
from nrt.stream import transform_environment

# The Firehose transform reads its config at import, as in Lambda: give it the template's.
os.environ.update(transform_environment())

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "tests" / "events"


def load_event(name: str) -> Any:
    """A request or event body from tests/events/."""
    return json.loads((EVENTS / name).read_text())


Behaviour = Callable[[dict[str, Any]], tuple[int, dict[str, Any]]]


def rule_model(request: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """Scores like the trained model would, by the seeds' rule; 400 on a wrong feature count.

    Instances are the workflow's readings ({"data": [...]}) or bare rows ([a, b, c]).
    """
    rows = [r["data"] if isinstance(r, dict) else r for r in request["instances"]]
    if any(len(r) != 3 for r in rows):
        return 400, {"message": "this model expects 3 features"}
    out = []
    for a, b, c in rows:
        hit = b - a > 50 and b - c > 50 and abs(a - c) < 20
        p = 0.97 if hit else 0.02
        out.append(
            {
                "kind": "binary",
                "prediction": int(hit),
                "probability": p,
                "probabilities": {"0": round(1 - p, 2), "1": p},
            }
        )
    return 200, {"predictions": out}


@dataclass
class FakeModelHost:
    """A model host whose answers a test scripts; records every request it gets."""

    behaviour: Behaviour = rule_model
    requests: list[dict[str, Any]] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> FakeModelHost:
        host = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two writes; with Nagle on, a kept-alive peer's
            # delayed ACK stalls the second by ~40 ms.
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                host.requests.append(body)
                status, answer = host.behaviour(body)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


# --- a small lake, for local Athena and the dashboard ------------------------------------

NOW = datetime.datetime.now(datetime.UTC).replace(second=30, microsecond=0)
MS = int(NOW.timestamp() * 1000)
MINUTE = NOW.replace(second=0).isoformat()


def lake_row(
    sensor: str,
    offset_s: int,
    model: str,
    label: str | None,
    probability: float | None,
    kind: str | None = "binary",
    **extra: Any,
) -> dict[str, Any]:
    """One lake row as the Firehose transform writes it (a classifier's, unless extra says otherwise)."""
    ts = MS + offset_s * 1000
    return {
        "event_id": f"{sensor}:{ts}",
        "sensor": sensor,
        "timestamp": ts,
        "model": model,
        "endpoint": f"nrt-{model}",
        "kind": kind,
        "label": label,
        "value": None,
        "probability": probability,
        "probabilities": None,
        "input": "[1,2,3]",
        "predicted_at": NOW.isoformat(),
        "change_type": "INSERT",
        "changed_at": ts + 20,
        "ingested_at": ts + 400 + offset_s * 100,
        "dedup_key": f"{sensor}:{ts}:{model}:{extra.get('change_type', 'INSERT')}",
        **extra,
    }


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    """A small lake made in the test: see the rows below."""
    return make_lake(tmp_path)


def make_lake(tmp_path: Path) -> Path:
    """Every kind: a binary model on pump-1 and pump-2 (one prediction modified, one removed), a
    second binary model on one of the same readings, a regressor and a multi-class model, and a
    row written before labels existed (prediction 1, no kind)."""
    rows = [
        lake_row("pump-1", 0, "failure", "1", 0.97),
        lake_row("pump-1", 1, "failure", "0", 0.03),
        lake_row("pump-1", 0, "candidate", "1", 0.91),
        lake_row("pump-2", 3, "failure", "0", 0.12),
        lake_row("pump-2", 4, "failure", "1", 0.88),
        lake_row("pump-2", 3, "price", None, None, kind="regression", value=512.5),
        lake_row("pump-2", 4, "price", None, None, kind="regression", value=700.0),
        lake_row(
            "pump-1", 5, "penguins", "Adelie", 0.8, kind="multiclass", probabilities={"Adelie": 0.8, "Gentoo": 0.2}
        ),
        lake_row("pump-3", 6, "failure", None, 0.66, kind=None, prediction=1, input=None, features=[1.0, 2.0, 3.0]),
    ]
    write_rows(tmp_path, table_spec(), rows, NOW, "first.parquet")
    later = [
        # pump-2's second prediction was corrected, then pump-1's second one removed.
        {**lake_row("pump-2", 4, "failure", "0", 0.45, change_type="MODIFY"), "changed_at": MS + 9000},
        {**lake_row("pump-1", 1, "failure", "0", 0.03, change_type="REMOVE"), "changed_at": MS + 9500},
    ]
    write_rows(tmp_path, table_spec(), later, NOW, "second.parquet")
    return tmp_path


# SageMaker's scikit-learn 1.9 image in the local region (us-east-1).
SKLEARN_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.9-0-cpu-py3"


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
        compat.MODEL_HOSTS[endpoint] = host.url
        started.append((endpoint, host))
        return host

    yield deploy
    for endpoint, host in started:
        compat.MODEL_HOSTS.pop(endpoint, None)
        host.stop()
