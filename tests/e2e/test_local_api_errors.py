"""The local API's own failures: answered as JSON, and the server keeps serving."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest

from nrt.apigateway.server import LocalApi, make_handler
from tests.helpers.gateway import HEADERS, make


def test_an_integration_that_breaks_answers_500_json_and_the_api_keeps_serving():
    def broken(action: str, request: dict[str, Any]) -> Any:
        raise RuntimeError("bug")

    api, _ = make(broken)
    server = LocalApi(("127.0.0.1", 0), *make_handler(api)).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/events"
        for _ in range(2):
            request = urllib.request.Request(url, data=b'{"model": "m"}', headers=HEADERS, method="POST")
            with pytest.raises(urllib.error.HTTPError) as caught:
                urllib.request.urlopen(request, timeout=10)
            assert caught.value.code == 500
            assert json.loads(caught.value.read())["error"] == "InternalError"
    finally:
        server.shutdown()
        server.server_close()
