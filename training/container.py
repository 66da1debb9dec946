"""How SageMaker's scikit-learn container serves a model directory, for the local model host and
the check before a deploy: the serving module is the directory's `code/inference.py` when it
has one (your own code, deployed with --code), else this project's training/inference.py; its
`model_fn` loads the model, and `transform_fn`, or `input_fn`, `predict_fn` and `output_fn`
with the container's defaults for those left out, answer each request.

As in the container, an exception in your code answers 500; to refuse a request with a 4xx,
return a response with that status (training/inference.py returns 400 that way).
"""

from __future__ import annotations

import importlib.util
import json
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from training import inference

CODE = "code"
ENTRY_POINT = "inference.py"
REQUIREMENTS = "requirements.txt"


class ServingCodeError(Exception):
    """The serving code cannot be used as the container would use it; the message says why."""


@dataclass(frozen=True)
class Served:
    """A loaded model and the module that serves it."""

    module: ModuleType
    model: Any


def serving_module(model_dir: Path) -> ModuleType:
    """The directory's code/inference.py (imported as the container does), or training/inference.py."""
    entry = model_dir / CODE / ENTRY_POINT
    if not entry.is_file():
        return inference
    code = str(entry.parent.resolve())
    if code not in sys.path:
        sys.path.insert(0, code)  # the container puts the code directory on the path: helpers beside it import
    spec = importlib.util.spec_from_file_location("inference", entry)
    if spec is None or spec.loader is None:
        raise ServingCodeError(f"{entry} cannot be imported")
    module = importlib.util.module_from_spec(spec)
    sys.modules["inference"] = module  # imported by name, as the container imports it
    spec.loader.exec_module(module)
    if not hasattr(module, "model_fn"):
        raise ServingCodeError(f"{entry} has no model_fn: the scikit-learn container needs one to load the model")
    has_transform = hasattr(module, "transform_fn")
    if has_transform and any(hasattr(module, f) for f in ("input_fn", "predict_fn", "output_fn")):
        raise ServingCodeError(
            f"{entry} defines transform_fn and input_fn, predict_fn or output_fn: the container refuses both; keep one"
        )
    return module


def load(model_dir: Path) -> Served:
    """Import the serving module and load the model with its model_fn."""
    module = serving_module(model_dir)
    return Served(module, module.model_fn(str(model_dir)))


def _default_input(body: bytes | str, content_type: str) -> Any:
    import numpy as np

    if content_type.split(";")[0].strip() != "application/json":
        raise ValueError(f"content type {content_type!r} is not supported")
    return np.asarray(json.loads(body))


def _default_output(prediction: Any, accept: str) -> tuple[str, str]:
    value = prediction.tolist() if hasattr(prediction, "tolist") else prediction
    return json.dumps(value), "application/json"


def _text(body: Any) -> str:
    return body.decode() if isinstance(body, bytes) else str(body)


def _as_reply(result: Any) -> inference.Reply:
    """What the container makes of transform_fn's or output_fn's result."""
    if isinstance(result, inference.Reply):
        return result
    if hasattr(result, "body") and isinstance(getattr(result, "status", None), int):  # a Reply of a copied module
        return inference.Reply(result.body, result.status, getattr(result, "content_type", "application/json"))
    if isinstance(result, tuple):  # (body, content type), as the container accepts for compatibility
        content_type = result[1] if len(result) > 1 else "application/json"
        return inference.Reply(_text(result[0]), 200, str(content_type))
    if isinstance(result, bytes | str):
        return inference.Reply(_text(result))
    reply = _response_reply(result)
    if reply is None:
        raise ServingCodeError(f"the serving code answered a {type(result).__name__}, which the container cannot send")
    return reply


def _response_reply(result: Any) -> inference.Reply | None:
    """A response object of the toolkit's kind (a status and a body), else None."""
    status = getattr(result, "status_code", None) or getattr(result, "status", None)
    body = getattr(result, "response", None)
    if not isinstance(status, int) or body is None:
        return None
    if isinstance(body, list):
        body = b"".join(part if isinstance(part, bytes) else str(part).encode() for part in body)
    return inference.Reply(_text(body), status, getattr(result, "mimetype", "application/json"))


def answer(served: Served, body: bytes | str, content_type: str, accept: str) -> inference.Reply:
    """One request, as the container answers it (500 with the error for an exception in the code)."""
    module = served.module
    try:
        if hasattr(module, "transform_fn"):
            return _as_reply(module.transform_fn(served.model, body, content_type, accept))
        data = getattr(module, "input_fn", _default_input)(body, content_type)
        prediction = getattr(module, "predict_fn", lambda d, m: m.predict(d))(data, served.model)
        return _as_reply(getattr(module, "output_fn", _default_output)(prediction, accept))
    except Exception as error:  # the container answers any error in the serving code with a 500
        detail = {"error": type(error).__name__, "message": str(error), "trace": traceback.format_exc(limit=3)}
        return inference.Reply(json.dumps(detail), 500)
