"""The local API's own failures: answered as JSON, and the server keeps serving."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from typing import Any

import pytest

from nrt.api import LocalApi, make_handler


def test_a_route_that_breaks_answers_500_json_and_the_api_keeps_serving():
    def broken(_: bytes) -> Any:
        raise RuntimeError("bug")

    server = LocalApi(("127.0.0.1", 0), make_handler({("GET", "/boom"): broken}, None))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/boom"
        for _ in range(2):
            with pytest.raises(urllib.error.HTTPError) as caught:
                urllib.request.urlopen(url, timeout=10)
            assert caught.value.code == 500
            assert json.loads(caught.value.read())["error"] == "InternalError"
    finally:
        server.shutdown()
        server.server_close()
