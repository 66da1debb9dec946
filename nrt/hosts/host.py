"""A model host: the SageMaker container's HTTP contract (GET /ping, POST /invocations)
around the model directory's serving code, run as SageMaker's scikit-learn container runs it
(training/container.py), one process per model."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from nrt.children import die_with_parent
from nrt.http11 import Handler, Limits, Request, Response, Server
from training import container


def _json(status: int, body: str, headers: dict[str, str] | None = None) -> Response:
    return Response(status, body.encode("utf-8"), {"Content-Type": "application/json", **(headers or {})})


ROUTES = {"/ping": "GET", "/invocations": "POST"}


def make_handler(served: container.Served) -> Handler:
    def handle(request: Request) -> Response:
        path = request.target.split("?", 1)[0]
        allowed = ROUTES.get(path)
        if allowed is None:
            return _json(404, json.dumps({"message": f"no route {path}"}))
        if request.method != allowed:
            return _json(405, json.dumps({"message": f"{path} takes {allowed}"}), {"Allow": allowed})
        if path == "/ping":
            return _json(200, "{}")
        reply = container.answer(
            served, request.body, request.header("Content-Type") or "application/json", request.header("Accept") or ""
        )
        return _json(reply.status, reply.body)

    return handle


def refused(status: int, message: str) -> Response:
    return _json(status, json.dumps({"message": message}))


def serve(model_dir: str, port: int, host: str = "127.0.0.1") -> None:
    """Load the model and serve until killed; prints one line when ready."""
    served = container.load(Path(model_dir))
    # SageMaker's invocation payload limit: 25 MB (serverless: 4 MB); the workflow sends far less.
    server = Server((host, port), make_handler(served), refused, Limits(max_body=25 * 1024 * 1024), name="model")
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
