"""`show errors`: the last invalid request and response each proxy refused, kept and shown.

A worker records a capture where it refuses a message its HTTP/1 core found invalid (the 400
of a bad request head, the 502 of a bad response): the date, the proxies and server involved,
the client's address, an event number, the bytes of the message it still holds (at most one
buffer's worth) and the position of the offending byte. Only the last capture per proxy and
direction is kept (a request's on its frontend, a response's on its backend), as HAProxy does,
so memory stays bounded by the number of proxies. This module is pure: the store, the search
for the start of the message in the connection's buffer, and the answer in HAProxy's layout
(the hex/ascii dump included). Rules: nothing here runs on the normal path, only on errors
and when asked.
"""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from haproxy_py.config.model import Config, Proxy

NO_SUCH_PROXY = "No such proxy.\n\n"
DEFAULT_BUFSIZE = 16384
_WRAP_RESERVE = 48  # HAProxy's buffers wrap this many bytes before their end (its HTX header)
_DUMP_WIDTH = 70  # output characters per dump line after the 9-character offset column
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_ESCAPES = {0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r", 0x1B: "\\e", 0x5C: "\\\\"}
# HAProxy's H1 parser states, by the number it prints.
_STATES = {
    "RQMETH": 2,
    "RQURI": 4,
    "RQVER": 6,
    "RPVER": 10,
    "RPCODE": 12,
    "RPREASON": 14,
    "HDR_NAME": 17,
    "HDR_VAL": 22,
    "CHUNK_SIZE": 26,
    "DATA": 27,
    "CHUNK_CRLF": 28,
    "TRAILERS": 29,
}


@dataclass(frozen=True)
class ErrorCapture:
    """One refused message. `proxy` holds the capture (the frontend for a request, the
    backend for a response); `other` is the proxy at the other end ("" when none yet)."""

    when: float  # time.time() of the refusal
    response: bool
    proxy: str
    other: str
    server: str  # "" when no server was involved
    event: int
    source: str  # the client's address, "ip:port"
    data: bytes
    position: int  # of the offending byte in `data`
    state: str  # a key of _STATES: where the parser was


class ErrorCaptures:
    """The last capture per (proxy, direction) and the count of every error event."""

    def __init__(self) -> None:
        self.events = 0
        self.last: dict[tuple[str, bool], ErrorCapture] = {}

    def next_event(self) -> int:
        """The number of a new error event (counted even when nothing is kept)."""
        event = self.events
        self.events += 1
        return event

    def keep(self, capture: ErrorCapture) -> None:
        self.last[(capture.proxy, capture.response)] = capture

    def captures(self) -> list[ErrorCapture]:
        return list(self.last.values())


# -- where the message starts in the connection's buffer --------------------------------------


def locate(buf: bytes, pos: int, offset: int, whole_head: bool) -> tuple[int, int]:
    """(start of the message, index of the offending byte) in `buf`.

    `pos` is where the HTTP/1 core stood when it raised and `offset` the error's position
    counted from the start of the message. After a complete head was taken (`whole_head`:
    head errors and bodies read with their head) `pos` is the end of that head, whose start
    follows the previous blank line; otherwise (a head too large, a body whose head came in
    an earlier read) the message's start is no longer known and the dump starts at `pos`."""
    if whole_head and _ends_head(buf, pos):
        start = head_start(buf, pos)
        return start, min(start + offset, len(buf))
    return pos, pos


def _ends_head(buf: bytes, end: int) -> bool:
    return buf.endswith(b"\n\n", 0, end) or buf.endswith(b"\n\r\n", 0, end)


def head_start(buf: bytes, end: int) -> int:
    """The start of the head ending at `end` (after its blank line): just after the blank
    line before it, or the start of the buffer, past any empty lines (skipped by parsers)."""
    limit = end - 2  # the head's own blank line is not the one looked for
    crlf, lf = buf.rfind(b"\n\r\n", 0, limit), buf.rfind(b"\n\n", 0, limit)
    found = max(crlf + 3 if crlf >= 0 else 0, lf + 2 if lf >= 0 else 0)
    while buf.startswith(b"\r\n", found, end):
        found += 2
    while buf.startswith(b"\n", found, end):
        found += 1
    return found


def parser_state(data: bytes, position: int, response: bool, reason: str) -> str:
    """Where HAProxy's parser would have been on the offending byte (a key of _STATES)."""
    head_end = max(data.find(b"\r\n\r\n"), -1)
    in_head = head_end < 0 or position < head_end + 2
    if not in_head or "chunk" in reason or "trailer" in reason:
        if "trailer" in reason:
            return "TRAILERS"
        if "line end after chunk" in reason:
            return "CHUNK_CRLF"
        return "CHUNK_SIZE" if "chunk" in reason else "DATA"
    line_start = data.rfind(b"\n", 0, position) + 1
    if line_start == 0:  # the start line
        spaces = data.count(b" ", 0, position)
        names = ("RPVER", "RPCODE", "RPREASON") if response else ("RQMETH", "RQURI", "RQVER")
        return names[min(spaces, 2)]
    colon = data.find(b":", line_start, position + 1)
    return "HDR_NAME" if colon < 0 or colon >= position else "HDR_VAL"


# -- the answer --------------------------------------------------------------------------------


def show_errors_answer(
    config: Config,
    captures: Iterable[ErrorCapture],
    events: int,
    words: Sequence[str] = (),
    *,
    now: float | None = None,
) -> str:
    """`show errors [<id>|<name>] [request|response]`: the kept captures, proxies in file
    order, a proxy's request before its response."""
    proxies = [proxy for proxy in config.proxies if proxy.kind != "defaults"]
    wanted = -1  # a negative id: every proxy
    if words:
        found = find_proxy(proxies, words[0])
        if found is None:
            return NO_SUCH_PROXY
        wanted = found
    direction = words[1] if len(words) > 1 and words[1] in ("request", "response") else ""
    ids = {proxy.name: proxy.uuid for proxy in proxies}
    bufsize = config.global_.setting("tune.bufsize") or DEFAULT_BUFSIZE
    order = {proxy.name: index for index, proxy in enumerate(proxies)}
    kept = sorted(
        (c for c in captures if c.proxy in ids),
        key=lambda c: (order[c.proxy], c.response),
    )
    moment = time.time() if now is None else now
    parts = [f"Total events captured on [{log_date(moment)}] : {events}\n"]
    for capture in kept:
        if direction and capture.response != (direction == "response"):
            continue
        if wanted >= 0 and wanted not in (ids[capture.proxy], ids.get(capture.other, -1)):
            continue
        server_id = _server_id(config, capture)
        parts.append(format_capture(capture, ids, server_id, bufsize))
    return "".join(parts) + "\n"


def find_proxy(proxies: Sequence[Proxy], word: str) -> int | None:
    """The id a `show errors` argument names: a proxy's name, `#<id>` of an existing proxy,
    else the number the word starts with (an id, or negative for all); None when that is 0
    ("request" and "response" alone are no proxy either)."""
    for proxy in proxies:
        if proxy.name == word or (word.startswith("#") and word[1:] == str(proxy.uuid)):
            return proxy.uuid
    match = re.match(r"\s*[-+]?\d+", word)
    number = int(match.group()) if match else 0
    return number or None


def _server_id(config: Config, capture: ErrorCapture) -> int:
    """The server's id in its backend: the capture's proxy for a response, else the other."""
    backend = capture.proxy if capture.response else capture.other
    for proxy in config.proxies:
        if proxy.name == backend and proxy.kind != "defaults":
            for index, server in enumerate(proxy.servers, 1):
                if server.name == capture.server:
                    return int(server.option("id") or index)
    return -1


def format_capture(
    capture: ErrorCapture, ids: dict[str, int], server_id: int = -1, bufsize: int = DEFAULT_BUFSIZE
) -> str:
    """One capture: its header lines then the dump, preceded by a line with one space."""
    side, other_side = ("backend", "frontend") if capture.response else ("frontend", "backend")
    other = f"{capture.other} (#{ids.get(capture.other, -1)})" if capture.other else "<NONE> (#-1)"
    server = f"{capture.server} (#{server_id})" if capture.server else "<NONE> (#-1)"
    size = len(capture.data)
    kind = "response" if capture.response else "request"
    number = _STATES[capture.state]
    return (
        " \n"
        f"[{log_date(capture.when)}] {side} {capture.proxy} (#{ids[capture.proxy]}):"
        f" invalid {kind}\n"
        f"  {other_side} {other}, server {server}, event #{capture.event},"
        f" src {capture.source}\n"
        f"  buffer starts at 0 (including 0 out), {bufsize - size} free,\n"
        f"  len {size}, wraps at {bufsize - _WRAP_RESERVE},"
        f" error at position {capture.position}\n"
        "  H1 connection flags 0x00000000, H1 stream flags 0x00000000\n"
        f"  H1 msg state MSG_{capture.state}({number}), H1 msg flags 0x00000000\n"
        "  H1 chunk len 0 bytes, H1 body len 0 bytes :\n"
        "  \n" + dump(capture.data)
    )


def dump(data: bytes) -> str:
    """HAProxy's dump: one input line per output line (long ones continued on lines whose
    offset is marked `+`), non-printable bytes escaped, at most 79 characters a line."""
    lines = []
    pos = 0
    line_start = 0
    size = len(data)
    while pos < size:
        mark = " " if pos == line_start else "+"
        first = pos
        text, pos = _dump_line(data, pos)
        lines.append(f"  {first:05d}{mark} {text}\n")
        if data[pos - 1] == 0x0A:
            line_start = pos
    return "".join(lines)


def _dump_line(data: bytes, pos: int) -> tuple[str, int]:
    out: list[str] = []
    width = 0
    while pos < len(data):
        byte = data[pos]
        if 0x20 <= byte < 0x7F and byte != 0x5C:
            piece = chr(byte)
        else:
            piece = _ESCAPES.get(byte) or f"\\x{byte:02X}"
        if width + len(piece) > _DUMP_WIDTH:
            break
        out.append(piece)
        width += len(piece)
        pos += 1
        if byte == 0x0A:
            break
    return "".join(out), pos


def log_date(moment: float) -> str:
    """`21/Nov/2026:18:23:12.731` in local time, as HAProxy dates its captures."""
    seconds, millis = divmod(round(moment * 1000), 1000)
    local = time.localtime(seconds)
    return (
        f"{local.tm_mday:02d}/{_MONTHS[local.tm_mon - 1]}/{local.tm_year}:"
        f"{local.tm_hour:02d}:{local.tm_min:02d}:{local.tm_sec:02d}.{millis:03d}"
    )


# -- between workers -------------------------------------------------------------------------


def encode_captures(store: ErrorCaptures) -> str:
    """One worker's captures for the worker answering `show errors` (one JSON line)."""
    kept = [{**vars(c), "data": base64.b64encode(c.data).decode()} for c in store.captures()]
    return json.dumps({"events": store.events, "captures": kept}) + "\n"


def decode_captures(text: str) -> tuple[int, list[ErrorCapture]]:
    """(events, captures) from encode_captures(); nothing from a malformed answer."""
    try:
        found = json.loads(text)
        captures = [
            ErrorCapture(**{**item, "data": base64.b64decode(item["data"])})
            for item in found["captures"]
        ]
        return int(found["events"]), captures
    except (ValueError, KeyError, TypeError):
        return 0, []


def merge_captures(parts: Iterable[tuple[int, list[ErrorCapture]]]) -> tuple[int, list]:
    """Every worker's events added; per proxy and direction the latest capture of any."""
    events = 0
    latest: dict[tuple[str, bool], ErrorCapture] = {}
    for count, captures in parts:
        events += count
        for capture in captures:
            key = (capture.proxy, capture.response)
            if key not in latest or capture.when > latest[key].when:
                latest[key] = capture
    return events, list(latest.values())
