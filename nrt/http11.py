"""HTTP/1.1 for the local API and the model hosts: h11 (a maintained HTTP/1.1 protocol
library) does the framing; this module only moves bytes between it and a socket, one thread
per connection.

What HTTP specifies, each answered with the caller's JSON error (`error_reply`), never a
hang or an HTML page:
- Content-Length or chunked bodies, and keep-alive, as h11 reads them; a body that does not
  arrive in `body_seconds` is a 408 (nothing was handed on);
- a malformed request line, header or Content-Length: 400 (the connection closes);
- POST, PUT or PATCH with neither Content-Length nor chunked: 411;
- a body over `max_body`: 413, sent after the body was read and dropped (up to a bound), so
  that the client, still uploading, reads the 413 instead of a reset connection;
- headers over `max_header_bytes`: 431, or 414 when the request line alone is too long;
- a client that sends nothing for `idle_seconds` on a kept-alive connection: closed.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Protocol, Self

import h11

MAX_LINE = 8192  # request line (method, target, version): beyond it, 414
DRAIN_BYTES = 10 * 1024 * 1024  # an oversized body is read and dropped up to this, then the connection closes


@dataclass
class Request:
    method: str
    target: str
    headers: dict[str, str]  # names as sent; look-ups should ignore case
    body: bytes

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == wanted), None)


class ResponseLike(Protocol):
    """What a handler answers: Response here, or any object of the same shape (the gateway's
    Reply is one)."""

    @property
    def status(self) -> int: ...
    @property
    def body(self) -> bytes: ...
    @property
    def headers(self) -> dict[str, str]: ...


@dataclass
class Response:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Request], ResponseLike]
# (status, message) -> the answer for a request refused by HTTP's rules
ErrorReply = Callable[[int, str], ResponseLike]


class RequestRefused(Exception):
    def __init__(self, status: int, message: str, drain: int = 0) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.drain = drain  # body bytes still to read and drop before answering


@dataclass
class Limits:
    max_body: int = 10 * 1024 * 1024
    max_header_bytes: int = 16 * 1024
    header_seconds: float = 10.0  # a request's headers must arrive within this
    body_seconds: float = 30.0  # and its body within this
    idle_seconds: float = 60.0  # a kept-alive connection with no request for this long is closed


class Server:
    """A threaded HTTP/1.1 server on h11. `start()` serves in a background thread."""

    def __init__(
        self,
        address: tuple[str, int],
        handler: Handler,
        error_reply: ErrorReply,
        limits: Limits | None = None,
        name: str = "nrt",
    ) -> None:
        self.handler = handler
        self.error_reply = error_reply
        self.limits = limits or Limits()
        self.name = name
        self.socket = socket.create_server(address, backlog=256)
        self.server_address: tuple[str, int] = self.socket.getsockname()[:2]
        self._stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._lock = threading.Lock()

    def start(self) -> Self:
        threading.Thread(target=self.serve_forever, name=f"{self.name}-http", daemon=True).start()
        return self

    def serve_forever(self) -> None:
        while not self._stopping.is_set():
            try:
                conn, _ = self.socket.accept()
            except OSError:
                return  # closed by shutdown()
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self._connections.add(conn)
            threading.Thread(target=self._serve, args=(conn,), name=f"{self.name}-conn", daemon=True).start()

    def shutdown(self) -> None:
        """Stop accepting; a connection ends after the answer in flight (server_close() ends
        the idle ones)."""
        self._stopping.set()
        with contextlib.suppress(OSError):
            self.socket.shutdown(socket.SHUT_RDWR)
        self.socket.close()

    def server_close(self) -> None:
        with self._lock:
            for conn in list(self._connections):
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RD)

    # --- one connection ---------------------------------------------------------------------------

    def _serve(self, conn: socket.socket) -> None:
        http = h11.Connection(h11.SERVER, max_incomplete_event_size=self.limits.max_header_bytes)
        try:
            while not self._stopping.is_set():
                try:
                    request = self._read_request(conn, http)
                except RequestRefused as refused:
                    self._refuse(conn, http, refused)
                    return
                if request is None:
                    return
                response = self.handler(request)
                if not self._send(conn, http, response, head=request.method == "HEAD"):
                    return
                if http.our_state is h11.MUST_CLOSE or self._stopping.is_set():
                    return
                http.start_next_cycle()
        except (OSError, h11.ProtocolError):
            return
        finally:
            with self._lock:
                self._connections.discard(conn)
            with contextlib.suppress(OSError):
                conn.close()

    def _next(self, conn: socket.socket, http: h11.Connection, seconds: float, waiting: str) -> object:
        """The next event; waiting "idle" for a request: `seconds` for its first byte, then
        header_seconds for the rest of its headers."""
        while True:
            event = http.next_event()
            if event is not h11.NEED_DATA:
                return event
            started = waiting == "idle" and bool(http.trailing_data[0])
            timeout = self.limits.header_seconds if started else seconds
            conn.settimeout(timeout)
            try:
                data = conn.recv(65536)
            except TimeoutError:
                if waiting == "idle" and not started:
                    return None
                part = "headers" if waiting == "idle" else waiting
                raise RequestRefused(408, f"the request's {part} did not arrive in {timeout:g} s") from None
            http.receive_data(data)

    def _read_request(self, conn: socket.socket, http: h11.Connection) -> Request | None:
        event = self._read_head(conn, http)
        if event is None:
            return None
        method, headers = _checked_head(event, self.limits)
        if http.client_is_waiting_for_100_continue:
            conn.sendall(http.send(h11.InformationalResponse(status_code=100, headers=[])) or b"")
        body = self._read_body(conn, http)
        if body is None:  # the connection closed mid-body
            return None
        return Request(method, event.target.decode("latin-1"), headers, body)

    def _read_head(self, conn: socket.socket, http: h11.Connection) -> h11.Request | None:
        """The request line and headers; None when the connection closed or stayed idle."""
        try:
            event = self._next(conn, http, self.limits.idle_seconds, "idle")
        except h11.RemoteProtocolError as error:
            raise RequestRefused(*_refusal(error, http)) from None
        if event is None or isinstance(event, h11.ConnectionClosed):
            return None
        assert isinstance(event, h11.Request)
        return event

    def _read_body(self, conn: socket.socket, http: h11.Connection) -> bytes | None:
        """The whole body, within the limits; None when the connection closed before its end."""
        body = bytearray()
        while True:
            try:
                part = self._next(conn, http, self.limits.body_seconds, "body")
            except h11.RemoteProtocolError as error:
                raise RequestRefused(400, f"the request's body is malformed: {error}") from None
            if isinstance(part, h11.EndOfMessage):
                return bytes(body)
            if not isinstance(part, h11.Data):
                return None
            body += part.data
            if len(body) > self.limits.max_body:
                raise RequestRefused(413, f"the body is over {self.limits.max_body} bytes", drain=DRAIN_BYTES)

    def _send(self, conn: socket.socket, http: h11.Connection, response: ResponseLike, head: bool = False) -> bool:
        headers = [(k, v) for k, v in response.headers.items() if k.lower() != "content-length"]
        headers.append(("Content-Length", str(len(response.body))))
        try:
            out = http.send(h11.Response(status_code=response.status, headers=headers)) or b""
            if not head:
                out += http.send(h11.Data(data=response.body)) or b""
            out += http.send(h11.EndOfMessage()) or b""
            conn.sendall(out)
        except (OSError, h11.LocalProtocolError):
            return False
        return True

    def _refuse(self, conn: socket.socket, http: h11.Connection, refused: RequestRefused) -> None:
        """ResponseLike a request HTTP's rules refuse, then close (after reading what the client is
        still sending, up to a bound, so that it reads the answer)."""
        response = self.error_reply(refused.status, refused.message)
        headers = {**response.headers, "Connection": "close"}
        data = _raw_response(refused.status, response.body, headers)
        with contextlib.suppress(OSError):
            conn.sendall(data)
        if refused.drain:
            _drain(conn, refused.drain)
        with contextlib.suppress(OSError):
            conn.shutdown(socket.SHUT_WR)
        _drain(conn, DRAIN_BYTES, seconds=2.0)


def _checked_head(event: h11.Request, limits: Limits) -> tuple[str, dict[str, str]]:
    """The method and headers of a request whose head HTTP's rules and the limits allow."""
    # h11 bounds a request it is still waiting for; one that arrived whole in a single
    # read is measured here.
    if len(event.target) > MAX_LINE:
        raise RequestRefused(414, "the request line is too long")
    if sum(len(k) + len(v) + 4 for k, v in event.headers) > limits.max_header_bytes:
        raise RequestRefused(431, "the request's headers are too large")
    method = event.method.decode("ascii", "replace")
    headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in event.headers}
    length = _body_length(method, {k.lower(): v for k, v in headers.items()})
    if length is not None and length > limits.max_body:
        raise RequestRefused(413, f"the body is over {limits.max_body} bytes", drain=length)
    return method, headers


