"""Sending log lines: the sockets of the `log` targets and the admin logger (master and workers).

Shared by the worker (traffic and admin logs, worker/logs.py) and the master (process
events), which must not import each other. The sockets are opened when the process builds
its state, before a worker isolates itself: UNIX ones are connected then, so `log /dev/log`
keeps working after a chroot. One UDP socket per address family serves every UDP target.
Rules of this file:
- sending never blocks and never raises: a datagram the kernel refuses (full buffer,
  unreachable target, vanished syslog socket) is counted in `LogCounters.dropped` and lost;
- a line is framed per target (haproxy_py.proto.syslog): each target has its own format,
  facility, level filter and length.
"""

from __future__ import annotations

import dataclasses
import os
import re
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from haproxy_py.config.address import Family
from haproxy_py.config.diagnostics import Severity
from haproxy_py.config.model import Config, LogTarget, Proxy
from haproxy_py.proto.syslog import LEVELS, SyslogFramer
from haproxy_py.report import Reporter

DEFAULT_TAG = "haproxy-py"
SYSLOG_PORT = 514


@dataclass(eq=False)
class LogCounters:
    sent: int = 0
    dropped: int = 0  # DroppedLogs in `show info`
    requests: int = 0  # streams so far: `%rt`, the process's request counter


class Emitter:
    """One `log` line of the configuration: a framer and where its datagrams go."""

    __slots__ = (
        "address", "connected", "counters", "fd", "framer", "retry_at", "sample",
        "sample_index", "sample_size", "sock",
    )  # fmt: skip

    def __init__(
        self,
        framer: SyslogFramer,
        counters: LogCounters,
        *,
        sock: socket.socket | None = None,
        address: object = None,
        connected: bool = False,
        fd: int = -1,
    ) -> None:
        self.framer = framer
        self.counters = counters
        self.sock = sock
        self.address = address
        self.connected = connected
        self.fd = fd
        # `sample RANGES:SIZE`: of every SIZE lines this target takes (after its level
        # filter), only those whose rank (1..SIZE) is in RANGES are sent.
        self.sample: frozenset[int] | None = None
        self.sample_size = 0
        self.sample_index = 0
        # A UNIX syslog socket that refused a line is tried again only a second later: the
        # lines in between are counted as dropped without a system call each.
        self.retry_at = 0.0

    def set_sample(self, ranges: str, size: int) -> None:
        ranks: set[int] = set()
        for item in ranges.split(","):
            low, _, high = item.partition("-")
            ranks.update(range(int(low), int(high or low) + 1))
        self.sample, self.sample_size = frozenset(ranks), size

    def send(self, level: int, line: str, now: float, sd: str = "-") -> None:
        if self.sample is not None:
            if level > self.framer.max_level:
                return
            rank = self.sample_index + 1
            self.sample_index = rank % self.sample_size
            if rank not in self.sample:
                return
        if self.retry_at:
            if now < self.retry_at and level <= self.framer.max_level:
                self.counters.dropped += 1
                return
            self.retry_at = 0.0
        data = self.framer.frame(level, line, now, sd)
        if data is None:
            return
        try:
            if self.fd >= 0:
                os.write(self.fd, data)
            elif self.connected:
                self.sock.send(data)  # type: ignore[union-attr]
            else:
                self.sock.sendto(data, self.address)  # type: ignore[union-attr]
        except OSError:
            self.counters.dropped += 1
            if isinstance(self.address, str):  # a UNIX path: its socket is gone for now
                self.connected = False  # the next try sends to the path, a second later
                self.retry_at = now + 1.0
            return
        self.counters.sent += 1


@dataclass(eq=False)
class LogSockets:
    """The sockets opened for logging, shared by the targets that can share them, and the
    admin logger built on them (server state changes, "Proxy X stopped"...)."""

    udp: dict[int, socket.socket]
    unix: dict[str, tuple[socket.socket, bool]]
    admin: AdminLog | None = None

    def close(self) -> None:
        for sock in self.udp.values():
            sock.close()
        for sock, _ in self.unix.values():
            sock.close()


class LogSetupError(Exception):
    def __init__(self, messages: list[str]) -> None:
        super().__init__("; ".join(messages))
        self.messages = messages


