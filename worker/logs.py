"""Log emitters and each frontend's compiled logger (the worker side of traffic logs).

`build_loggers()` runs while the worker builds its state, before it isolates itself: every log
socket is opened (and UNIX ones connected) then, so `log /dev/log` keeps working after a
chroot. One UDP socket per address family serves every UDP target.
Rules of this file:
- sending never blocks and never raises: a datagram the kernel refuses (full buffer,
  unreachable target, vanished syslog socket) is counted in `LogCounters.dropped` and lost;
- a frontend without a log target has no logger (None): sessions then build nothing;
- formats are compiled once here (haproxy_py.logfmt); a line is framed per target
  (haproxy_py.proto.syslog) because each target has its own format, facility and length.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass

from haproxy_py.config.address import Family
from haproxy_py.config.model import Config, LogTarget, Proxy
from haproxy_py.logfmt import LogFormat, LogFormatError, LogRecord, compile_format, connect_line
from haproxy_py.logfmt.predefined import proxy_format
from haproxy_py.proto.syslog import INFO, LEVELS, SyslogFramer

ERR = LEVELS.index("err")
DEFAULT_TAG = "haproxy-py"
SYSLOG_PORT = 514


@dataclass(eq=False)
class LogCounters:
    sent: int = 0
    dropped: int = 0  # DroppedLogs in `show info`


class Emitter:
    """One `log` line of the configuration: a framer and where its datagrams go."""

    __slots__ = ("address", "connected", "counters", "fd", "framer", "sock")

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

    def send(self, level: int, line: str, now: float) -> None:
        data = self.framer.frame(level, line, now)
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
            if self.connected:
                self.connected = False  # the syslog socket went away: try its path next time
            return
        self.counters.sent += 1


class ProxyLogger:
    """A frontend's traffic logger: its format, its targets and the options that filter."""

    __slots__ = (
        "at_accept",
        "dontlog_normal",
        "dontlognull",
        "format",
        "hostname",
        "mode",
        "pid",
        "request_captures",
        "response_captures",
        "separate_errors",
        "targets",
    )  # fmt: skip

    def __init__(
        self,
        proxy: Proxy,
        fmt: LogFormat | None,
        targets: Sequence[Emitter],
        pid: int,
        hostname: str,
    ) -> None:
        options = proxy.options
        self.format = fmt
        self.at_accept = fmt is None  # the legacy "Connect from" line
        self.targets = tuple(targets)
        self.dontlognull = options.get("dontlognull") is True
        self.dontlog_normal = options.get("dontlog-normal") is True
        self.separate_errors = options.get("log-separate-errors") is True
        self.mode = "HTTP" if proxy.mode == "http" else "TCP"
        self.pid = pid
        self.hostname = hostname
        self.request_captures = tuple(proxy.setting("request_captures", ()))
        self.response_captures = tuple(proxy.setting("response_captures", ()))

    def start(self, name: str, client: socket.socket, peer: object) -> LogRecord | None:
        """At accept: a record to fill (None for the legacy format, whose line goes now)."""
        record = LogRecord(time.time())
        record.frontend = name
        record.mode = self.mode
        record.pid = self.pid
        record.hostname = self.hostname
        if isinstance(peer, tuple):
            record.client_ip, record.client_port = peer[0], peer[1]
        else:
            record.client_ip = "unix"
        try:
            local = client.getsockname()
        except OSError:
            local = None
        if isinstance(local, tuple):
            record.frontend_ip, record.frontend_port = local[0], local[1]
        else:
            record.frontend_ip = "unix"
        if self.at_accept:
            self.emit(INFO, connect_line(record))
            return None
        return record

    def log(self, record: LogRecord) -> None:
        """At stream end (HTTP: request end): filter, render and send."""
        if self.dontlognull and record.bytes_in == 0:
            return
        error = record.is_error
        if self.dontlog_normal and not error:
            return
        level = ERR if error and self.separate_errors else INFO
        assert self.format is not None
        self.emit(level, self.format(record))

    def emit(self, level: int, line: str) -> None:
        now = time.time()
        for target in self.targets:
            target.send(level, line, now)


@dataclass(eq=False)
class LogSockets:
    """The sockets opened for logging, shared by the targets that can share them."""

    udp: dict[int, socket.socket]
    unix: dict[str, tuple[socket.socket, bool]]

    def close(self) -> None:
        for sock in self.udp.values():
            sock.close()
        for sock, _ in self.unix.values():
            sock.close()


class LogSetupError(Exception):
    def __init__(self, messages: list[str]) -> None:
        super().__init__("; ".join(messages))
        self.messages = messages


def build_loggers(
    config: Config, proxies: Sequence[Proxy], counters: LogCounters
) -> tuple[dict[str, ProxyLogger], LogSockets]:
    """A logger per proxy that logs; raises LogSetupError listing every bad format."""
    glob = config.global_
    pid = os.getpid()
    hostname = socket.gethostname()
    sent_name = glob.setting("log-send-hostname")
    send_host = (sent_name or hostname) if sent_name is not None else ""
    sockets = LogSockets({}, {})
    loggers: dict[str, ProxyLogger] = {}
    errors: list[str] = []
    for proxy in proxies:
        targets = _targets(proxy.logs, glob.logs)
        if not targets:
            continue
        text = proxy_format(proxy.options, proxy.settings, proxy.mode)
        fmt = None
        if text is not None:
            try:
                fmt = compile_format(text, proxy.mode)
            except LogFormatError as exc:
                where = proxy.where
                errors.append(f"{where}: proxy '{proxy.name}': failed to parse log-format: {exc}.")
                continue
        tag = proxy.setting("log-tag") or glob.setting("log-tag") or DEFAULT_TAG
        emitters = [
            _emitter(target, sockets, counters, tag=tag, pid=pid, hostname=send_host)
            for target in targets
        ]
        loggers[proxy.name] = ProxyLogger(proxy, fmt, emitters, pid, hostname)
    if errors:
        sockets.close()
        raise LogSetupError(errors)
    return loggers, sockets


def _targets(own: Sequence[LogTarget], global_: Sequence[LogTarget]) -> list[LogTarget]:
    result: list[LogTarget] = []
    for target in own:
        if target.address is None and target.target == "global":
            result.extend(global_)
        else:
            result.append(target)
    return result


def _emitter(
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
