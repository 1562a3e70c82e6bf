"""The stats page's HTTP side, without I/O: settings, URI options, credentials, admin forms.

`PageSettings.from_proxy` reads a proxy's `stats ...` keywords (haproxy_py/config/keywords/
stats_kw.py); `match_uri` says whether a request is for the page and with which options
(`;csv`, `;json`, `;up`, `;norefresh`, `;st=CODE`); `authorized` checks Basic credentials;
`admin_commands` turns an admin form (`s=SRV&action=ACTION&b=BACKEND`) into runtime-API command
words, so that the page's changes go through the very parsers and writers of `set server`
(haproxy_py/runtime_api/admin.py) and of the health/agent commands (check_commands.py), and
`form_status` gives HAProxy's result code (DONE, PART, NONE, ERRP; DENY and EXCD earlier);
the `*_response` functions write HAProxy's answers (401 with its realm, 303 to
`URI;st=CODE`, the page with `cache-control: no-cache` and `refresh`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

from haproxy_py.sample.env import basic_auth_user

if TYPE_CHECKING:
    from haproxy_py.config.model import Proxy

DEFAULT_URI = "/haproxy?stats"
DEFAULT_REALM = "HAProxy Statistics"
MAX_POST = 16384  # an admin form larger than a buffer is refused (EXCD), as HAProxy does


@dataclass(frozen=True)
class PageAction:
    """One admin action of the page: the runtime-API command it is for one server
    ("{}": BE/SRV), and when that server counts in HAProxy's result (`counts`):
    - "always": every server named (ready, drain, maint: counted even when unchanged);
    - "changed": only when its admin state changes (enable, disable, stop, start);
    - "accepted": when the runtime API accepts the command for it (hrunn, hnolb and hdown
      but not on a tracking server; arunn and adown only while its agent is enabled);
    - "check", "agent": when the server has a health check (an agent) configured.
    A server that does not count is left out of the total too (HAProxy's NONE when no
    server counts). `drain_only`: stop/start touch the forced-drain bit alone."""

    words: tuple[str, ...]
    counts: str
    drain_only: bool = False


def _set_server(*words: str) -> tuple[str, ...]:
    return ("set", "server", "{}", *words)


# The admin actions of HAProxy 2.6's page (its form's values), checked against haproxy 2.6.
ACTIONS: dict[str, PageAction] = {
    "ready": PageAction(_set_server("state", "ready"), "always"),
    "drain": PageAction(_set_server("state", "drain"), "always"),
    "maint": PageAction(_set_server("state", "maint"), "always"),
    "disable": PageAction(("disable", "server", "{}"), "changed"),
    "enable": PageAction(("enable", "server", "{}"), "changed"),
    "stop": PageAction(_set_server("state", "drain"), "changed", drain_only=True),
    "start": PageAction(_set_server("state", "ready"), "changed", drain_only=True),
    "hrunn": PageAction(_set_server("health", "up"), "accepted"),
    "hnolb": PageAction(_set_server("health", "stopping"), "accepted"),
    "hdown": PageAction(_set_server("health", "down"), "accepted"),
    "dhlth": PageAction(("disable", "health", "{}"), "check"),
    "ehlth": PageAction(("enable", "health", "{}"), "check"),
    "arunn": PageAction(_set_server("agent", "up"), "accepted"),
    "adown": PageAction(_set_server("agent", "down"), "accepted"),
    "dagent": PageAction(("disable", "agent", "{}"), "agent"),
    "eagent": PageAction(("enable", "agent", "{}"), "agent"),
    "shutdown": PageAction(("shutdown", "sessions", "server", "{}"), "accepted"),
}
_UNAUTHORIZED_BODY = (
    b"<html><body><h1>401 Unauthorized</h1>\n"
    b"You need a valid user and password to access this content.\n</body></html>\n"
)


@dataclass(frozen=True)
class PageSettings:
    """One proxy's stats page, from its `stats ...` keywords."""

    proxy: str
    uri: str = DEFAULT_URI
    realm: str = DEFAULT_REALM
    users: tuple[tuple[str, str], ...] = ()
    refresh: int | None = None  # seconds
    hide_version: bool = False
    legends: bool = False
    node: str | None = None  # "" : the host name
    scope: tuple[str, ...] | None = None  # proxy names; None: every proxy
    admin: object = None  # the `stats admin` Condition (compiled by the worker)

    @classmethod
    def from_proxy(cls, proxy: Proxy) -> PageSettings | None:
        """None when the proxy has no stats page."""
        settings = proxy.settings
        if not settings.get("stats enable"):
            return None
        refresh_ms = settings.get("stats refresh")
        scope = settings.get("stats scope")
        return cls(
            proxy=proxy.name,
            uri=settings.get("stats uri") or DEFAULT_URI,
            realm=settings.get("stats realm") or DEFAULT_REALM,
            users=tuple(tuple(pair) for pair in settings.get("stats auth") or ()),  # type: ignore[misc]
            refresh=max(1, refresh_ms // 1000) if refresh_ms else None,
            hide_version=bool(settings.get("stats hide-version")),
            legends=bool(settings.get("stats show-legends")),
            node=settings.get("stats show-node"),
            scope=tuple(proxy.name if s == "." else s for s in scope) if scope else None,
            admin=settings.get("stats admin"),
        )


@dataclass(frozen=True)
class PageRequest:
    """The options a request's URI carries after the stats URI."""

    csv: bool = False
    json: bool = False
    up: bool = False
    norefresh: bool = False
    status: str | None = None  # `;st=CODE`


def match_uri(uri: str, target: bytes) -> PageRequest | None:
    """The options of `target` when it starts with the stats URI, else None."""
    text = target.decode("latin-1")
    if not text.startswith(uri):
        return None
    options = text[len(uri) :].split(";")[1:]
    status = next((o[3:] for o in options if o.startswith("st=")), None)
    return PageRequest(
        csv="csv" in options,
        json="json" in options,
        up="up" in options,
        norefresh="norefresh" in options,
        status=status,
    )


def authorized(settings: PageSettings, authorization: bytes | None) -> bool:
    """True when no credentials are configured, or `Authorization: Basic` names a pair."""
    if not settings.users:
        return True
    return basic_auth_user(authorization, settings.users) is not None


@dataclass(frozen=True)
class AdminForm:
    backend: str | None
    action: str | None
    servers: tuple[str, ...]


def parse_form(body: bytes) -> AdminForm:
    """An admin form's fields (`b`, `action`, every `s`)."""
    backend = action = None
    servers = []
    for key, value in parse_qsl(body.decode("latin-1"), keep_blank_values=True):
        if key == "b":
            backend = value
        elif key == "action":
            action = value
        elif key == "s":
            servers.append(value)
    return AdminForm(backend, action, tuple(servers))


def admin_commands(form: AdminForm) -> tuple[PageAction, list[tuple[str, list[str]]]] | str:
    """The action and, for each server of the form, (its name, its runtime-API command
    words); or the status to answer at once: NONE (nothing asked), ERRP (an action this
    version does not know or serve)."""
    if form.action is not None and form.action not in ACTIONS:
        return "ERRP"
    if form.backend is None or form.action is None or not form.servers:
        return "NONE"
    action = ACTIONS[form.action]
    commands = [
        (server, [word.format(f"{form.backend}/{server}") for word in action.words])
        for server in form.servers
    ]
    return action, commands


def form_status(counted: int, altered: int) -> str:
    """HAProxy's result of a form: NONE when no server counted, ERRP when none of them was
    altered, DONE when all were, PART else (an unknown server among good ones)."""
    if counted == 0:
        return "NONE"
    if altered == 0:
        return "ERRP"
    return "DONE" if altered == counted else "PART"


def _head(status: bytes, headers: list[tuple[bytes, bytes]], length: int) -> bytes:
    lines = [b"HTTP/1.1 " + status]
    lines += [name + b": " + value for name, value in headers]
    lines.append(b"content-length: %d" % length)
    return b"\r\n".join(lines) + b"\r\n\r\n"


def page_response(content_type: str, body: bytes, refresh: int | None, *, close: bool) -> bytes:
    """200 with the page (HTML, CSV or JSON)."""
    headers = [(b"cache-control", b"no-cache"), (b"content-type", content_type.encode())]
    if refresh:
        headers.append((b"refresh", b"%d" % refresh))
    if close:
        headers.append((b"connection", b"close"))
    return _head(b"200 OK", headers, len(body)) + body


def unauthorized_response(realm: str, *, close: bool) -> bytes:
    """HAProxy's 401 page with `www-authenticate: Basic realm="..."`."""
    # The realm goes in a quoted string: a quote or a backslash in it must not end it.
    quoted = realm.replace("\\", "\\\\").replace('"', '\\"')
    head = b"HTTP/1.1 401 Unauthorized\r\ncontent-length: %d\r\n" % len(_UNAUTHORIZED_BODY)
    head += b"cache-control: no-cache\r\ncontent-type: text/html\r\n"
    head += b'www-authenticate: Basic realm="' + quoted.encode("utf-8", "replace") + b'"\r\n'
    if close:
        head += b"connection: close\r\n"
    return head + b"\r\n" + _UNAUTHORIZED_BODY


def redirect_location(uri: str, status: str, request: PageRequest) -> str:
    """Where an admin POST sends the browser back: `URI;st=CODE[;up][;norefresh]`."""
    location = f"{uri};st={status}"
    if request.up:
        location += ";up"
    if request.norefresh:
        location += ";norefresh"
    return location


def redirect_response(location: str, *, close: bool) -> bytes:
    headers = [
        (b"cache-control", b"no-cache"),
        (b"content-type", b"text/plain"),
    ]
    head = _head(b"303 See Other", headers, 0)
    extra = b"location: " + location.encode("latin-1", "replace") + b"\r\n"
    if close:
        extra += b"connection: close\r\n"
    return head[:-2] + extra + b"\r\n"
