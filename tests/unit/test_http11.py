"""nrt/http11.py over raw sockets: each framing case HTTP specifies gets the contract's JSON
answer (never a hang, an HTML page or a reset), and keep-alive survives what it should."""

from __future__ import annotations

import contextlib
import json
import select
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from nrt.apigateway.server import make_handler
from nrt.http11 import Limits, Request, Response, Server
from tests.helpers import load_event
from tests.helpers.gateway import HEADERS, make

LIMITS = Limits(max_body=1024 * 1024, max_header_bytes=8 * 1024, header_seconds=0.5, body_seconds=0.5, idle_seconds=0.5)


class Echo:
    def __init__(self) -> None:
        self.seen: list[Request] = []

    def __call__(self, request: Request) -> Response:
        self.seen.append(request)
        body = json.dumps({"method": request.method, "body": request.body.decode()}).encode()
        return Response(200, body, {"Content-Type": "application/json"})


def refused(status: int, message: str) -> Response:
    return Response(status, json.dumps({"status": status, "error": "E", "message": message}).encode())


@pytest.fixture
def echo() -> Iterator[tuple[Server, Echo]]:
    handler = Echo()
    server = Server(("127.0.0.1", 0), handler, refused, LIMITS).start()
    yield server, handler
    server.shutdown()
    server.server_close()


def exchange(server: Server, raw: bytes, wait: float = 5.0) -> bytes:
    """Send raw bytes, read until the server closes or `wait` passes."""
    with socket.create_connection(server.server_address, timeout=wait) as conn:
        conn.sendall(raw)
        conn.shutdown(socket.SHUT_WR) if raw.endswith(b"\r\n\r\n0\r\n\r\n") else None
        data = b""
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                part = conn.recv(65536)
            except TimeoutError:
                break
            if not part:
                break
            data += part
            if _complete(data):
                break
        return data


