"""A scripted model host, for workflow tests: answers as a test says, records what it got."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Behaviour = Callable[[dict[str, Any]], tuple[int, dict[str, Any]]]


def rule_model(request: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """Scores as the demo's trained model would, by the rule its data is made with; 400 on a
    wrong feature count.

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
