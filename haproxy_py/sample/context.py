"""What a sample fetch reads: the one object the worker fills for each stream.

The rules engine is pure: it never touches a socket, a clock or a random generator of its
own. The worker builds a `SampleContext` per connection (addresses, proxy names), sets
`request`/`response` as the HTTP exchange goes, and passes it to the compiled callables.
Backend state (nbsrv, connslots, srv_is_up...) comes from an injected `BackendState`, which
reads the shared-memory table in the worker and a plain object in tests.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Address
from typing import Any, Protocol

Address = IPv4Address | IPv6Address
Headers = list[tuple[bytes, bytes]]  # (name, value) as received, in order


class BackendState(Protocol):
    """Live state of backends and servers, as the stats would show it."""

    def usable_servers(self, backend: str) -> int: ...  # nbsrv: servers up (and not maint)

    def connections(self, backend: str) -> int: ...  # be_conn: current connections

    def free_slots(self, backend: str) -> int: ...  # connslots: free conns + queue slots

    def server_is_up(self, backend: str, server: str) -> bool: ...


@dataclass(slots=True)
class HttpRequest:
    method: bytes
    target: bytes  # the request-target as received: "/p?q", "http://h/p", "*"
    version: bytes = b"HTTP/1.1"
    headers: Headers = field(default_factory=list)
    body: bytes = b""  # what is buffered of the body (req.payload, req.len count from 0 here)


@dataclass(slots=True)
class HttpResponse:
    status: int
    version: bytes = b"HTTP/1.1"
    headers: Headers = field(default_factory=list)
    body: bytes = b""
    reason: bytes = b""  # as received; set-status changes it with the status


@dataclass(slots=True)
class SampleContext:
    """Everything a fetch may read, and the variables a converter may write."""

    src: Address | None = None
    src_port: int = 0
    dst: Address | None = None
    dst_port: int = 0
    so_id: int = 0  # the listener's id
    frontend: str = ""
    backend: str = ""  # set once a backend is chosen
    server: str = ""  # set once a server is chosen
    request: HttpRequest | None = None
    response: HttpResponse | None = None
    # TCP mode: bytes buffered from the client so far (req.len, req.payload without HTTP)
    request_buffer: bytes = b""
    # tcp-response content: the server's first bytes, peeked (res.len, res.payload)
    response_buffer: bytes = b""
    # Content inspection: False while the buffer being inspected may still grow (an
    # inspect-delay runs); a payload fetch then sets `missing` when it lacks data, and the
    # rule waits (HAProxy's "may change" samples). True everywhere else.
    content_final: bool = True
    missing: bool = False
    # Variables by scope: "proc" is shared by the worker, the others live as long as their
    # scope (the worker empties txn/req/res per transaction).
    variables: dict[str, dict[str, Any]] = field(
        default_factory=lambda: {"proc": {}, "sess": {}, "txn": {}, "req": {}, "res": {}}
    )
    environment: Mapping[str, str] = field(default_factory=dict)
    clock: Callable[[], float] = time.time  # wall clock, seconds
    random: Callable[[int], int] = random.Random().randrange  # randrange(n) -> [0, n)
    backends: BackendState | None = None
    # http_auth's cache: the decoded Authorization header, once per request
    auth_cache: dict[str, Any] = field(default_factory=dict)
    # set-log-level: the syslog level of this transaction's log line (-1: the proxy's own
    # choice, 8: silent); the worker reads it at log time and puts it back to -1.
    log_level: int = -1
    # `tcp-request connection expect-proxy layer4`: a PROXY header is to be read next
    # (worker/proxy_header.py), as on an `accept-proxy` listener.
    expect_proxy: bool = False
    # The request's unique id (`unique-id` fetch): made on first read from unique-id-format
    # by the worker's logger, None when the frontend has no unique-id-format.
    unique_id: Callable[[], str] | None = None
    # Capture slots filled by `capture` actions (slot number -> value), logged by %hr/%hs
    request_captured: dict[int, bytes] = field(default_factory=dict)
    response_captured: dict[int, bytes] = field(default_factory=dict)

    def get_var(self, name: str) -> Any:
        scope, _, short = name.partition(".")
        return self.variables.get(scope, {}).get(short)

    def set_var(self, name: str, value: Any) -> None:
        scope, _, short = name.partition(".")
        self.variables.setdefault(scope, {})[short] = value