def _body_length(method: str, lowered: dict[str, str]) -> int | None:
    """The Content-Length, if any; a request that sends a body must say how long it is, or chunk it."""
    length = int(lowered["content-length"]) if "content-length" in lowered else None
    chunked = "chunked" in lowered.get("transfer-encoding", "").lower()
    if method in {"POST", "PUT", "PATCH"} and length is None and not chunked:
        raise RequestRefused(411, "a request body needs a Content-Length (or chunked transfer encoding)")
    return length


def _refusal(error: h11.RemoteProtocolError, http: h11.Connection) -> tuple[int, str]:
    hint = int(getattr(error, "error_status_hint", 400))
    if hint == 431:
        pending = bytes(http.trailing_data[0])
        line = pending.split(b"\r\n", 1)[0]
        if b"\r\n" not in pending or len(line) > MAX_LINE:
            return 414, "the request line is too long"
        return 431, "the request's headers are too large"
    return 400, f"the request is not valid HTTP/1.1: {error}"


def _raw_response(status: int, body: bytes, headers: dict[str, str]) -> bytes:
    """A whole answer outside h11's state machine (h11 has given up on this connection)."""
    lines = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}"]
    lines += [f"{k}: {v}" for k, v in headers.items() if k.lower() != "content-length"]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def _drain(conn: socket.socket, limit: int, seconds: float = 5.0) -> None:
    conn.settimeout(seconds)
    left = limit
    with contextlib.suppress(OSError):
        while left > 0:
            data = conn.recv(min(65536, left))
            if not data:
                return
            left -= len(data)
