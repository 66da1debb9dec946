"""What tests share: paths and request bodies (here), a scripted model host (model_hosts), a
small lake (lakes), and the template's API in front of stand-in services (gateway)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from benchmarks.stack import free_port as free_port

ROOT = Path(__file__).resolve().parent.parent.parent
EVENTS = ROOT / "tests" / "events"

# SageMaker's scikit-learn 1.9 image in the local region (us-east-1).
SKLEARN_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.9-0-cpu-py3"


def load_event(name: str) -> Any:
    """A request or event body from tests/events/."""
    return json.loads((EVENTS / name).read_text())


def post_json(url: str, body: dict[str, Any]) -> tuple[int, Any]:
    """POST a JSON body to a running stack: the status and the decoded answer, an error's too."""
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())