def _complete(data: bytes) -> bool:
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return False
    length = next(
        (int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")), 0
    )
    return len(body) >= length


def answer(data: bytes) -> tuple[int, dict[str, str], Any]:
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, json.loads(body) if body else None


def test_a_content_length_longer_than_the_body_is_a_408_and_nothing_is_handed_on(echo):
    server, handler = echo
    status, _, body = answer(exchange(server, b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 50\r\n\r\n{}"))
    assert status == 408 and "did not arrive" in body["message"]
    assert handler.seen == []


@pytest.mark.parametrize("length", [b"-1", b"abc", b"1, 2"])
def test_a_content_length_that_is_not_a_length_is_a_400(echo, length):
    server, handler = echo
    status, headers, body = answer(
        exchange(server, b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: " + length + b"\r\n\r\n{}")
    )
    assert status == 400 and body["status"] == 400
    assert headers["Connection"] == "close"
    assert handler.seen == []


def test_a_post_without_content_length_is_a_411(echo):
    server, _ = echo
    status, _, body = answer(exchange(server, b"POST /x HTTP/1.1\r\nHost: a\r\n\r\n"))
    assert status == 411 and "Content-Length" in body["message"]


def test_a_chunked_body_is_read_whole_and_the_kept_alive_connection_serves_the_next_request(echo):
    server, _handler = echo
    with socket.create_connection(server.server_address, timeout=5) as conn:
        conn.sendall(
            b'POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{"a\r\n5\r\n": 1}\r\n0\r\n\r\n'
        )
        first = _read_one(conn)
        conn.sendall(b"POST /y HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n[]")
        second = _read_one(conn)
    assert answer(first)[2] == {"method": "POST", "body": '{"a": 1}'}
    assert answer(second)[2] == {"method": "POST", "body": "[]"}


def _read_one(conn: socket.socket) -> bytes:
    data = b""
    while not _complete(data):
        part = conn.recv(65536)
        if not part:
            raise AssertionError(f"closed after {data!r}")
        data += part
    return data


def test_head_gets_the_headers_and_no_body(echo):
    server, _ = echo
    with socket.create_connection(server.server_address, timeout=5) as conn:
        conn.sendall(b"HEAD /x HTTP/1.1\r\nHost: a\r\n\r\nGET /x HTTP/1.1\r\nHost: a\r\n\r\n")
        time.sleep(0.3)
        data = conn.recv(65536)
    head, _, rest = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and b"Content-Length" in head
    assert rest.startswith(b"HTTP/1.1 200")  # the next answer follows at once: no body after HEAD's


def test_headers_over_the_limit_are_a_431_and_a_long_request_line_a_414(echo):
    server, _ = echo
    big = b"GET /x HTTP/1.1\r\nHost: a\r\n" + b"".join(b"X-%d: %s\r\n" % (i, b"v" * 100) for i in range(200)) + b"\r\n"
    assert answer(exchange(server, big))[0] == 431
    assert answer(exchange(server, b"GET /" + b"a" * 20_000 + b" HTTP/1.1\r\nHost: a\r\n\r\n"))[0] == 414


def test_a_client_that_sends_half_its_headers_then_nothing_gets_a_408_and_does_not_hold_a_thread(echo):
    server, _ = echo
    started = time.monotonic()
    data = exchange(server, b"POST /x HTTP/1.1\r\nHost: a\r\n", wait=10)
    assert answer(data)[0] == 408
    assert time.monotonic() - started < 5


def test_an_idle_kept_alive_connection_is_closed(echo):
    server, _ = echo
    with socket.create_connection(server.server_address, timeout=10) as conn:
        started = time.monotonic()
        assert conn.recv(10) == b""  # closed by the server, without an answer to no request
        assert time.monotonic() - started < 5


def test_expect_100_continue_is_answered_before_the_body(echo):
    server, _ = echo
    with socket.create_connection(server.server_address, timeout=5) as conn:
        conn.sendall(b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n")
        assert conn.recv(100).startswith(b"HTTP/1.1 100")
        conn.sendall(b"[]")
        assert answer(_read_one(conn))[0] == 200


@pytest.mark.parametrize("run", range(5))
def test_a_body_over_the_limit_is_a_413_that_an_uploading_client_reads(echo, run):
    server, handler = echo
    host, port = server.server_address
    request = urllib.request.Request(
        f"http://{host}:{port}/x", data=b"x" * (2 * 1024 * 1024), headers={"Content-Type": "application/json"}
    )
    with pytest.raises(urllib.error.HTTPError) as refused_:
        urllib.request.urlopen(request, timeout=10)
    assert refused_.value.code == 413
    assert json.loads(refused_.value.read())["status"] == 413
    assert handler.seen == []


# --- deadlines on the whole head and the whole body, not on each read (slowloris) -------------

# Each read here comes well within the per-read timeouts a slow client could otherwise
# stretch forever: a byte every 0.5 s against 2 s bounds on the whole.
SLOW = Limits(max_body=1024 * 1024, max_header_bytes=8 * 1024, header_seconds=2.0, body_seconds=2.0, idle_seconds=5.0)
SLACK = 2.0  # seconds past a deadline the answer may take on a loaded machine


@pytest.fixture
def slow() -> Iterator[tuple[Server, Echo]]:
    handler = Echo()
    server = Server(("127.0.0.1", 0), handler, refused, SLOW).start()
    yield server, handler
    server.shutdown()
    server.server_close()


def trickle(
    server: Server, head: bytes, slowly: bytes, every: float = 0.5, wait: float = 15.0
) -> tuple[bytes, float | None, bool]:
    """Send `head` at once, then `slowly` a byte every `every` s until an answer comes: (what
    came back, seconds from the first byte sent to the first byte of the answer, whether the
    server closed the connection)."""
    with socket.create_connection(server.server_address, timeout=wait) as conn:
        started = time.monotonic()
        if head:
            conn.sendall(head)
        data, answered, pending = b"", None, list(slowly)
        while time.monotonic() < started + wait:
            if pending and not data:
                with contextlib.suppress(OSError):
                    conn.sendall(bytes([pending.pop(0)]))
            if not select.select([conn], [], [], every)[0]:
                continue
            try:
                part = conn.recv(65536)
            except ConnectionResetError:
                part = b""
            if not part:
                return data, answered, True
            answered = answered if answered is not None else time.monotonic() - started
            data += part
        return data, answered, False


def test_headers_trickled_a_byte_at_a_time_get_a_408_at_the_head_deadline_and_close(slow):
    server, handler = slow
    data, answered, closed = trickle(server, b"", b"POST /x HTTP/1.1\r\nHost: a\r\nX-Slow: " + b"v" * 100)
    status, headers, body = answer(data)
    assert (status, body["status"]) == (408, 408) and "headers did not arrive in 2 s" in body["message"]
    assert headers["Connection"] == "close" and closed
    assert answered is not None and answered < SLOW.header_seconds + SLACK
    assert handler.seen == []


@pytest.mark.parametrize(
    ("head", "slowly"),
    [
        (b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n", b"[" + b" " * 98 + b"]"),
        (b"POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", b"1\r\n \r\n" * 30),
    ],
    ids=["content-length", "chunked"],
)
def test_a_body_trickled_a_byte_at_a_time_gets_a_408_at_the_body_deadline_and_closes(slow, head, slowly):
    server, handler = slow
    data, answered, closed = trickle(server, head, slowly)
    status, headers, body = answer(data)
    assert (status, body["status"]) == (408, 408) and "body did not arrive in 2 s" in body["message"]
    assert headers["Connection"] == "close" and closed
    assert answered is not None and answered < SLOW.body_seconds + SLACK
    assert handler.seen == []


def test_the_head_deadline_runs_from_each_requests_first_byte_so_kept_alive_requests_still_work(slow):
    server, handler = slow
    request = b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n[]"
    with socket.create_connection(server.server_address, timeout=5) as conn:
        time.sleep(1.5)  # idle before the first byte: not the head's time
        conn.sendall(request[:10])
        time.sleep(0.5)  # a head in two parts, whole within its deadline
        conn.sendall(request[10:])
        assert answer(_read_one(conn))[0] == 200
        for _ in range(2):  # the connection outlives one head deadline; each request has its own
            time.sleep(1.2)
            conn.sendall(request)
            assert answer(_read_one(conn))[0] == 200
    assert len(handler.seen) == 3


# --- the request line's HTTP version -----------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b"GET /x HTTP/2.0\r\nHost: a\r\n\r\n",  # h11 parses it and would serve it as HTTP/1.1
        b"GET /x HTTP/2.0\r\n\r\n",
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",  # HTTP/2's connection preface (prior knowledge)
        b"GET /x HTTP/3\r\nHost: a\r\n\r\n",  # h11 calls it a malformed line
        b"GET /x HTTP/0.9\r\nHost: a\r\n\r\n",
        b"GET /x HTTP/10.1\r\nHost: a\r\n\r\n",
    ],
)
def test_a_request_line_whose_version_is_not_http_1_is_a_505(echo, raw):
    server, handler = echo
    data = exchange(server, raw)
    assert data.startswith(b"HTTP/1.1 505 HTTP Version Not Supported\r\n")
    status, headers, body = answer(data)
    assert (status, body["status"]) == (505, 505)
    assert headers["Connection"] == "close"
    assert handler.seen == []


def test_a_version_checked_line_split_across_reads_is_a_505(echo):
    server, handler = echo
    with socket.create_connection(server.server_address, timeout=5) as conn:
        conn.sendall(b"GET /x HTTP/2")
        time.sleep(0.1)
        conn.sendall(b".0\r\nHost: a\r\n\r\n")
        assert answer(_read_one(conn))[0] == 505
    assert handler.seen == []


@pytest.mark.parametrize("version", [b"1.0", b"1.1", b"1.2"])  # a later 1.x minor: as HTTP/1.1 (RFC 9112 2.3)
def test_http_1_x_is_served(echo, version):
    server, _ = echo
    data = exchange(server, b"POST /x HTTP/" + version + b"\r\nHost: a\r\nContent-Length: 2\r\n\r\n[]")
    assert answer(data)[:3:2] == (200, {"method": "POST", "body": "[]"})


def test_a_pipelined_request_with_another_version_after_a_good_one_is_a_505(echo):
    server, handler = echo
    good = b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n"
    with socket.create_connection(server.server_address, timeout=5) as conn:
        conn.sendall(good + b"GET /y HTTP/2.0\r\nHost: a\r\n\r\n")
        data = b""
        while part := conn.recv(65536):  # the server closes after the 505
            data += part
    first, _, rest = data.partition(b"\r\n\r\n")
    length = int(next(line for line in first.split(b"\r\n") if line.startswith(b"Content-Length")).split(b":")[1])
    assert answer(first + b"\r\n\r\n" + rest[:length])[0] == 200
    assert answer(rest[length:])[0] == 505
    assert len(handler.seen) == 1


# --- the local API's own answers ---------------------------------------------------------------


@pytest.fixture
def local_api() -> Iterator[Server]:
    api, _ = make()
    handle, refuse = make_handler(api)
    server = Server(("127.0.0.1", 0), handle, refuse, LIMITS).start()
    yield server
    server.shutdown()


@pytest.mark.parametrize("method", ["HEAD", "OPTIONS", "PATCH", "BREW"])
def test_a_method_the_api_does_not_define_is_api_gateways_403_json(local_api, method):
    body = b"{}" if method in {"PATCH", "BREW"} else b""
    length = b"Content-Length: 2\r\n" if body else b""
    raw = method.encode() + b" /predictions HTTP/1.1\r\nHost: a\r\n" + length + b"\r\n" + body
    data = exchange(local_api, raw)
    assert data.startswith(b"HTTP/1.1 403")
    if method != "HEAD":
        assert answer(data)[2]["status"] == 403


@pytest.mark.parametrize(
    ("raw", "status", "error"),
    [
        (b"POST /predictions HTTP/1.1\r\nHost: a\r\n\r\n", 411, "LengthRequired"),
        (b"POST /predictions HTTP/1.1\r\nHost: a\r\nContent-Length: abc\r\n\r\n", 400, "BadRequest"),
        (b"GET /" + b"a" * 20_000 + b" HTTP/1.1\r\nHost: a\r\n\r\n", 414, "URITooLong"),
        (b"GET /models HTTP/1.1\r\nHost: a\r\nX-Big: " + b"v" * 20_000 + b"\r\n\r\n", 431, "HeadersTooLarge"),
    ],
)
def test_what_http_refuses_is_the_contracts_json_error(local_api, raw, status, error):
    code, headers, body = answer(exchange(local_api, raw))
    assert (code, body["status"], body["error"]) == (status, status, error)
    assert headers["Content-Type"] == "application/json"


def test_an_http_2_request_line_is_the_local_apis_json_505(local_api):
    code, headers, body = answer(exchange(local_api, b"POST /predictions HTTP/2.0\r\nHost: a\r\n\r\n"))
    assert (code, body["status"], body["error"]) == (505, 505, "HTTPVersionNotSupported")
    assert headers["Content-Type"] == "application/json"


def test_the_local_api_answers_readings_over_a_kept_alive_connection(local_api):
    body = json.dumps(load_event("reading.json")).encode()
    head = b"".join(f"{k}: {v}\r\n".encode() for k, v in HEADERS.items())
    raw = b"POST /predictions HTTP/1.1\r\nHost: a\r\n" + head + b"Content-Length: %d\r\n\r\n" % len(body) + body
    with socket.create_connection(local_api.server_address, timeout=5) as conn:
        for _ in range(3):
            conn.sendall(raw)
            assert answer(_read_one(conn))[0] == 200
