"""HTTP/1.1 for the local API and the model hosts: h11 (a maintained HTTP/1.1 protocol
library) does the framing; this module only moves bytes between it and a socket, one thread
per connection.

What HTTP specifies, each answered with the caller's JSON error (`error_reply`), never a
hang or an HTML page:
- Content-Length or chunked bodies, and keep-alive, as h11 reads them;
- deadlines on the whole, not on each read (a client trickling a byte at a time gains
  nothing): a request's head (request line and headers) must be complete within
  `header_seconds` of its first byte, and its body within `body_seconds` of the head's end;
  past either, 408 and the connection closes (nothing was handed on);
- a malformed request line, header or Content-Length: 400 (the connection closes);
- a request line whose version is not HTTP/1.x (`HTTP/2.0`, `HTTP/3`, HTTP/2's preface): 505
  (RFC 9110 15.6.6; a later 1.x minor version is served as HTTP/1.1, RFC 9112 2.3);
- POST, PUT or PATCH with neither Content-Length nor chunked: 411;
- a body over `max_body`: 413, sent after the body was read and dropped (up to a bound), so
  that the client, still uploading, reads the 413 instead of a reset connection;
- headers over `max_header_bytes`: 431, or 414 when the request line alone is too long;
- a client that sends no byte of a request for `idle_seconds`, on a new or a kept-alive
  connection: closed without an answer.
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Protocol, Self

import h11

MAX_LINE = 8192  # request line (method, target, version): beyond it, 414
DRAIN_BYTES = 10 * 1024 * 1024  # an oversized body is read and dropped up to this, then the connection closes
LINGER_SECONDS = 2.0  # after a refusal, what the client still sends is read (and dropped) this long at most
# A request line as HTTP/1.x frames one; h11 parses only `HTTP/d.d` and takes any such version.
REQUEST_LINE = re.compile(rb"[^ ]+ [^ ]+ HTTP/(?P<major>[0-9]+)(?:\.[0-9]+)?")


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
    header_seconds: float = 10.0  # a request's whole head must arrive within this of its first byte
    body_seconds: float = 30.0  # and its whole body within this of the head's end
    idle_seconds: float = 60.0  # a connection with no byte of a request for this long is closed


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
        """The request line and headers, whole within header_seconds of the first byte (for a
        pipelined request, already in: of the previous answer); None when the connection
        closed or sent nothing for idle_seconds."""
        line = bytearray(http.trailing_data[0])  # what a pipelining client already sent
        if not line:
            line += _first_bytes(conn, self.limits.idle_seconds)
            if not line:
                return None
            http.receive_data(bytes(line))
        deadline = Deadline(self.limits.header_seconds, "headers")
        checked = _version_checked(line)
        while True:
            try:
                event = http.next_event()
            except h11.RemoteProtocolError as error:
                raise RequestRefused(*_refusal(error, http)) from None
            if event is not h11.NEED_DATA:
                break
            data = deadline.recv(conn)
            if not checked:
                line += data
                checked = _version_checked(line)
            http.receive_data(data)
        if isinstance(event, h11.ConnectionClosed):
            return None
        assert isinstance(event, h11.Request)
        return event

    def _read_body(self, conn: socket.socket, http: h11.Connection) -> bytes | None:
        """The whole body, within the limits and body_seconds of the head's end; None when the
        connection closed before its end."""
        deadline = Deadline(self.limits.body_seconds, "body")
        body = bytearray()
        while True:
            try:
                part = http.next_event()
            except h11.RemoteProtocolError as error:
                raise RequestRefused(400, f"the request's body is malformed: {error}") from None
            if part is h11.NEED_DATA:
                http.receive_data(deadline.recv(conn))
                continue
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
            _drain(conn, refused.drain, self.limits.body_seconds)
        with contextlib.suppress(OSError):
            conn.shutdown(socket.SHUT_WR)
        _drain(conn, DRAIN_BYTES, LINGER_SECONDS)


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


def _drain(conn: socket.socket, limit: int, seconds: float) -> None:
    """Read and drop up to `limit` bytes, for `seconds` at most in all."""
    deadline = Deadline(seconds, "body")
    left = limit
    with contextlib.suppress(OSError, RequestRefused):
        while left > 0:
            data = deadline.recv(conn, min(65536, left))
            if not data:
                return
            left -= len(data)


class Deadline:
    """One bound on the whole of a part of a request, however many reads it takes."""

    def __init__(self, seconds: float, part: str) -> None:
        self.seconds = seconds
        self.part = part
        self.ends = time.monotonic() + seconds

    def recv(self, conn: socket.socket, size: int = 65536) -> bytes:
        """The next bytes (b"" when the client closed); a 408 once the deadline has passed."""
        left = self.ends - time.monotonic()
        try:
            if left <= 0:
                raise TimeoutError
            conn.settimeout(left)
            return conn.recv(size)
        except TimeoutError:
            raise RequestRefused(408, f"the request's {self.part} did not arrive in {self.seconds:g} s") from None


def _first_bytes(conn: socket.socket, seconds: float) -> bytes:
    """The first bytes of a request; b"" when the client closed or sent nothing for `seconds`."""
    conn.settimeout(seconds)
    try:
        return conn.recv(65536)
    except TimeoutError:
        return b""


def _version_checked(pending: bytearray) -> bool:
    """Whether the request line is whole (so its version was checked): 505 for a version
    other than HTTP/1.x. h11 parses `HTTP/2.0` and serves it as HTTP/1.1, and refuses
    `HTTP/3` as a malformed line (400), so the line is checked here before h11 reads it."""
    end = pending.find(b"\n")
    if end < 0:
        return len(pending) > MAX_LINE  # too long to be a request line: h11 answers 414
    line = REQUEST_LINE.fullmatch(bytes(pending[:end]).rstrip(b"\r"))
    if line is not None and int(line["major"]) != 1:
        version = line.group(0).rsplit(b" ", 1)[1].decode("ascii")
        raise RequestRefused(505, f"{version} is not supported: this server speaks HTTP/1.1 (and 1.0)")
    return True
