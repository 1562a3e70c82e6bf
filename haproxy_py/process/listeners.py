"""Binding the listening sockets a configuration asks for: `bind` lines and `stats socket`s.

The master (or the single process without -W) binds everything before any worker starts, so
privileged ports work and a bind failure stops the start-up with nothing half-started: when
one address fails, every socket already bound is closed and the error lists each failure in
HAProxy's words ("Binding [FILE:LINE] for proxy NAME: cannot bind socket (...) for [ADDR]").

UNIX sockets are bound as HAProxy does it: to `PATH.PID.tmp`, given their mode and owner,
then renamed over PATH, so a client never sees a socket file with the wrong permissions.
Every socket is close-on-exec; whoever hands sockets to a child decides what it inherits.
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import re
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from haproxy_py.config.address import Address, Family
from haproxy_py.config.diagnostics import Where
from haproxy_py.config.model import Config

# Linux socket options Python's socket module does not name.
IP_TRANSPARENT = 19
IPV6_TRANSPARENT = 75


class BindError(Exception):
    """One or more listeners could not be bound; `messages` are ready to print as ALERTs."""

    def __init__(self, messages: list[str]) -> None:
        super().__init__("; ".join(messages))
        self.messages = messages


@dataclass(frozen=True, slots=True)
class ListenerSpec:
    """One socket to bind: a bind line's address with one port of its range."""

    where: Where
    owner: str  # "proxy app" or "stats socket", for messages
    proxy: str  # the proxy's name ("" for stats sockets)
    address: Address
    port: int
    options: Mapping[str, Any]
    backlog: int

    def describe(self) -> str:
        """The address as HAProxy shows it in bind errors: [127.0.0.1:80], [/run/x.sock]."""
        family = self.address.family
        if family == Family.UNIX:
            return f"[{self.address.host}]"
        if family == Family.ABNS:
            return f"[abns@{self.address.host}]"
        if family in (Family.FD, Family.SOCKPAIR):
            return f"[{self.address.text}]"
        host = self.address.host or ("::" if family == Family.IPV6 else "0.0.0.0")
        return f"[{host}:{self.port}]" if ":" not in host else f"[[{host}]:{self.port}]"


@dataclass(slots=True)
class Listener:
    spec: ListenerSpec
    sock: socket.socket


# Bind options that shape the socket itself: a reload keeps a held socket only for a spec
# that names the same address with the same values of these.
_SOCKET_SHAPING = ("v4v6", "v6only", "transparent", "defer-accept", "mode", "uid", "gid",
                   "user", "group")  # fmt: skip


def listener_key(spec: ListenerSpec) -> tuple[Any, ...]:
    """What makes two specs the same socket (address, port, shaping options), across a
    reload; the backlog and the owning proxy may change without a new socket."""
    shaping = tuple((name, spec.options.get(name)) for name in _SOCKET_SHAPING)
    return (spec.address.family, spec.address.host, spec.address.fd, spec.port, shaping)


def listener_specs(config: Config, default_backlog: int = 1024) -> list[ListenerSpec]:
    """Everything `config` listens on, in configuration order (stats sockets first)."""
    specs: list[ListenerSpec] = []
    for bind in config.global_.stats_sockets:
        backlog = int(bind.options.get("backlog") or 10)
        for address in bind.addresses:
            specs += _expand(bind.where, "stats socket", "", address, bind.options, backlog)
    for proxy in config.proxies:
        if not proxy.is_frontend or proxy.disabled:
            continue
        for bind in proxy.binds:
            backlog = int(
                bind.options.get("backlog") or proxy.backlog or proxy.maxconn or default_backlog
            )
            for address in bind.addresses:
                specs += _expand(
                    bind.where, f"proxy {proxy.name}", proxy.name, address, bind.options, backlog
                )
    return specs


def _expand(
    where: Where,
    owner: str,
    proxy: str,
    address: Address,
    options: Mapping[str, Any],
    backlog: int,
) -> list[ListenerSpec]:
    if not address.is_inet:
        return [ListenerSpec(where, owner, proxy, address, 0, options, backlog)]
    last = address.port_last or address.port
    return [
        ListenerSpec(where, owner, proxy, address, port, options, backlog)
        for port in range(address.port, last + 1)
    ]


def bind_all(
    specs: Iterable[ListenerSpec],
    reuseport: bool = True,
    adopted: dict[tuple[str, str, int], socket.socket] | None = None,
) -> list[Listener]:
    """Bind every spec; on any failure close what was bound and raise BindError with all.

    `adopted` holds listening sockets taken from a running process (`-x`), by address_key():
    a spec whose address is there uses that very socket instead of binding a new one (the
    entry is removed; the caller closes what is left)."""
    listeners: list[Listener] = []
    errors: list[str] = []
    for spec in specs:
        kept = adopted.pop(address_key(spec), None) if adopted else None
        if kept is not None:
            kept.set_inheritable(False)
            kept.setblocking(False)
            listeners.append(Listener(spec, kept))
            continue
        try:
            listeners.append(Listener(spec, bind_one(spec, reuseport)))
        except BindError as exc:
            errors += exc.messages
    if errors:
        for listener in listeners:
            listener.sock.close()
        raise BindError(errors)
    return listeners


