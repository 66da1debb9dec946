"""The workflow-outcome-to-HTTP mapping (the deployed API's response template does the same).

The request contract itself lives in template.yaml: the API's JSON Schemas (applied by API
Gateway, and locally by nrt/apigateway/rest_api.py) and the workflow's Validate state.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Answer:
    """An HTTP answer: status code and JSON body."""

    status: int
    body: dict[str, Any]


def error(status: int, name: str, message: str) -> Answer:
    return Answer(status, {"status": status, "error": name, "message": message})


def _carried(text: str) -> Answer | None:
    """The answer a Succeed output or a Fail cause carries ({status, error, message}), if any."""
    if not text.startswith('{"status"'):
        return None
    body = json.loads(text)
    return Answer(int(body["status"]), body)


def answer_from_execution(status: str, output: str | None, cause: str | None) -> Answer:
    """Map a workflow outcome to the HTTP answer (the deployed API's VTL does the same).

    The workflow ends a 4xx in a Succeed state whose output is the answer itself ({status,
    error, message}), and a 5xx in its Fail state with the answer as the cause; anything else
    that did not succeed is a 503.
    """
    if status == "SUCCEEDED" and output is not None:
        return _carried(output) or Answer(200, json.loads(output))
    if cause and (answer := _carried(cause)) is not None:
        return answer
    return error(503, "ModelUnavailable", f"the workflow ended with {status}")
