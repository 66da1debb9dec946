"""A model host: the SageMaker container's HTTP contract (GET /ping, POST /invocations)
around the model directory's serving code, run as SageMaker's scikit-learn container runs it
(training/container.py), one process per model."""

from __future__ import annotations

import argparse
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from nrt.local import die_with_parent
from training import container


def make_handler(served: container.Served) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes; with Nagle on, a kept-alive peer's
        # delayed ACK stalls the second by ~40 ms.
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _send(self, status: int, body: str) -> None:
            data = body.encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path == "/ping":
                self._send(200, "{}")
            else:
                self._send(404, json.dumps({"message": f"no route {self.path}"}))

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            if self.path != "/invocations":
                self._send(404, json.dumps({"message": f"no route {self.path}"}))
                return
            reply = container.answer(
                served, body, self.headers.get("Content-Type", "application/json"), self.headers.get("Accept", "")
            )
            self._send(reply.status, reply.body)

    return Handler


def serve(model_dir: str, port: int, host: str = "127.0.0.1") -> None:
    """Load the model and serve until killed; prints one line when ready."""
    served = container.load(Path(model_dir))
    server = ThreadingHTTPServer((host, port), make_handler(served))
    server.daemon_threads = True
    print(f"model host ready on http://{host}:{server.server_address[1]}", flush=True)
    server.serve_forever()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve one model over the SageMaker container contract.")
    parser.add_argument("--model-dir", required=True)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    die_with_parent()
    try:
        serve(args.model_dir, args.port)
    except KeyboardInterrupt:
        return 0
    except Exception as error:  # the model cannot load: one line for the runtime to show
        print(f"model host failed: {type(error).__name__}: {error}", flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
