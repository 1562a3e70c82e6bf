"""`set dynamic-cookie-key backend BK KEY`, `enable|disable dynamic-cookie backend BK`: the
arguments, HAProxy 2.6's answers and the setting they leave (no I/O).

A backend derives the cookie of each server without its own `cookie VALUE` from a key and
the server's address (haproxy_py/lb/dyncookie.py) when dynamic cookies are on (`cookie ...
dynamic`) and it has a key (`dynamic-cookie-key`). These commands change either half at run
time; the cookies follow at once, in every worker (worker/cli_dyncookie.py), until a reload
reads the configuration again (as HAProxy, which keeps no state across a reload).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from haproxy_py.config.model import Proxy

BACKEND_EXPECTED = "A backend name is expected.\n\n"
NO_SUCH_BACKEND = "No such backend.\n\n"
VALUE_EXPECTED = "String value expected.\n\n"


@dataclass(frozen=True, slots=True)
class DynamicCookieSetting:
    """A backend's two halves: dynamic cookies on, and the key (None: none given)."""

    enabled: bool
    key: str | None

    @property
    def key_in_force(self) -> str | None:
        """The key cookies are derived from: only when on and given (HAProxy needs both)."""
        return self.key if self.enabled and self.key else None


@dataclass(frozen=True, slots=True)
class DynamicCookieChange:
    backend: str
    enable: bool | None  # None: a new key
    key: str | None = None

    def applied(self, setting: DynamicCookieSetting) -> DynamicCookieSetting:
        if self.enable is None:
            return DynamicCookieSetting(setting.enabled, self.key)
        return DynamicCookieSetting(self.enable, setting.key)


def configured_setting(proxy: Proxy) -> DynamicCookieSetting:
    """The setting a backend starts with, from its `cookie` and `dynamic-cookie-key`."""
    cookie = proxy.setting("cookie")
    key = proxy.setting("dynamic-cookie-key")
    return DynamicCookieSetting(bool(cookie and cookie.get("dynamic")), str(key) if key else None)


def is_dynamic_cookie_command(words: Sequence[str]) -> bool:
    return tuple(words[:3]) in (
        ("set", "dynamic-cookie-key", "backend"),
        ("enable", "dynamic-cookie", "backend"),
        ("disable", "dynamic-cookie", "backend"),
    )


def parse_dynamic_cookie(
    words: Sequence[str], backends: Collection[str]
) -> DynamicCookieChange | str:
    """The change one of the three commands asks for, or HAProxy's error answer.
    `backends`: the names of the proxies that have a backend side."""
    if len(words) < 4:
        return BACKEND_EXPECTED
    name = words[3]
    if name not in backends:
        return NO_SUCH_BACKEND
    if words[0] != "set":
        return DynamicCookieChange(name, words[0] == "enable")
    if len(words) < 5:
        return VALUE_EXPECTED
    return DynamicCookieChange(name, None, words[4])
