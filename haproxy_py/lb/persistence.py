"""Cookie persistence (`cookie NAME insert|rewrite|prefix ...`): the decisions, sans-IO.

A backend with a `cookie` line gets one `CookiePersistence` at start-up. Per request:
- `read_request(headers, ...)` finds the persistence cookie in the request's Cookie headers,
  checks its `maxidle`/`maxlife` stamps, looks its value up among the servers' `cookie`
  values, strips what the server must not see (`insert indirect`: the whole cookie; `prefix`:
  the `VALUE~` part) and returns a `CookieVisit`: the server the cookie designates (or None),
  whether the request goes there directly, and the request letter of the log's `%tsc`
  (N none, I invalid, D down, V valid, E expired by maxidle, O too old by maxlife, U unused);
- `write_response(visit, headers, ...)` handles the server's own `Set-Cookie: NAME=...`
  (kept with `preserve`, removed in insert mode or when indirect and direct, rewritten in
  rewrite/prefix mode), inserts ours when the client has no valid one for the server that
  answered (only on POST with `postonly`; refreshed for `maxidle`), adds `Cache-Control:
  private` to a cacheable response carrying an inserted cookie (`nocache`), and returns the
  response letter (N, I, U, P, R, D).
The byte-level work is haproxy_py/proto/http1/cookies.py's; clocks come in as `now` (seconds).
Server objects are opaque here: anything hashable the caller uses for servers.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from haproxy_py.proto.http1.cookies import (
    CookieHeader,
    decode_date,
    encode_date,
    is_cacheable,
    set_cookie_name_value,
)

Headers = list[tuple[bytes, bytes]]
FUTURE_SLACK = 86400  # a stamp further than this in the future is refused (clock problems)
_SPACED_EQUAL = re.compile(rb"[ \t]=|=[ \t]")
_EXPIRED = b"=; Expires=Thu, 01-Jan-1970 00:00:01 GMT; path=/"


@dataclass(frozen=True, slots=True)
class CookiePolicy:
    """The `cookie` line of a backend, read once."""

    name: bytes
    mode: str = ""  # "insert", "rewrite", "prefix", or "" (the server sets it, we only read)
    indirect: bool = False
    nocache: bool = False
    postonly: bool = False
    preserve: bool = False
    maxidle: int = 0  # seconds; 0: unset
    maxlife: int = 0
    attributes: bytes = b""  # "; domain=D...; HttpOnly; Secure; ATTR..." for inserted cookies

    @classmethod
    def from_setting(cls, setting: Mapping[str, Any]) -> CookiePolicy:
        """From the model's `Proxy.settings["cookie"]` (config/keywords/http_kw.py)."""
        mode = next((m for m in ("insert", "rewrite", "prefix") if setting.get(m)), "")
        extra = [b"; domain=" + d.encode() for d in setting.get("domain", ())]
        if setting.get("httponly"):
            extra.append(b"; HttpOnly")
        if setting.get("secure"):
            extra.append(b"; Secure")
        extra += [b"; " + a.encode() for a in setting.get("attr", ())]
        return cls(
            name=str(setting["name"]).encode(),
            mode=mode,
            indirect=bool(setting.get("indirect")),
            nocache=bool(setting.get("nocache")),
            postonly=bool(setting.get("postonly")),
            preserve=bool(setting.get("preserve")),
            maxidle=int(setting.get("maxidle") or 0) // 1000,
            maxlife=int(setting.get("maxlife") or 0) // 1000,
            attributes=b"".join(extra),
        )


@dataclass(slots=True)
class CookieVisit:
    """What the request's cookie said; read again when the response comes."""

    state: str = "N"  # the request letter of %tsc
    server: Any = None  # the server the cookie chose (None: load balancing decides)
    last_date: int = 0  # the cookie's stamps (seconds), 0 when absent or refused
    first_date: int = 0
    ignored: bool = False  # ignore-persist matched: no cookie is inserted either
    assigned: Any = None  # the server a use-server rule chose: direct as well


