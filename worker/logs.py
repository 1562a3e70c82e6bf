"""Each frontend's compiled logger: the worker side of traffic logs (and the admin logger).

`build_loggers()` runs while the worker builds its state, before it isolates itself: every log
socket is opened then (haproxy_py/process/logsend.py, shared with the master).
Rules of this file:
- a frontend without a log target, a `unique-id-format` or `capture cookie` has no logger
  (None): sessions then build nothing;
- formats are compiled once here (haproxy_py.logfmt): `log-format` (or the option's format),
  `log-format-sd` (RFC5424 structured data, sent only to rfc5424 targets), `error-log-format`
  (lines of requests that could not be parsed, as HAProxy 2.6 uses it) and
  `unique-id-format`; a line is framed per target.
- the admin logger (`LogSockets.admin`) sends server state changes and "Proxy X stopped"
  lines to the log targets of the proxy they concern, as HAProxy does.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Sequence

from haproxy_py.config.model import Config, Proxy
from haproxy_py.logfmt import LogFormat, LogFormatError, LogRecord, compile_format, connect_line
from haproxy_py.logfmt.predefined import proxy_format
from haproxy_py.logfmt.record import SILENT
from haproxy_py.process.logsend import (
    DEFAULT_TAG,
    AdminLog,
    AdminReporter,
    Emitter,
    LogCounters,
    LogSetupError,
    LogSockets,
    build_admin_log,
    open_emitter,
    send_hostname,
    targets_of,
)
from haproxy_py.proto.syslog import INFO, LEVELS
from haproxy_py.report import Reporter
from haproxy_py.sample.env import CompileEnv
from worker.startup import read_lines

__all__ = [
    "AdminLog",
    "Emitter",
    "LogCounters",
    "LogSetupError",
    "LogSockets",
    "ProxyLogger",
    "build_loggers",
]

ERR = LEVELS.index("err")


class ProxyLogger:
    """A frontend's traffic logger: its formats, its targets and the options that filter."""

    __slots__ = (
        "at_accept",
        "cookie_capture",
        "counters",
        "dontlog_normal",
        "dontlognull",
        "error_format",
        "format",
        "hostname",
        "mode",
        "pid",
        "request_captures",
        "response_captures",
        "samples",
        "sd_format",
        "separate_errors",
        "targets",
        "unique_header",
        "unique_id",
    )  # fmt: skip

    def __init__(
        self,
        proxy: Proxy,
        fmt: LogFormat | None,
        targets: Sequence[Emitter],
        pid: int,
        hostname: str,
        *,
        counters: LogCounters | None = None,
        sd_format: LogFormat | None = None,
        error_format: LogFormat | None = None,
        unique_id: LogFormat | None = None,
    ) -> None:
        options = proxy.options
        self.format = fmt
        self.targets = tuple(targets)
        self.at_accept = fmt is None and bool(self.targets)  # the legacy "Connect from" line
        self.sd_format = sd_format
        self.error_format = error_format
        self.unique_id = unique_id
        header = proxy.setting("unique-id-header")
        self.unique_header = header.encode("latin-1") if header and unique_id else None
        self.samples = any(f is not None and f.samples for f in (fmt, sd_format, error_format))
        self.samples = self.samples or bool(unique_id is not None and unique_id.samples)
        self.counters = counters if counters is not None else LogCounters()
        self.dontlognull = options.get("dontlognull") is True
        self.dontlog_normal = options.get("dontlog-normal") is True
        self.separate_errors = options.get("log-separate-errors") is True
        self.mode = "HTTP" if proxy.mode == "http" else "TCP"
        self.pid = pid
        self.hostname = hostname
        self.request_captures = tuple(proxy.setting("request_captures", ()))
        self.response_captures = tuple(proxy.setting("response_captures", ()))
        self.cookie_capture: tuple[str, int] | None = proxy.setting("capture_cookie")

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

    def count(self, record: LogRecord) -> None:
        """The stream's `%rt` (the worker's request counter), given when first needed."""
        if record.request_counter < 0:
            counters = self.counters
            record.request_counter = counters.requests
            counters.requests += 1

    def make_unique_id(self, record: LogRecord) -> str:
        """The request's unique id, made once (`%ID`, `unique-id-header`)."""
        if not record.unique_id and self.unique_id is not None:
            self.count(record)
            record.unique_id = self.unique_id(record)
        return record.unique_id

    def log(self, record: LogRecord) -> None:
        """At stream end (HTTP: request end): filter, render and send."""
        if not self.targets or self.format is None:
            return
        if self.dontlognull and record.bytes_in == 0:
            return
        error = record.is_error
        if self.dontlog_normal and not error:
            return
        level = ERR if error and self.separate_errors else INFO
        ctx = record.ctx
        if ctx is not None and record.level < 0 and ctx.log_level >= 0:  # type: ignore[attr-defined]
            record.level = ctx.log_level  # type: ignore[attr-defined]  # tcp-request content
        if record.level >= 0:
            if record.level == SILENT:
                return
            level = record.level  # set-log-level wins over log-separate-errors
        self.count(record)
        if record.method:
            self.make_unique_id(record)  # HAProxy makes it at log time if nothing asked yet
        if ctx is not None:  # what srv_name/be_name read at log time
            ctx.backend = record.backend  # type: ignore[attr-defined]
            ctx.server = record.server or ""  # type: ignore[attr-defined]
        fmt = self.format
        if self.error_format is not None and not record.method and record.mode == "HTTP":
            fmt = self.error_format  # a request that could not be parsed
        line = fmt(record)
        sd_format = self.sd_format
        if sd_format is None:
            self.emit(level, line)
            return
        sd = sd_format(record) or "-"
        now = time.time()
        for target in self.targets:
            target.send(level, line, now, sd if target.framer.fmt == "rfc5424" else "-")

    def emit(self, level: int, line: str) -> None:
        now = time.time()
        for target in self.targets:
            target.send(level, line, now)


