"""The answers haproxy-py makes itself in HTTP mode: error pages and the monitor-uri page.

Owns HAProxy 2.6's built-in pages (the exact bytes it sends, recorded from the installed
haproxy: status line, header case and order, body) and their replacements, loaded once at
start-up (before any chroot: nothing here opens a file afterwards):
- `errorfile CODE FILE`: the file is a whole HTTP response, sent as it is;
- `errorfiles NAME [CODE...]`: the pages of an `http-errors NAME` section (all, or those codes);
- `errorloc[302|303] CODE URL`: a 302 (303) redirect to URL, with no body;
- `http-error status N [content-type T] [string S | file F | errorfile F | errorfiles NAME]`.
Later statements win over earlier ones, as in HAProxy. A page is sent whole and unparsed; when
the connection is to be closed after it, `connection: close` is inserted before the blank line
unless the page already has a Connection header (HAProxy's 400 and 408 carry one).
Rules of this file: bytes are built at start-up only; on the data path `page()` is one dict
look-up (plus one concatenation when closing).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from haproxy_py.config.model import Config, Proxy

_HTML = b"<html><body><h1>%d %s</h1>\n%s\n</body></html>\n"


def _page(status: int, reason: bytes, text: bytes, *, mux_style: bool = False) -> bytes:
    body = _HTML % (status, reason, text)
    if mux_style:
        # The pages HAProxy's HTTP/1 layer sends itself, before a stream exists (400, 408,
        # 422): capitalised names, and a Connection header where HAProxy puts one.
        close = b"Connection: close\r\n" if status != 422 else b""
        head = b"HTTP/1.1 %d %s\r\nContent-length: %d\r\nCache-Control: no-cache\r\n%s" % (
            status,
            reason,
            len(body),
            close,
        )
        return head + b"Content-Type: text/html\r\n\r\n" + body
    return (
        b"HTTP/1.1 %d %s\r\ncontent-length: %d\r\ncache-control: no-cache\r\n"
        b"content-type: text/html\r\n\r\n" % (status, reason, len(body))
    ) + body


DEFAULT_PAGES: Mapping[int, bytes] = {
    200: _page(200, b"OK", b"Service ready."),
    400: _page(400, b"Bad request", b"Your browser sent an invalid request.", mux_style=True),
    401: _page(401, b"Unauthorized", b"You need a valid user and password to access this content."),
    403: _page(403, b"Forbidden", b"Request forbidden by administrative rules."),
    404: _page(404, b"Not Found", b"The resource could not be found."),
    405: _page(
        405,
        b"Method Not Allowed",
        b"A request was made of a resource using a request method not supported by that resource",
    ),
    407: _page(407, b"Unauthorized", b"You need a valid user and password to access this content."),
    408: _page(
        408,
        b"Request Time-out",
        b"Your browser didn't send a complete request in time.",
        mux_style=True,
    ),
    410: _page(
        410, b"Gone", b"The resource is no longer available and will not be available again."
    ),
    413: _page(413, b"Payload Too Large", b"The request entity exceeds the maximum allowed."),
    422: _page(
        422,
        b"Unprocessable Content",
        b"The server cannot process the contained instructions.",
        mux_style=True,
    ),
    425: _page(425, b"Too Early", b"Your browser sent early data."),
    429: _page(
        429, b"Too Many Requests", b"You have sent too many requests in a given amount of time."
    ),
    500: _page(500, b"Internal Server Error", b"An internal server error occurred."),
    501: _page(
        501,
        b"Not Implemented",
        b".The server does not support the functionality required to fulfill the request.",
    ),
    502: _page(502, b"Bad Gateway", b"The server returned an invalid or incomplete response."),
    503: _page(503, b"Service Unavailable", b"No server is available to handle this request."),
    504: _page(504, b"Gateway Time-out", b"The server didn't respond in time."),
}


def with_close(page: bytes) -> bytes:
    """The page with `connection: close` added, unless it has a Connection header already."""
    end = page.find(b"\r\n\r\n")
    if end < 0 or b"\nconnection:" in page[:end].lower():
        return page
    return page[:end] + b"\r\nconnection: close" + page[end:]


@dataclass(frozen=True)
class ErrorPages:
    """One proxy's pages: its own replacements over HAProxy's defaults."""

    pages: Mapping[int, bytes] = field(default_factory=dict)

    def page(self, status: int, *, close: bool) -> bytes:
        data = self.pages.get(status) or DEFAULT_PAGES.get(status) or DEFAULT_PAGES[500]
        return with_close(data) if close else data

    def has(self, status: int) -> bool:
        return status in self.pages


DEFAULT_ERROR_PAGES = ErrorPages()


def load_error_pages(config: Config) -> tuple[dict[str, ErrorPages], list[str]]:
    """{proxy name: ErrorPages} for every enabled proxy in mode http, and the problems found.

    Files are read here, once; a missing or unreadable one is an ALERT naming the proxy.
    """
    cache: dict[str, bytes] = {}
    errors: list[str] = []
    result: dict[str, ErrorPages] = {}

    def read(path: str, proxy: Proxy) -> bytes | None:
        if path not in cache:
            try:
                with open(path, "rb") as handle:
                    cache[path] = handle.read()
            except OSError as exc:
                errors.append(
                    f"config : [{proxy.where}] : proxy '{proxy.name}': error page file"
                    f" '{path}' cannot be read ({exc.strerror})."
                )
                return None
        return cache[path]

    sections = config.sections.get("http-errors", {})

    def section_pages(name: str, codes: tuple[int, ...], proxy: Proxy) -> dict[int, bytes]:
        section = sections.get(name)
        found: dict[int, bytes] = {}
        for entry in section.entries if section is not None else ():
            if codes and entry.status not in codes:
                continue
            data = read(entry.path, proxy)
            if data is not None:
                found[entry.status] = data
        return found

    for proxy in config.proxies:
        if proxy.disabled or proxy.mode != "http":
            continue
        pages: dict[int, bytes] = {}
        for status, path in (proxy.setting("errorfile") or {}).items():
            data = read(path, proxy)
            if data is not None:
                pages[status] = data
        for status, (url, redirect) in (proxy.setting("errorloc") or {}).items():
            pages[status] = _redirect_page(redirect, url)
        for ref in proxy.setting("errorfiles") or ():
            pages.update(section_pages(ref["section"], tuple(ref["codes"]), proxy))
        for reply in proxy.setting("http-error") or ():
            page = _http_error_page(reply, proxy, read, section_pages, errors)
            if page is not None:
                pages[reply["status"]] = page
        result[proxy.name] = ErrorPages(pages) if pages else DEFAULT_ERROR_PAGES
    return result, errors


def _redirect_page(status: int, url: str) -> bytes:
    """`errorloc`/`errorloc302`/`errorloc303`: the error answered by a redirect to `url`."""
    reason = b"See Other" if status == 303 else b"Found"
    return (
        b"HTTP/1.1 %d %s\r\ncache-control: no-cache\r\ncontent-length: 0\r\nlocation: %s\r\n\r\n"
        % (
            status,
            reason,
            url.encode(),
        )
    )


def _http_error_page(reply, proxy, read, section_pages, errors) -> bytes | None:  # type: ignore[no-untyped-def]
    """The page an `http-error` statement defines (None: keep the default)."""
    status: int = reply["status"]
    payload = reply.get("payload", "default-errorfiles")
    source = reply.get("source", "")
    if payload == "default-errorfiles":
        return None
    if payload == "errorfile":
        return read(source, proxy)
    if payload == "errorfiles":
        return section_pages(source, (status,), proxy).get(status)
    if payload in ("string", "file"):
        body = source.encode() if payload == "string" else read(source, proxy)
        if body is None:
            return None
        reason = DEFAULT_PAGES.get(status, DEFAULT_PAGES[500]).split(b"\r\n", 1)[0][13:]
        head = b"HTTP/1.1 %d %s\r\ncontent-length: %d\r\n" % (status, reason, len(body))
        content_type = reply.get("content_type")
        if content_type:
            head += b"content-type: " + content_type.encode() + b"\r\n"
        for name, value in reply.get("headers") or ():
            head += name.encode() + b": " + value.encode() + b"\r\n"
        return head + b"\r\n" + body
    return None  # log-format payloads: refused by haproxy_py/config/serving.py
