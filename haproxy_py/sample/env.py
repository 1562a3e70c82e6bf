"""What compiling a rule may consult: files, backends, servers and userlists of the config.

A `CompileEnv` is made once per proxy when the worker (or `-c`) compiles its rules. Files
are read through the injected `loader` so that the worker reads every map and pattern file
before it chroots, and tests need no files at all. `backends` and `userlists` let fetches
such as `nbsrv(be)` or `http_auth(ul)` refuse a name that does not exist at compile time.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from haproxy_py.sample.types import SampleError

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    try:
        import crypt as _crypt
    except ImportError:  # Python 3.13 removed it; hashed passwords then never match
        _crypt = None  # type: ignore[assignment]

Loader = Callable[[str], Sequence[str]]


def no_files(path: str) -> Sequence[str]:
    raise SampleError(f"failed to open pattern file <{path}>")


@dataclass(frozen=True, slots=True)
class UserEntry:
    password: str
    insecure: bool  # insecure-password: clear text
    groups: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Userlist:
    name: str
    users: Mapping[str, UserEntry] = field(default_factory=dict)
    groups: frozenset[str] = frozenset()

    def check(self, user: str, password: str) -> bool:
        entry = self.users.get(user)
        if entry is None:
            return False
        if entry.insecure:
            return hmac.compare_digest(entry.password.encode(), password.encode())
        if _crypt is None:
            return False
        hashed = _crypt.crypt(password, entry.password)
        return hashed is not None and hmac.compare_digest(hashed, entry.password)

    @classmethod
    def from_section(cls, name: str, entries: Sequence[Any]) -> Userlist:
        """From a userlist section's User and Group entries (config keywords/other_sections)."""
        users: dict[str, tuple[str, bool, set[str]]] = {}
        groups: set[str] = set()
        members: list[tuple[str, str]] = []
        for entry in entries:
            if hasattr(entry, "password"):
                users[entry.name] = (entry.password, entry.insecure, set(entry.groups))
            else:
                groups.add(entry.name)
                members.extend((user, entry.name) for user in entry.users)
        for user, group in members:
            if user in users:
                users[user][2].add(group)
        return cls(
            name,
            MappingProxyType(
                {
                    user: UserEntry(pw, insecure, frozenset(g))
                    for user, (pw, insecure, g) in users.items()
                }
            ),
            frozenset(groups),
        )


def basic_credentials(header: bytes) -> tuple[str, str] | None:
    """(user, password) of an `Authorization: Basic ...` value, or None."""
    scheme, _, token = header.strip().partition(b" ")
    if scheme.lower() != b"basic":
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8", "surrogateescape")
    except (binascii.Error, ValueError):
        return None
    user, colon, password = decoded.partition(":")
    return (user, password) if colon else None


def basic_auth_user(
    authorization: bytes | None, accounts: Userlist | Sequence[tuple[str, str]]
) -> str | None:
    """The user whose `Authorization: Basic` credentials are valid, else None.

    `accounts` is a userlist (crypt(3) hashes or insecure passwords, as `http_auth` checks)
    or plain (user, password) pairs (`stats auth user:password`). For the stats page and
    any other caller that holds the header value itself."""
    if authorization is None:
        return None
    credentials = basic_credentials(authorization)
    if credentials is None:
        return None
    user, password = credentials
    if isinstance(accounts, Userlist):
        return user if accounts.check(user, password) else None
    given = password.encode("utf-8", "surrogateescape")
    for name, secret in accounts:
        if name == user and hmac.compare_digest(secret.encode("utf-8", "surrogateescape"), given):
            return user
    return None


@dataclass(frozen=True)
class CompileEnv:
    loader: Loader = no_files
    proxy: str = ""  # the proxy whose rules are compiled (default of nbsrv, be_conn...)
    proxy_is_backend: bool = True
    response_side: bool = False  # hdr()/cook() read the response (http-response rules)
    backends: Mapping[str, frozenset[str]] | None = None  # backend -> servers; None: unchecked
    userlists: Mapping[str, Userlist] = field(default_factory=dict)

    def backend(self, name: str | None, keyword: str) -> str:
        """The backend a fetch argument names (or the current proxy), checked."""
        if not name:
            if not self.proxy_is_backend:
                raise SampleError(
                    f"proxy '{self.proxy}', referenced in arg 1 of ACL keyword '{keyword}',"
                    " has not backend capability"
                )
            return self.proxy
        if self.backends is not None and name not in self.backends:
            raise SampleError(
                f"unable to find backend '{name}' referenced in arg 1 of ACL keyword '{keyword}'"
            )
        return name

    def server(self, text: str, keyword: str) -> tuple[str, str]:
        backend, slash, server = text.rpartition("/")
        backend = self.backend(backend if slash else None, keyword)
        if self.backends is not None and server not in self.backends.get(backend, ()):
            raise SampleError(
                f"unable to find server '{server}' in proxy '{backend}', referenced in arg 1"
                f" of ACL keyword '{keyword}'"
            )
        return backend, server

    def userlist(self, name: str, keyword: str) -> Userlist:
        found = self.userlists.get(name)
        if found is None:
            raise SampleError(
                f"unable to find userlist '{name}' referenced in arg 1 of ACL keyword '{keyword}'"
            )
        return found

    @classmethod
    def for_proxy(cls, config: Any, proxy: Any, loader: Loader = no_files) -> CompileEnv:
        """From the frozen Config and one of its proxies."""
        backends = {
            p.name: frozenset(server.name for server in p.servers)
            for p in config.proxies
            if p.is_backend
        }
        userlists = {
            name: Userlist.from_section(name, section.entries)
            for name, section in config.sections.get("userlist", {}).items()
        }
        return cls(
            loader=loader,
            proxy=proxy.name,
            proxy_is_backend=proxy.is_backend,
            backends=MappingProxyType(backends),
            userlists=MappingProxyType(userlists),
        )
