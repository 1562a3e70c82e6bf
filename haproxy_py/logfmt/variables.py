"""The `%` variable table: name -> how to render it from a `LogRecord`.

Each entry says what the variable renders (a kind deciding quoting and the empty value),
whether it exists only in `mode http`, and how to read it from the record. Kinds:
- "num": an integer, never quoted (`+X` writes a few of them in hexadecimal, see `_HEX`);
- "str": text, "-" when empty, quoted with `+Q` (then "" when empty);
- "raw": text never quoted (termination states, dates);
- "ip": an address, quoted with `+Q`;
- "list": rendered by its own function (header captures), may write nothing at all.
`+E` escapes '"', '\\' and ']' with a backslash (for RFC5424 structured data).
Text coming from the network (request line, headers) is escaped: control characters, bytes
above 126, '"' and '#' become `#XX` (in header captures '{', '|' and '}' too), so a line
cannot be split or forged.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable
from dataclasses import dataclass

from haproxy_py.logfmt.record import LogRecord

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_UNSAFE = {c: f"#{c:02X}" for c in (*range(32), 34, 35, *range(127, 256))}


_UNSAFE_IN_CAPTURE = {**_UNSAFE, **{c: f"#{c:02X}" for c in b"{|}"}}


def escape_capture(text: str) -> str:
    """A captured header: also '{', '|' and '}', which frame the captures in the line."""
    if text.isascii() and text.isprintable() and not any(c in text for c in '"#{|}'):
        return text
    return "".join(_UNSAFE_IN_CAPTURE.get(ord(c), c) if ord(c) < 256 else c for c in text)


def escape(text: str) -> str:
    """Network text made safe for a log line (see the module's docstring)."""
    if text.isascii() and text.isprintable() and '"' not in text and "#" not in text:
        return text
    return "".join(_UNSAFE.get(ord(c), c) if ord(c) < 256 else c for c in text)


def _stamp(seconds: float, gmt: bool) -> time.struct_time:
    return time.gmtime(seconds) if gmt else time.localtime(seconds)


# date_ms()'s text up to the seconds, for the last second asked: every request of a busy
# second shares it (one localtime() and one formatting a second, not one a line).
_last_second: list = [None, ""]


def date_ms(seconds: float) -> str:
    """`21/Nov/2026:16:57:33.971`: local time with milliseconds (`%t`, `%tr`)."""
    whole = int(seconds)
    cached = _last_second
    if cached[0] != whole:
        t = time.localtime(seconds)
        cached[1] = (
            f"{t.tm_mday:02d}/{_MONTHS[t.tm_mon - 1]}/{t.tm_year}:"
            f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}."
        )
        cached[0] = whole
    return f"{cached[1]}{int(seconds * 1000) % 1000:03d}"


def date_zone(seconds: float, gmt: bool) -> str:
    """`21/Nov/2026:16:57:17 +0000` (`%T`, `%trg` in GMT; `%Tl`, `%trl` local)."""
    t = _stamp(seconds, gmt)
    offset = 0 if gmt else t.tm_gmtoff // 60
    sign = "-" if offset < 0 else "+"
    offset = abs(offset)
    return (
        f"{t.tm_mday:02d}/{_MONTHS[t.tm_mon - 1]}/{t.tm_year}:"
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} {sign}{offset // 60:02d}{offset % 60:02d}"
    )


def _path(uri: str) -> str:
    return uri.partition("?")[0]


def _query(uri: str) -> str:
    _, mark, query = uri.partition("?")
    return mark + query


def _path_only(uri: str) -> str:
    path = _path(uri)
    if "://" in path:  # absolute form: drop scheme and authority
        path = "/" + path.partition("://")[2].partition("/")[2]
    return path


def _tq(r: LogRecord) -> int:
    """Th + Ti + TR, -1 when the request head never came."""
    if r.t_request < 0:
        return -1
    return max(r.t_handshake, 0) + max(r.t_idle, 0) + r.t_request


def _tu(r: LogRecord) -> int:
    """Tt - Ti: the total time without the idle time before the request."""
    if r.t_total < 0:
        return -1
    return r.t_total - max(r.t_idle, 0)


@dataclass(frozen=True, slots=True)
class Variable:
    name: str
    kind: str  # "num" | "str" | "raw" | "ip" | "list"
    http_only: bool
    read: Callable[[LogRecord], object]
    summary: str
    hex_width: int = 0  # `+X` writes it in hexadecimal, this wide (0: `+X` does nothing)


def _v(name: str, kind: str, http: bool, read: Callable[[LogRecord], object], summary: str):
    return name, Variable(name, kind, http, read, summary, _HEX.get(name, 0))


def _ip_number(text: str) -> int:
    """An address as the integer `+X` writes (IPv4: 8 digits; IPv6 keeps its text)."""
    try:
        return int(ipaddress.ip_address(text.removeprefix("::ffff:")))
    except ValueError:
        return -1


