"""The sans-IO HTTP/1.1 core: HAProxy 2.6's parsing strictness, h11's shape of API.

    front = FrontendConnection(limits)      # faces a client
    front.receive_data(data)                # b"" = the client closed
    event = front.next_event()              # Request, Data, EndOfMessage, ConnectionClosed,
                                            # NEED_DATA or PAUSED; raises H1Error(status, ...)
    wire = front.send(Response(...))        # then Data(...), EndOfMessage()
    if front.keep_alive: front.start_next_cycle()

`BackendConnection` is the same the other way round (faces a server; H1Error statuses are 502).

Parser choice: our own (bytes.find/split/partition/translate and compiled regexes), not
httptools/llhttp, although bench/http1_parse.py measures httptools' bare parser about 10x faster
on this machine (2026-11-21: 250k vs 24k small GETs/s, one by one). Reasons: llhttp's strict mode
does not frame like HAProxy 2.6 (it refuses Content-Length with Transfer-Encoding, where HAProxy
frames by TE and drops CL; it refuses bare LF and obs-fold, which HAProxy accepts), its lenient
flags would still need our checks on top, it reports no error offset, and it cannot pause
between pipelined requests without telling how many bytes it consumed. The head parser is one
function (head.py: parse_request_head / parse_response_head); swapping an llhttp-based one in
behind it, with framing.py's checks kept, is the next step if profiles show parsing matters.

Speed (2026-11-21, bench/http1_parse.py, this 2-core VM, best of many short rounds): heads take
a fast path (head.py: one regex findall validates and splits every CRLF header line, one
translate counts CR/LF/NUL to prove nothing was skipped, the framing headers are picked from
one list of lower-cased names) and fall back to the strict line-by-line parser, unchanged, for
anything unusual (bare LF, obs-fold, a bad byte, too many headers), so errors and their offsets
are the strict parser's (tests/unit/http1/test_fast_path.py checks both agree). A 357-byte GET
head parses in ~8 µs (was ~13.5), a 10-header response head in ~9 µs (was ~15); serialising
a head ~2.5-3 µs (was 3-3.6); a GET cycle on a FrontendConnection ~20-23 µs (was ~30); a
proxied exchange (request and 512-byte response through both sides, no syscalls) ~58 µs (was
~80); body Data taken whole from a receive_data bytes object is not copied (1 MB
Content-Length body 3.4x, chunked 2x faster). The floor of this design is the regex pass (~3 µs
a head); httptools' bare parser stays ~3x faster per head. Figures move 10-20 % between runs.

The plain exchange (plain.py; `FrontendConnection.take_plain_request`,
`BackendConnection.sent_plain_request`, `connection.pass_plain_response`): a whole canonical
request without body, and a whole Content-Length response, each recognised in one regex pass
and passed on as bytes with no event objects (~2 and ~5 µs on wrk's and nginx's messages),
leaving both connections in the state the event path would; the worker's fast path
(worker/http_fast.py) is built on it.
"""

from haproxy_py.proto.http1.connection import BackendConnection, FrontendConnection
from haproxy_py.proto.http1.events import (
    NEED_DATA,
    PAUSED,
    ConnectionClosed,
    Data,
    EndOfMessage,
    Event,
    H1Error,
    H1UsageError,
    Headers,
    Request,
    Response,
    Sentinel,
)
from haproxy_py.proto.http1.head import H1Limits

__all__ = [
    "NEED_DATA",
    "PAUSED",
    "BackendConnection",
    "ConnectionClosed",
    "Data",
    "EndOfMessage",
    "Event",
    "FrontendConnection",
    "H1Error",
    "H1Limits",
    "H1UsageError",
    "Headers",
    "Request",
    "Response",
    "Sentinel",
]
