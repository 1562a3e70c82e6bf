"""Parsing one message head (start line and header fields) with HAProxy 2.6's strictness.

Owns: finding where a head ends, the request line and status line grammars, header field
syntax, and the limits (`H1Limits`). It does not decide framing (framing.py does) and keeps no
state between calls. Rules, each checked against HAProxy 2.6.12 (see tests/unit/http1):
- lines end in CRLF or a bare LF (HAProxy accepts both); a CR anywhere else is an error;
- method and header names are RFC 9110 tokens; the target refuses controls, space, DEL,
  bytes above 127 and '#' (`accept_invalid` allows the last three, as
  `option accept-invalid-http-request` does); the version is exactly `HTTP/<digit>.<digit>`;
- obs-fold is unfolded into spaces (HAProxy forwards "a   b"), unless `reject_obs_fold`;
  framing headers are judged on their unfolded value, as HAProxy does;
- NUL anywhere in a head is refused: stricter than HAProxy 2.6.12, which forwards it;
- a head longer than `max_head_size` (tune.bufsize - tune.maxrewrite = 15360) or with more
  than `max_headers` lines counting the start line (tune.http.maxhdr = 101) is refused.
Errors carry the status HAProxy answers: 400 for requests, 502 for responses.
Speed: `parse_request_head` / `parse_response_head` first try a fast path (`_fast_fields`: one
regex findall over the whole head, proved complete by counting CR, LF and NUL) that accepts
only heads the strict parsers (`parse_*_head_strict`) accept, with the same result; anything
else goes to the strict parsers, which alone produce errors.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from operator import itemgetter

from haproxy_py.proto.http1.events import H1Error, Headers, Request, Response

TOKEN_CHARS = b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_TOKEN_RE = rb"[-!#$%&'*+.^_`|~0-9A-Za-z]+"
_REQUEST_LINE = re.compile(
    rb"(" + _TOKEN_RE + rb")[ \t]+([\x21\x22\x24-\x7e]+)[ \t]+HTTP/([0-9])\.([0-9])"
)
_REQUEST_LINE_LAX = re.compile(
    rb"(" + _TOKEN_RE + rb")[ \t]+([\x21-\x7e\x80-\xff]+)[ \t]+[A-Z]+/([0-9]+)\.([0-9]+)"
)
_REASON = rb"(?:[ \t]+([^\x00-\x08\x0a-\x1f\x7f]*))?"
_STATUS_LINE = re.compile(rb"HTTP/([0-9])\.([0-9])[ \t]+([0-9]{3})" + _REASON)
_STATUS_LINE_LAX = re.compile(rb"[A-Z]+/([0-9]+)\.([0-9]+)[ \t]+([0-9]{3})" + _REASON)
_H2_PREFACE = b"PRI * HTTP/2.0"
# The fast path's header line: one whole CRLF-ended line (the lookbehind anchors it at a line
# start, and nothing in it matches LF but the final CRLF), name and value with the value's
# blanks trimmed as `bytes.strip(b" \t")` does. `.` also takes CR and NUL: the caller counts
# those. The lax name is what `_LENIENT_NAME_DELETE` lets through, up to the first colon.
_FIELD_VALUE = rb"):[ \t]*((?:.*[^ \t\r\n])?)[ \t]*\r\n"
_FIELD = re.compile(rb"(?<=\n)(" + _TOKEN_RE + _FIELD_VALUE)
_FIELD_LAX = re.compile(rb"(?<=\n)([^\x00-\x20\x7f:]+" + _FIELD_VALUE)
_VERSION_11 = (b"1", b"1")
_first = itemgetter(0)
_LENIENT_NAME_DELETE = b" \t" + bytes(range(32)) + b"\x7f"


@dataclass(frozen=True, slots=True)
class H1Limits:
    """Parser limits and relaxations, filled from the configuration by the caller."""

    max_head_size: int = 16384 - 1024  # tune.bufsize - tune.maxrewrite
    max_headers: int = 101  # tune.http.maxhdr: header lines plus the start line
    accept_invalid: bool = False  # option accept-invalid-http-request / -response
    reject_obs_fold: bool = False


DEFAULT_LIMITS = H1Limits()


class HeadInfo:
    """What framing needs from the headers, collected during the one parsing pass.

    Lists hold (header index, value, offset of the line in the message) for content_length,
    transfer_encoding and host, the values for connection, upgrade and expect. The class
    holds the empty defaults (shared tuples, never edited): an instance stores only what its
    head has, so that making one costs next to nothing.
    """

    content_length: Sequence[tuple[int, bytes, int]] = ()
    transfer_encoding: Sequence[tuple[int, bytes, int]] = ()
    connection: Sequence[bytes] = ()
    host: Sequence[tuple[int, bytes, int]] = ()
    upgrade: Sequence[bytes] = ()
    expect: Sequence[bytes] = ()
    ws_key = False

    FIELDS = (
        "connection",
        "content_length",
        "expect",
        "host",
        "transfer_encoding",
        "upgrade",
        "ws_key",
    )


# The special header names, each with the HeadInfo attribute it goes to.
_SPECIAL = {
    b"content-length": "content_length",
    b"transfer-encoding": "transfer_encoding",
    b"connection": "connection",
    b"host": "host",
    b"upgrade": "upgrade",
    b"expect": "expect",
    b"sec-websocket-key": "ws_key",
}
_WITH_OFFSET = frozenset((b"content-length", b"transfer-encoding", b"host"))


def find_head_end(buf: bytes | bytearray, start: int, search_from: int) -> int:
    """Index just past the empty line ending the head that starts at `start`, or -1."""
    # The usual CRLF ending bounds the search for a bare-LF one, so that a pipelined buffer is
    # never scanned past the message at hand.
    end_crlf = buf.find(b"\n\r\n", search_from)
    end_lf = buf.find(b"\n\n", search_from, end_crlf + 2 if end_crlf >= 0 else len(buf))
    if end_lf >= 0:
        return end_lf + 2
    if end_crlf >= 0:
        return end_crlf + 3
    return -1


def skip_empty_lines(buf: bytes | bytearray, start: int) -> int:
    """Skip the CRLFs a client may send before a request (RFC 9112 2.2, HAProxy does too)."""
    size = len(buf)
    while start < size and buf[start] in (13, 10):
        if buf[start] == 13 and start + 1 < size and buf[start + 1] != 10:
            break
        start += 1
    return start


def line_offset(lines: list[bytes], index: int) -> int:
    return sum(len(line) + 1 for line in lines[:index])


def parse_fields(
    lines: list[bytes], first: int, status: int, limits: H1Limits, info: HeadInfo | None
) -> Headers:
    """Header (or trailer) lines `lines[first:]` into a header list; records specials in info."""
    headers: Headers = []
    offset = line_offset(lines, first)
    lax = limits.accept_invalid
    for raw in lines[first:]:
        line = raw[:-1] if raw[-1:] == b"\r" else raw
        if b"\r" in line:
            raise H1Error(status, "CR inside a header line", offset + line.index(b"\r"))
        if line[:1] in (b" ", b"\t"):
            if not headers or limits.reject_obs_fold:
                raise H1Error(status, "header line starts with white space (obs-fold)", offset)
            name, value = headers[-1]
            value = (value + b" " * 3 + line.strip(b" \t")).strip(b" \t")
            headers[-1] = (name, value)
            if info is not None and name.lower() in _SPECIAL:
                _unfold_special(info, name.lower(), value)
            offset += len(raw) + 1
            continue
        name, colon, value = line.partition(b":")
        if not colon:
            raise H1Error(status, "header line without a colon", offset)
        if not name:
            raise H1Error(status, "empty header name", offset)
        if lax:
            if name.translate(None, _LENIENT_NAME_DELETE) != name:
                raise H1Error(status, "invalid character in header name", offset)
        elif name.translate(None, TOKEN_CHARS):
            position = next(i for i, c in enumerate(name) if c not in TOKEN_CHARS)
            raise H1Error(status, "invalid character in header name", offset + position)
        value = value.strip(b" \t")
        lname = name.lower()
        if lname in _SPECIAL and info is not None:
            _note_special(info, lname, len(headers), value, offset)
        headers.append((name, value))
        offset += len(raw) + 1
    return headers


def _note_special(info: HeadInfo, lname: bytes, index: int, value: bytes, offset: int) -> None:
    attr = _SPECIAL[lname]
    if attr == "ws_key":
        info.ws_key = True
        return
    found = info.__dict__.setdefault(attr, [])
    found.append((index, value, offset) if lname in _WITH_OFFSET else value)


def _unfold_special(info: HeadInfo, lname: bytes, value: bytes) -> None:
    """The last header was continued by obs-fold: its note gets the unfolded value.

    As HAProxy 2.6 does, framing is decided on the unfolded value, and the header is forwarded
    unfolded, on one line, so the server reads the very framing the proxy used.
    """
    attr = _SPECIAL[lname]
    if attr == "ws_key":
        return
    found = info.__dict__[attr]
    if lname in _WITH_OFFSET:
        index, _, offset = found[-1]
        found[-1] = (index, value, offset)
    else:
        found[-1] = value


def _split_head(head: bytes, status: int, limits: H1Limits) -> list[bytes]:
    lines = head.split(b"\n")
    # The split leaves the empty line's remains at the end: "" (LF) or "\r" then "".
    del lines[-1]
    if lines[-1] in (b"", b"\r"):
        del lines[-1]
    if len(lines) > limits.max_headers:
        raise H1Error(status, "too many headers", line_offset(lines, limits.max_headers))
    return lines


def _version(major: bytes, minor: bytes) -> bytes:
    """HAProxy forwards anything above HTTP/1.1 as HTTP/1.1 and handles the rest as 1.0."""
    if (int(major), int(minor)) >= (1, 1):
        return b"1.1"
    return b"1.0"


def _parse_head(head: bytes, status: int, limits: H1Limits) -> tuple[bytes, Headers, HeadInfo]:
    """Split a head into its start line (without line end), headers and the framing info."""
    if b"\0" in head:
        raise H1Error(status, "NUL character in the head", head.index(b"\0"))
    eol = head.index(b"\n")
    first = head[: eol - 1] if head[eol - 1 : eol] == b"\r" else head[:eol]
    info = HeadInfo()
    lines = _split_head(head, status, limits)
    return first, parse_fields(lines, 1, status, limits, info), info


def _fast_fields(head: bytes, eol: int, limits: H1Limits) -> tuple[Headers, HeadInfo] | None:
    """The header lines after the start line ending at `eol` (the index of its LF), or None.

    The fast path: it answers only for the common shape (CRLF everywhere, no obs-fold, no CR
    or NUL inside a line, valid names, within max_headers) and then gives exactly what
    `parse_fields` gives; for anything else it returns None and the caller takes the strict
    line-by-line path, which also finds the right error and offset. The caller has checked
    the start line, that it ends in CRLF and that the head ends with CRLF CRLF.
    """
    headers: Headers = (_FIELD_LAX if limits.accept_invalid else _FIELD).findall(head, eol + 1)
    # Each match holds exactly one CR and one LF (its line end), the start line and the empty
    # line one each more: so the head holds at least 2 * (matches + 2) of CR, LF and NUL
    # together, and exactly that many only when every line matched whole and there is no
    # other CR and no NUL.
    count = len(headers)
    if len(head) - len(head.translate(None, b"\r\n\0")) != 2 * count + 4:
        return None
    if count >= limits.max_headers:  # the start line counts
        return None
    info = HeadInfo()
    lnames = [name.lower() for name, _ in headers]
    found = _SPECIAL.keys() & lnames
    if found:
        fields = info.__dict__
        for lname in found:
            index = lnames.index(lname)
            if lnames.count(lname) == 1:
                indexes = (index,)
            else:
                indexes = [i for i in range(index, count) if lnames[i] == lname]
            if lname in _WITH_OFFSET:
                notes, search = [], eol
                for index in indexes:
                    name, value = headers[index]
                    # Where the line starts: each is found after the previous of its kind.
                    search = head.find(b"\n" + name + b":", search) + 1
                    notes.append((index, value, search))
                fields[_SPECIAL[lname]] = notes
            elif lname == b"sec-websocket-key":
                info.ws_key = True
            else:
                fields[_SPECIAL[lname]] = [headers[index][1] for index in indexes]
    return headers, info


def parse_request_head(head: bytes, limits: H1Limits = DEFAULT_LIMITS) -> tuple[Request, HeadInfo]:
    """A complete request head (ending with its empty line) into a Request; raises H1Error."""
    eol = head.find(b"\n")
    if head[eol - 1] == 13 and head.endswith(b"\r\n\r\n"):
        lax = limits.accept_invalid
        match = (_REQUEST_LINE_LAX if lax else _REQUEST_LINE).fullmatch(head, 0, eol - 1)
        if match is not None and not head.startswith(_H2_PREFACE):
            fields = _fast_fields(head, eol, limits)
            if fields is not None:
                method, target, major, minor = match.groups()
                if lax:
                    version = _version(major, minor)
                else:  # one digit each: comparing the bytes compares the numbers
                    version = b"1.1" if (major, minor) >= _VERSION_11 else b"1.0"
                return Request(method, target, version, fields[0]), fields[1]
    return parse_request_head_strict(head, limits)


def parse_request_head_strict(
    head: bytes, limits: H1Limits = DEFAULT_LIMITS
) -> tuple[Request, HeadInfo]:
    """`parse_request_head` without the fast path: line by line, every error named."""
    if head.startswith(_H2_PREFACE):
        raise H1Error(400, "HTTP/2 connection preface on an HTTP/1 connection", 0)
    pattern = _REQUEST_LINE_LAX if limits.accept_invalid else _REQUEST_LINE
    eol = head.find(b"\n")
    match = pattern.fullmatch(head, 0, eol - 1 if head[eol - 1 : eol] == b"\r" else eol)
    if match is None:
        first = head[:eol].rstrip(b"\r")
        raise H1Error(400, *_request_line_error(first))
    _, headers, info = _parse_head(head, 400, limits)
    method, target, major, minor = match.groups()
    return Request(method, target, _version(major, minor), headers), info


def _request_line_error(line: bytes) -> tuple[str, int]:
    """Name what is wrong with a request line the grammar refused, and where."""
    method = re.match(_TOKEN_RE, line)
    end = method.end() if method else 0
    if end == 0 or end >= len(line) or line[end] not in b" \t":
        return "invalid method", end
    parts = line[end:].split()
    target_at = line.index(parts[0], end)
    for index, byte in enumerate(parts[0]):
        if byte <= 32 or byte >= 127 or byte == 35:
            return "invalid character in the URI", target_at + index
    if len(parts) < 2:
        return "missing HTTP version", len(line)
    return "invalid HTTP version", line.index(parts[1], target_at + len(parts[0]))


def parse_response_head(
    head: bytes, limits: H1Limits = DEFAULT_LIMITS
) -> tuple[Response, HeadInfo]:
    """A complete response head into a Response; raises H1Error with status 502."""
    eol = head.find(b"\n")
    if head[eol - 1] == 13 and head.endswith(b"\r\n\r\n"):
        lax = limits.accept_invalid
        match = (_STATUS_LINE_LAX if lax else _STATUS_LINE).fullmatch(head, 0, eol - 1)
        if match is not None:
            major, minor, code, reason = match.groups()
            status = int(code)
            fields = _fast_fields(head, eol, limits) if status >= 100 else None
            if fields is not None:
                if lax:
                    version = _version(major, minor)
                else:
                    version = b"1.1" if (major, minor) >= _VERSION_11 else b"1.0"
                return Response(status, reason or b"", version, fields[0]), fields[1]
    return parse_response_head_strict(head, limits)


def parse_response_head_strict(
    head: bytes, limits: H1Limits = DEFAULT_LIMITS
) -> tuple[Response, HeadInfo]:
    """`parse_response_head` without the fast path: line by line, every error named."""
    first, headers, info = _parse_head(head, 502, limits)
    pattern = _STATUS_LINE_LAX if limits.accept_invalid else _STATUS_LINE
    match = pattern.fullmatch(first)
    if match is None:
        raise H1Error(502, "invalid status line", 0)
    major, minor, code, reason = match.groups()
    status = int(code)
    if status < 100:
        raise H1Error(502, "invalid status code", first.index(code))
    return Response(status, reason or b"", _version(major, minor), headers), info