@dataclass(slots=True)
class CookiePersistence:
    """A backend's policy and its servers' cookie values."""

    policy: CookiePolicy
    persist: bool = False  # `option persist`: a DOWN server's cookie still leads to it
    by_value: dict[bytes, list[Any]] = field(default_factory=dict)
    value_of: dict[Any, bytes] = field(default_factory=dict)

    @classmethod
    def build(
        cls, policy: CookiePolicy, persist: bool, servers: Iterable[tuple[Any, str | None]]
    ) -> CookiePersistence:
        """`servers`: (server, its `cookie` value or None), in configuration order."""
        made = cls(policy, persist)
        for server, value in servers:
            if value:
                raw = value.encode()
                made.by_value.setdefault(raw, []).append(server)
                made.value_of[server] = raw
        return made

    def set_value(self, server: Any, value: bytes | None) -> None:
        """Give `server` a new cookie value (a dynamic cookie after an address change)."""
        old = self.value_of.pop(server, None)
        if old is not None:
            sharing = [s for s in self.by_value.get(old, ()) if s is not server]
            if sharing:
                self.by_value[old] = sharing
            else:
                self.by_value.pop(old, None)
        if value:
            self.by_value.setdefault(value, []).append(server)
            self.value_of[server] = value

    # -- request ------------------------------------------------------------------------------

    def read_request(
        self,
        headers: Headers,
        usable: Callable[[Any], bool],
        *,
        now: int,
        force: bool = False,
        ignore: bool = False,
        assigned: Any = None,
    ) -> CookieVisit:
        """Find the persistence cookie and rewrite the Cookie headers in place.

        `force`: a force-persist rule matched (a DOWN server's cookie is honoured);
        `ignore`: an ignore-persist rule matched; `assigned`: the server a use-server rule
        chose (the cookie is then unused, and no cookie is inserted for that server).
        """
        visit = CookieVisit(ignored=ignore, assigned=assigned)
        skip = ignore or assigned is not None
        policy = self.policy
        name = policy.name
        strip_all = policy.mode == "insert" and policy.indirect
        prefix = policy.mode == "prefix"
        index = 0
        while index < len(headers):
            key, value = headers[index]
            if len(key) != 6 or key.lower() != b"cookie":
                index += 1
                continue
            if name not in value and _SPACED_EQUAL.search(value) is None:
                index += 1  # neither ours nor anything to normalize
                continue
            parsed = CookieHeader(value)
            for position, item in parsed.cookies():
                if item.name != name:
                    continue
                if prefix:
                    designated, tilde, rest = item.value.partition(b"~")
                    if tilde:
                        item.value = rest  # the server gets back the cookie it set
                    self._choose(visit, designated, usable, force, skip)
                else:
                    designated, bar, stamps = item.value.partition(b"|")
                    if visit.server is None and bar:
                        last, _, first = stamps.partition(b"|")
                        visit.last_date = decode_date(last)
                        visit.first_date = decode_date(first)
                    if visit.server is not None or not self._too_old(visit, now):
                        self._choose(visit, designated, usable, force, skip)
                if strip_all:
                    parsed.remove(position)
            rendered = parsed.render()
            if rendered is None:
                del headers[index]
                continue
            if rendered != value:
                headers[index] = (key, rendered)
            index += 1
        return visit

    def _too_old(self, visit: CookieVisit, now: int) -> bool:
        """maxlife then maxidle: a stamp too far in the past (or the future) voids the cookie."""
        policy = self.policy
        first, last = visit.first_date, visit.last_date
        if (
            first
            and policy.maxlife
            and (now - first > policy.maxlife or first - now > FUTURE_SLACK)
        ):
            visit.state = "O"
        elif last and policy.maxidle and (now - last > policy.maxidle or last - now > FUTURE_SLACK):
            visit.state = "E"
        else:
            return False
        visit.first_date = visit.last_date = 0
        return True

    def _choose(
        self,
        visit: CookieVisit,
        designated: bytes,
        usable: Callable[[Any], bool],
        force: bool,
        skip: bool,
    ) -> None:
        if visit.server is not None:
            return  # a valid cookie was seen already: later ones do not count
        if skip:
            visit.state = "U"
            return
        found_down = False
        for server in self.by_value.get(designated, ()):
            if usable(server):
                visit.state, visit.server = "V", server
                return
            if self.persist or force:
                visit.state, visit.server = "D", server
                return
            found_down = True
        if found_down:
            visit.state = "D"
        elif visit.state not in ("D", "E", "O"):
            visit.state = "I"

    # -- response -----------------------------------------------------------------------------

    def write_response(
        self,
        visit: CookieVisit,
        headers: Headers,
        server: Any,
        *,
        method: bytes,
        status: int,
        now: int,
    ) -> str:
        """Rewrite the response's Set-Cookie headers in place; returns the response letter.

        `server`: the server that answered (None when no server did).
        """
        policy = self.policy
        name = policy.name
        chosen = visit.server if visit.server is not None else visit.assigned
        direct = chosen is not None and chosen is server
        own = self.value_of.get(server) if server is not None else None
        state = "N"
        found = False
        index = 0
        while index < len(headers):
            key, value = headers[index]
            if len(key) != 10 or key.lower() != b"set-cookie" or name not in value:
                index += 1
                continue
            pair = set_cookie_name_value(value)
            if pair is None or pair[0] != name:
                index += 1
                continue
            found = True
            _, current, start, stop = pair
            if policy.preserve:
                state = "P"
            elif (policy.mode == "insert" and server is not None) or (direct and policy.indirect):
                del headers[index]
                state = "D"
                continue
            elif own is not None and policy.mode == "rewrite":
                headers[index] = (key, value[:start] + own + value[stop:])
                state = "R"
            elif own is not None and policy.mode == "prefix":
                headers[index] = (key, value[:start] + own + b"~" + current + value[stop:])
                state = "R"
            else:
                state = "P"
            index += 1
        if self._inserts(visit, server, direct, found, method, now):
            headers.append((b"set-cookie", self._cookie(visit, own, now)))
            state = "U" if own is not None and direct else "I"
            if policy.nocache and is_cacheable(method, status, headers):
                headers.append((b"cache-control", b"private"))
        return state

    def _inserts(
        self, visit: CookieVisit, server: Any, direct: bool, found: bool, method: bytes, now: int
    ) -> bool:
        policy = self.policy
        if policy.mode != "insert" or server is None or visit.ignored:
            return False
        if found and policy.preserve:
            return False  # the server set it itself
        if policy.postonly and method != b"POST":
            return False
        if not direct:
            return True
        last, first = visit.last_date, visit.first_date
        if (policy.maxidle or last) and (not last or last < now):
            return True  # the idle stamp needs a refresh
        return bool(policy.maxlife) != bool(first)  # the life stamp must be set or dropped

    def _cookie(self, visit: CookieVisit, own: bytes | None, now: int) -> bytes:
        policy = self.policy
        if own is None:  # a server without a cookie value: make the client forget ours
            return policy.name + _EXPIRED + policy.attributes
        value = policy.name + b"=" + own
        if policy.maxidle or policy.maxlife:
            value += b"|" + encode_date(now)
            if policy.maxlife:
                value += b"|" + encode_date(visit.first_date or now)
        return value + b"; path=/" + policy.attributes