@dataclass(eq=False)
class AdminLog:
    """Administrative lines, sent to the log targets of the proxy they concern (HAProxy
    sends "Server be/s is DOWN" to backend be's targets: none when be does not log), or to
    the global targets for process-wide events."""

    proxies: dict[str, tuple[Emitter, ...]] = field(default_factory=dict)
    global_: tuple[Emitter, ...] = ()

    def send(self, proxy: str | None, level: int, line: str) -> None:
        targets = self.global_ if proxy is None else self.proxies.get(proxy, ())
        if targets:
            now = time.time()
            for target in targets:
                target.send(level, line, now)


def send_hostname(config: Config) -> str:
    """The host name written in the headers: `log-send-hostname [NAME]`, else none."""
    sent_name = config.global_.setting("log-send-hostname")
    return (sent_name or socket.gethostname()) if sent_name is not None else ""


def build_admin_log(
    config: Config,
    proxies: Sequence[Proxy],
    sockets: LogSockets,
    counters: LogCounters,
    pid: int,
) -> AdminLog:
    """The admin logger of `proxies` (each with its own targets and tag) and the global one."""
    glob = config.global_
    host = send_hostname(config)
    global_tag = glob.setting("log-tag") or DEFAULT_TAG
    admin = AdminLog()
    admin.global_ = tuple(
        open_emitter(t, sockets, counters, tag=global_tag, pid=pid, hostname=host)
        for t in glob.logs
    )
    for proxy in proxies:
        targets = targets_of(proxy.logs, glob.logs)
        if targets:
            tag = proxy.setting("log-tag") or global_tag
            admin.proxies[proxy.name] = tuple(
                open_emitter(t, sockets, counters, tag=tag, pid=pid, hostname=host) for t in targets
            )
    return admin


def targets_of(own: Sequence[LogTarget], global_: Sequence[LogTarget]) -> list[LogTarget]:
    """A proxy's targets, `log global` expanded to the global ones."""
    result: list[LogTarget] = []
    for target in own:
        if target.address is None and target.target == "global":
            result.extend(global_)
        else:
            result.append(target)
    return result


def open_emitter(
    target: LogTarget, sockets: LogSockets, counters: LogCounters, **framing: object
) -> Emitter:
    framer = SyslogFramer(
        target.format,
        target.facility,
        target.level,
        target.min_level,
        target.length,
        **framing,  # type: ignore[arg-type]
    )
    emitter = _open(target, framer, sockets, counters)
    if target.sample_ranges and target.sample_size:
        emitter.set_sample(target.sample_ranges, target.sample_size)
    return emitter


def _open(
    target: LogTarget, framer: SyslogFramer, sockets: LogSockets, counters: LogCounters
) -> Emitter:
    if target.target in ("stdout", "stderr"):
        return Emitter(framer, counters, fd=1 if target.target == "stdout" else 2)
    address = target.address
    assert address is not None
    if address.family in (Family.UNIX, Family.ABNS):
        path = address.host if address.family == Family.UNIX else "\0" + address.host
        entry = sockets.unix.get(path)
        if entry is None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            sock.setblocking(False)
            try:
                sock.connect(path)  # before the chroot: the path may not exist inside it
                connected = True
            except OSError:
                connected = False
            entry = sockets.unix[path] = (sock, connected)
        sock, connected = entry
        return Emitter(framer, counters, sock=sock, address=path, connected=connected)
    family, sockaddr = _resolve(address.host, address.port or SYSLOG_PORT, address.family)
    sock = sockets.udp.get(family)
    if sock is None:
        sock = sockets.udp[family] = socket.socket(family, socket.SOCK_DGRAM)
        sock.setblocking(False)
    return Emitter(framer, counters, sock=sock, address=sockaddr)


def _resolve(host: str, port: int, family: Family) -> tuple[int, tuple]:
    """The address family and sockaddr of a UDP log target (host names resolved once, now)."""
    wanted = {Family.IPV4: socket.AF_INET, Family.IPV6: socket.AF_INET6}.get(family, 0)
    try:
        infos = socket.getaddrinfo(host or "127.0.0.1", port, wanted, socket.SOCK_DGRAM)
    except (OSError, UnicodeError) as exc:
        raise LogSetupError([f"cannot resolve log target '{host}': {exc}."]) from None
    info = infos[0]
    return info[0], info[4]


# -- admin lines: what is said on stderr that also goes to syslog --------------------------