def build_loggers(
    config: Config, proxies: Sequence[Proxy], counters: LogCounters, env_for: object = None
) -> tuple[dict[str, ProxyLogger], LogSockets]:
    """A logger per proxy that logs; raises LogSetupError listing every bad format.

    The returned LogSockets also carries the admin logger of every enabled proxy. `env_for`,
    if given, maps a proxy to the sample CompileEnv its `%[...]` expressions compile with."""
    glob = config.global_
    pid = os.getpid()
    hostname = socket.gethostname()
    send_host = send_hostname(config)
    sockets = LogSockets({}, {})
    loggers: dict[str, ProxyLogger] = {}
    errors: list[str] = []
    try:
        for proxy in proxies:
            targets = targets_of(proxy.logs, glob.logs)
            unique_text = proxy.setting("unique-id-format")
            if not targets and not unique_text and not proxy.setting("capture_cookie"):
                continue
            env = env_for(proxy) if callable(env_for) else _sample_env(config, proxy)
            compiled: dict[str, LogFormat | None] = {}
            for key, text in (
                ("log-format", proxy_format(proxy.options, proxy.settings, proxy.mode)),
                ("log-format-sd", proxy.setting("log-format-sd")),
                ("error-log-format", proxy.setting("error-log-format")),
                ("unique-id-format", unique_text),
            ):
                try:
                    compiled[key] = (
                        compile_format(text, proxy.mode, env, unique_id=key == "unique-id-format")
                        if text
                        else None
                    )
                except LogFormatError as exc:
                    errors.append(
                        f"{proxy.where}: proxy '{proxy.name}': failed to parse {key}: {exc}."
                    )
            tag = proxy.setting("log-tag") or glob.setting("log-tag") or DEFAULT_TAG
            emitters = [
                open_emitter(target, sockets, counters, tag=tag, pid=pid, hostname=send_host)
                for target in targets
            ]
            loggers[proxy.name] = ProxyLogger(
                proxy,
                compiled.get("log-format"),
                emitters,
                pid,
                hostname,
                counters=counters,
                sd_format=compiled.get("log-format-sd"),
                error_format=compiled.get("error-log-format"),
                unique_id=compiled.get("unique-id-format"),
            )
        enabled = [p for p in config.proxies if not p.disabled]
        sockets.admin = build_admin_log(config, enabled, sockets, counters, pid)
    except LogSetupError:
        sockets.close()
        raise
    if errors:
        sockets.close()
        raise LogSetupError(errors)
    return loggers, sockets


def _sample_env(config: Config, proxy: Proxy) -> CompileEnv:
    """What `%[...]` in this proxy's formats compile with: files read now (before the
    chroot), backends checked by name, as the rules engine does."""
    backends = {
        p.name: frozenset(s.name for s in p.servers) for p in config.proxies if p.is_backend
    }
    return CompileEnv(
        loader=read_lines,
        proxy=proxy.name,
        proxy_is_backend=proxy.is_backend,
        backends=backends,
    )


def admin_log(state: object) -> AdminLog | None:
    """The worker's admin logger (None in tests that build no log sockets)."""
    sockets = getattr(state, "log_sockets", None)
    return sockets.admin if sockets is not None else None


def with_admin_log(reporter: Reporter, state: object) -> Reporter:
    """`reporter`, sending admin lines to syslog too when the worker has log sockets."""
    admin = admin_log(state)
    return reporter if admin is None else AdminReporter(reporter, admin)