# The variables HAProxy writes in hexadecimal under `+X`, and their widths.
_HEX = {"ci": 8, "fi": 8, "cp": 4, "fp": 4, "Ts": 8, "ms": 2, "rt": 4, "pid": 4}


VARIABLES: dict[str, Variable] = dict(
    (
        _v("ci", "ip", False, lambda r: r.client_ip, "client address"),
        _v("cp", "num", False, lambda r: r.client_port, "client port"),
        _v("fi", "ip", False, lambda r: r.frontend_ip, "address the client connected to"),
        _v("fp", "num", False, lambda r: r.frontend_port, "port the client connected to"),
        _v("f", "str", False, lambda r: r.frontend, "frontend name"),
        _v("ft", "str", False, lambda r: r.frontend, "frontend name ('~' for TLS)"),
        _v("b", "str", False, lambda r: r.backend, "backend name"),
        _v("s", "str", False, lambda r: r.server or "<NOSRV>", "server name"),
        _v("t", "raw", False, lambda r: date_ms(r.accept_date), "accept date, local, ms"),
        _v("tr", "raw", True, lambda r: date_ms(r.request_date), "request date, local, ms"),
        _v("trg", "raw", True, lambda r: date_zone(r.request_date, True), "request date, GMT"),
        _v("trl", "raw", True, lambda r: date_zone(r.request_date, False), "request date"),
        _v("T", "raw", False, lambda r: date_zone(r.accept_date, True), "accept date, GMT"),
        _v("Tl", "raw", False, lambda r: date_zone(r.accept_date, False), "accept date, local"),
        _v("Ts", "num", False, lambda r: int(r.accept_date), "accept date, UNIX time"),
        _v("ms", "raw", False, lambda r: f"{int(r.accept_date * 1000) % 1000:03d}", "accept ms"),
        _v("Th", "num", False, lambda r: r.t_handshake, "handshake time"),
        _v("Ti", "num", True, lambda r: r.t_idle, "idle time before the request"),
        _v("TR", "num", True, lambda r: r.t_request, "time to read the request head"),
        _v("Tq", "num", True, _tq, "Th+Ti+TR"),
        _v("Tw", "num", False, lambda r: r.t_queue, "time in queues"),
        _v("Tc", "num", False, lambda r: r.t_connect, "time to connect to the server"),
        _v("Tr", "num", True, lambda r: r.t_response, "server response time"),
        _v("Ta", "num", True, lambda r: r.t_active, "request active time"),
        _v("Tt", "num", False, lambda r: r.t_total, "total session time"),
        _v("Tu", "num", False, _tu, "Tt - Ti"),
        _v("ST", "num", False, lambda r: r.status, "status code"),
        _v("B", "num", False, lambda r: r.bytes_out, "bytes sent to the client"),
        _v("U", "num", False, lambda r: r.bytes_in, "bytes received from the client"),
        _v("CC", "str", True, lambda r: r.request_cookie, "captured request cookie"),
        _v("CS", "str", True, lambda r: r.response_cookie, "captured response cookie"),
        _v("ts", "raw", False, lambda r: r.termination, "termination state"),
        _v("tsc", "raw", True, lambda r: r.termination + r.cookies, "termination + cookie"),
        _v("ac", "num", False, lambda r: r.actconn, "connections in the process"),
        _v("fc", "num", False, lambda r: r.feconn, "connections on the frontend"),
        _v("bc", "num", False, lambda r: r.beconn, "connections on the backend"),
        _v("sc", "num", False, lambda r: r.srvconn, "connections on the server"),
        _v("rc", "num", False, lambda r: r.retries, "connection retries"),
        _v("sq", "num", False, lambda r: r.srv_queue, "server queue length"),
        _v("bq", "num", False, lambda r: r.backend_queue, "backend queue length"),
        _v("hr", "list", False, lambda r: r.request_captures, "request headers {a|b}"),
        _v("hs", "list", False, lambda r: r.response_captures, "response headers {a|b}"),
        _v("hrl", "list", False, lambda r: r.request_captures, "request headers, CLF"),
        _v("hsl", "list", False, lambda r: r.response_captures, "response headers, CLF"),
        _v("r", "str", True, lambda r: escape(r.request_line), "request line"),
        _v("HM", "str", True, lambda r: escape(r.method), "request method"),
        _v("HU", "str", True, lambda r: escape(r.uri), "request URI"),
        _v("HP", "str", True, lambda r: escape(_path(r.uri)), "request URI without query"),
        _v("HPO", "str", True, lambda r: escape(_path_only(r.uri)), "request path only"),
        _v("HQ", "str", True, lambda r: escape(_query(r.uri)), "request query string"),
        _v("HV", "str", True, lambda r: r.version, "request HTTP version"),
        _v("ID", "str", False, lambda r: r.unique_id, "unique id"),
        _v("H", "str", False, lambda r: r.hostname, "host name"),
        _v("pid", "num", False, lambda r: r.pid, "process id"),
        _v("rt", "num", False, lambda r: r.request_counter, "request counter"),
    )
)