EMERG, ALERT, WARNING, NOTICE = (LEVELS.index(n) for n in ("emerg", "alert", "warning", "notice"))
# (pattern, syslog level); the proxy is the pattern's first group. HAProxy's levels: a health
# check result or a server coming UP notice, a server going DOWN (check or maintenance) alert,
# a backend left without servers emerg, a proxy stopping warning.
_ADMIN_LINES = (
    (re.compile(r"(?:Health|Agent) check for (?:backup )?server ([^/]+)/"), NOTICE),
    (re.compile(r"(?:Backup )?Server ([^/]+)/\S+ is (?:going )?DOWN"), ALERT),
    (re.compile(r"(?:Backup )?Server ([^/]+)/\S+ (?:is UP|enters drain|was DOWN)"), NOTICE),
    # "proxy 'NAME'" for a listen section (HAProxy's words)
    (re.compile(r"(?:backend|proxy) '([^']+)' has no server available!"), EMERG),
    (re.compile(r"Proxy (\S+) stopped \("), WARNING),
)
# The master's process events, sent to the global targets at their stderr severity.
_PROCESS_EVENTS = re.compile(
    r"New worker \(|Loading success\.|Loading failure!|Reloading HAProxy|Reload: |"
    r"(?:Current|Former) worker \(|Exiting Master process|All workers exited|"
    r"exit-on-failure"
)
_SEVERITY_LEVELS = {Severity.NOTICE: NOTICE, Severity.WARNING: WARNING, Severity.ALERT: ALERT}


def admin_syslog(text: str) -> tuple[str, int, str] | None:
    """(proxy, level, line) of a stderr line HAProxy also logs to that proxy; else None."""
    for pattern, level in _ADMIN_LINES:
        match = pattern.match(text)
        if match is not None:
            proxy = match.group(1)
            if level == EMERG:  # unquoted on syslog
                text = f"{text.split(' ', 1)[0]} {proxy} has no server available!"
            return proxy, level, text
    return None


_REPORTER_FIELDS = frozenset(f.name for f in dataclasses.fields(Reporter))


class AdminReporter(Reporter):
    """A reporter whose lines still go to stderr through the wrapped one, the admin lines
    (`_ADMIN_LINES`) also to their proxy's log targets and, for the master
    (`process_events`), its process events to the global targets."""

    def __init__(self, inner: Reporter, admin: AdminLog, process_events: bool = False) -> None:
        # No dataclass fields of its own: every other attribute is the wrapped reporter's.
        self.__dict__.update(_inner=inner, _admin=admin, _events=process_events, _sockets=None)

    def __getattribute__(self, name: str) -> object:
        if name in _REPORTER_FIELDS:  # the wrapped reporter's state, never a class default
            return getattr(object.__getattribute__(self, "__dict__")["_inner"], name)
        return object.__getattribute__(self, name)

    def __setattr__(self, name: str, value: object) -> None:
        setattr(self.__dict__["_inner"], name, value)

    def retarget(self, admin: AdminLog, sockets: LogSockets | None = None) -> None:
        """A new configuration's targets (the master after a reload); old sockets close."""
        old = self.__dict__["_sockets"]
        self.__dict__.update(_admin=admin, _sockets=sockets)
        if old is not None and old is not sockets:
            old.close()

    def _line(self, severity: Severity, text: str) -> None:
        self.__dict__["_inner"]._line(severity, text)
        found = admin_syslog(text)
        if found is not None:
            self.__dict__["_admin"].send(*found)
        elif self.__dict__["_events"] and _PROCESS_EVENTS.match(text):
            self.__dict__["_admin"].send(None, _SEVERITY_LEVELS.get(severity, NOTICE), text)


def open_master_log(config: Config) -> tuple[AdminLog, LogSockets] | None:
    """The master's admin logger: every proxy's targets and the global ones, with the
    master's pid; None when nothing logs or a target cannot be resolved (the workers report
    that error when they start)."""
    sockets = LogSockets({}, {})
    proxies = [p for p in config.proxies if not p.disabled]
    try:
        admin = build_admin_log(config, proxies, sockets, LogCounters(), os.getpid())
    except (LogSetupError, OSError):
        sockets.close()
        return None
    if not admin.global_ and not admin.proxies:
        sockets.close()
        return None
    return admin, sockets