def address_key(spec: ListenerSpec) -> tuple[str, str, int]:
    """Where a spec listens, in the form socket_address_key() gives a bound socket."""
    family = spec.address.family
    if family == Family.UNIX:
        return ("unix", spec.address.host, 0)
    if family == Family.ABNS:
        return ("abns", spec.address.host, 0)
    host = spec.address.host or ("::" if family == Family.IPV6 else "0.0.0.0")
    return ("inet", host, spec.port)


def socket_address_key(sock: socket.socket) -> tuple[str, str, int]:
    """Where a bound socket listens; a UNIX path bound as PATH.PID.tmp counts as PATH."""
    name = sock.getsockname()
    if sock.family == socket.AF_UNIX:
        if isinstance(name, bytes) or name.startswith("\0"):
            text = name.decode(errors="replace") if isinstance(name, bytes) else name
            return ("abns", text.lstrip("\0"), 0)
        return ("unix", re.sub(r"\.\d+\.tmp$", "", name), 0)
    return ("inet", name[0], name[1])


def bind_one(spec: ListenerSpec, reuseport: bool = True) -> socket.socket:
    """Bind and listen one socket, or raise BindError naming the line and the address."""
    family = spec.address.family
    try:
        if family in (Family.FD, Family.SOCKPAIR):
            return _inherited(spec)
        if family in (Family.UNIX, Family.ABNS):
            return _unix(spec)
        return _inet(spec, reuseport)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise BindError(
            [f"Binding [{spec.where}] for {spec.owner}: cannot bind socket ({reason})"
             f" for {spec.describe()}"]
        ) from None  # fmt: skip


def _inet(spec: ListenerSpec, reuseport: bool) -> socket.socket:
    address = spec.address
    family = address.family
    if family == Family.HOSTNAME:
        infos = socket.getaddrinfo(
            address.host, spec.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
        af, _, _, _, sockaddr = infos[0]
    else:
        af = socket.AF_INET6 if family == Family.IPV6 else socket.AF_INET
        host = address.host or ("::" if af == socket.AF_INET6 else "0.0.0.0")
        sockaddr = (host, spec.port)
    sock = socket.socket(af, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuseport:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if af == socket.AF_INET6 and spec.options.get("v6only"):
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        elif af == socket.AF_INET6 and spec.options.get("v4v6"):
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        if spec.options.get("transparent"):
            _transparent(sock, af)
        if spec.options.get("defer-accept"):
            # Accept only once the client has sent something (or after about one second).
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_DEFER_ACCEPT, 1)
        sock.bind(sockaddr)
        sock.listen(spec.backlog)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def _transparent(sock: socket.socket, af: int) -> None:
    level, option = (
        (socket.IPPROTO_IPV6, IPV6_TRANSPARENT)
        if af == socket.AF_INET6
        else (socket.IPPROTO_IP, IP_TRANSPARENT)
    )
    try:
        sock.setsockopt(level, option, 1)
    except PermissionError:
        raise OSError(
            1, "'transparent' needs root (CAP_NET_ADMIN) to bind foreign addresses"
        ) from None


def _unix(spec: ListenerSpec) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        if spec.address.family == Family.ABNS:
            sock.bind("\0" + spec.address.host)
        else:
            _bind_unix_path(sock, spec.address.host, spec.options)
        sock.listen(spec.backlog)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def _bind_unix_path(sock: socket.socket, path: str, options: Mapping[str, Any]) -> None:
    temporary = f"{path}.{os.getpid()}.tmp"
    with contextlib.suppress(FileNotFoundError):
        os.unlink(temporary)
    sock.bind(temporary)
    try:
        mode = options.get("mode")
        if mode is not None:
            os.chmod(temporary, mode)
        uid, gid = _owner(options)
        if uid != -1 or gid != -1:
            os.chown(temporary, uid, gid)
        os.rename(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _owner(options: Mapping[str, Any]) -> tuple[int, int]:
    uid = options.get("uid", -1)
    gid = options.get("gid", -1)
    try:
        if "user" in options:
            uid = pwd.getpwnam(options["user"]).pw_uid
        if "group" in options:
            gid = grp.getgrnam(options["group"]).gr_gid
    except KeyError as exc:
        raise OSError(22, f"unknown user or group {exc.args[0]!r}") from None
    return uid, gid


def _inherited(spec: ListenerSpec) -> socket.socket:
    """`fd@N`: a socket some supervisor left us, already listening; check it really is one."""
    fd = spec.address.fd
    try:
        os.fstat(fd)
    except OSError:
        raise OSError(9, f"file descriptor {fd} is not open") from None
    sock = socket.socket(fileno=fd)
    try:
        if sock.getsockopt(socket.SOL_SOCKET, socket.SO_TYPE) != socket.SOCK_STREAM:
            raise OSError(88, f"file descriptor {fd} is not a stream socket")
        if not sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
            raise OSError(22, f"file descriptor {fd} is not a listening socket")
        sock.set_inheritable(False)
        sock.setblocking(False)
    except BaseException:
        sock.detach()  # not ours to close: leave the descriptor as we found it
        raise
    return sock
