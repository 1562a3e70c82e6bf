"""`server` and `default-server` lines and their options.

`server NAME ADDR[:PORT] [OPTION...]` starts from the proxy's `default-server` options (which
a defaults section may set too) and applies its own on top; `no-X` options undo a default.
Names must be unique within a backend. Host names are kept as written: they are resolved
once at start-up by the data plane, not while parsing.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence

from haproxy_py.config.address import SERVER_RULES, parse_address
from haproxy_py.config.builder import ParseContext, SectionBuilder
from haproxy_py.config.diagnostics import ConfigError
from haproxy_py.config.keywords.registry import Statement
from haproxy_py.config.keywords.suboptions import (
    Converter,
    SubOption,
    flag,
    integer,
    ip_address,
    make_suboption_table,
    one_of,
    parse_suboptions,
    time_ms,
    word,
)
from haproxy_py.config.model import Server
from haproxy_py.config.units import parse_int
from haproxy_py.proto.proxy_protocol import V2_OPTIONS, V2_TLS_OPTIONS

_TLS = "TLS is not supported yet"


def _weight(name: str, args: Sequence[str]) -> int:
    text = args[0]
    if not text.isdigit() or int(text) > 256:
        raise ConfigError(f"weight of server is not within 0 and 256 ({text}).")
    return int(text)


def _init_addr(name: str, args: Sequence[str]) -> tuple[str, ...]:
    """`last|libc|none|<ip>` tried in order, comma-separated."""
    methods = []
    for method in args[0].split(","):
        if method not in ("last", "libc", "none"):
            try:
                method = str(ipaddress.ip_address(method))
            except ValueError:
                raise ConfigError(
                    f"'init-addr' : unknown method '{method}' (expects 'last', 'libc', 'none' or"
                    " an IP address)"
                ) from None
        methods.append(method)
    return tuple(methods)


def _proxy_v2_options(name: str, args: Sequence[str]) -> tuple[str, ...]:
    """`proxy-v2-options a,b`: the TLVs haproxy-py writes (haproxy_py/proto/proxy_protocol.py);
    the TLS ones are refused, unknown ones get HAProxy's error."""
    chosen = []
    for option in args[0].split(","):
        if option in V2_TLS_OPTIONS:
            raise ConfigError(f"'{option}' : proxy v2 option not yet supported ({_TLS}).")
        if option not in V2_OPTIONS:
            raise ConfigError(f"'{option}' : proxy v2 option not implemented.")
        chosen.append(option)
    return tuple(chosen)


def _pool_max_conn(name: str, args: Sequence[str]) -> int:
    return parse_int(args[0], name, -1)


def _pool_low_conn(name: str, args: Sequence[str]) -> int:
    """HAProxy 2.6 reads it as C's atoi(): leading digits (signed), anything else is 0; a
    negative value lowers the need (checked on haproxy 2.6.12)."""
    match = re.match(r"\s*([+-]?\d+)", args[0])
    return int(match.group(1)) if match else 0


def _observe(name: str, args: Sequence[str]) -> str:
    if args[0] not in ("none", "layer4", "layer7"):
        raise ConfigError(
            f"'{name}' expects one of 'none', 'layer4', 'layer7' but got '{args[0]}'."
        )
    return args[0]


def _only(value: str) -> Converter:
    """`on-marked-down shutdown-sessions`, `on-marked-up shutdown-backup-sessions`: one value."""

    def convert(name: str, args: Sequence[str]) -> str:
        if args[0] != value:
            raise ConfigError(f"'{name}' expects '{value}' but got '{args[0]}'.")
        return value

    return convert


def _track(name: str, args: Sequence[str]) -> tuple[str, str]:
    """`[<backend>/]<server>` -> (backend or "" for the same one, server)."""
    backend, slash, server = args[0].rpartition("/")
    if not server or (slash and not backend):
        raise ConfigError(f"'track' expects [<backend>/]<server>, got '{args[0]}'")
    return backend, server


SERVER_OPTIONS = make_suboption_table(
    "server",
    [
        SubOption(
            "weight", 1, _weight, "weight <0-256>", "share of the traffic (default 1)", "tcp"
        ),
        SubOption(
            "maxconn",
            1,
            integer(0),
            "maxconn <n>",
            "concurrent connections; more wait in the queue",
            "tcp",
        ),
        SubOption(
            "maxqueue", 1, integer(0), "maxqueue <n>", "longest queue before redispatching", "tcp"
        ),
        SubOption(
            "minconn", 1, integer(0), "minconn <n>", "dynamic maxconn floor (with fullconn)", "tcp"
        ),
        SubOption("backup", 0, flag(), "backup", "used only when no active server is up", "tcp"),
        SubOption(
            "no-backup",
            0,
            flag(False),
            "no-backup",
            "undoes a default-server 'backup'",
            "tcp",
            store_as="backup",
        ),
        SubOption("disabled", 0, flag(), "disabled", "starts in maintenance", "tcp"),
        SubOption(
            "enabled",
            0,
            flag(False),
            "enabled",
            "undoes a default-server 'disabled'",
            "tcp",
            store_as="disabled",
        ),
        SubOption("id", 1, integer(1), "id <n>", "the server's numeric id", "stats"),
        SubOption(
            "cookie", 1, word, "cookie <value>", "persistence cookie value of this server", "rules"
        ),
        SubOption(
            "init-addr",
            1,
            _init_addr,
            "init-addr last|libc|none|<ip>[,...]",
            "how the address is found at start-up",
            "tcp",
        ),
        SubOption("check", 0, flag(), "check", "enables health checks", "checks"),
        SubOption(
            "no-check",
            0,
            flag(False),
            "no-check",
            "undoes a default-server 'check'",
            "checks",
            store_as="check",
        ),
        SubOption(
            "inter", 1, time_ms, "inter <time>", "interval between checks (default 2s)", "checks"
        ),
        SubOption(
            "fastinter",
            1,
            time_ms,
            "fastinter <time>",
            "interval while a state change is pending",
            "checks",
        ),
        SubOption(
            "downinter",
            1,
            time_ms,
            "downinter <time>",
            "interval while the server is down",
            "checks",
        ),
        SubOption(
            "rise", 1, integer(1), "rise <n>", "successes needed to go UP (default 2)", "checks"
        ),
        SubOption(
            "fall", 1, integer(1), "fall <n>", "failures needed to go DOWN (default 3)", "checks"
        ),
        SubOption(
            "port", 1, integer(1, 65535), "port <port>", "port the checks connect to", "checks"
        ),
        SubOption("addr", 1, ip_address, "addr <ip>", "address the checks connect to", "checks"),
        SubOption(
            "slowstart",
            1,
            time_ms,
            "slowstart <time>",
            "ramps the weight up after recovery",
            "checks",
        ),
        SubOption(
            "track",
            1,
            _track,
            "track [<backend>/]<server>",
            "follows another server's state",
            "checks",
        ),
        SubOption(
            "observe",
            1,
            _observe,
            "observe none|layer4|layer7",
            "counts live connection errors (layer7: and HTTP 5xx) as check failures",
            "checks",
        ),
        SubOption(
            "error-limit",
            1,
            integer(1),
            "error-limit <n>",
            "errors before 'on-error' applies",
            "checks",
        ),
        SubOption(
            "on-error",
            1,
            one_of("fastinter", "fail-check", "sudden-death", "mark-down"),
            "on-error <action>",
            "what observed errors do",
            "checks",
        ),
        SubOption(
            "on-marked-down",
            1,
            _only("shutdown-sessions"),
            "on-marked-down shutdown-sessions",
            "closes the server's sessions when it goes down",
            "checks",
        ),
        SubOption(
            "on-marked-up",
            1,
            _only("shutdown-backup-sessions"),
            "on-marked-up shutdown-backup-sessions",
            "closes the backup servers' sessions when it comes up",
            "checks",
        ),
        SubOption(
            "agent-check", 0, flag(), "agent-check", "asks an agent for state and weight", "checks"
        ),
        SubOption(
            "no-agent-check",
            0,
            flag(False),
            "no-agent-check",
            "undoes a default-server 'agent-check'",
            "checks",
            store_as="agent-check",
        ),
        SubOption(
            "agent-port", 1, integer(1, 65535), "agent-port <port>", "the agent's port", "checks"
        ),
        SubOption(
            "agent-inter",
            1,
            time_ms,
            "agent-inter <time>",
            "interval between agent checks",
            "checks",
        ),
        SubOption(
            "agent-send", 1, word, "agent-send <string>", "what is sent to the agent", "checks"
        ),
        SubOption("agent-addr", 1, ip_address, "agent-addr <ip>", "the agent's address", "checks"),
        SubOption(
            "send-proxy",
            0,
            flag(),
            "send-proxy",
            "writes a PROXY protocol v1 header first on every connection to the server",
            "tcp",
        ),
        SubOption(
            "send-proxy-v2",
            0,
            flag(),
            "send-proxy-v2",
            "writes a PROXY protocol v2 header first on every connection to the server",
            "tcp",
        ),
        SubOption(
            "no-send-proxy",
            0,
            flag(False),
            "no-send-proxy",
            "undoes a default-server 'send-proxy'",
            "tcp",
            store_as="send-proxy",
        ),
        SubOption(
            "no-send-proxy-v2",
            0,
            flag(False),
            "no-send-proxy-v2",
            "undoes a default-server 'send-proxy-v2'",
            "tcp",
            store_as="send-proxy-v2",
        ),
        SubOption(
            "proxy-v2-options",
            1,
            _proxy_v2_options,
            "proxy-v2-options <opt>[,<opt>]*",
            "TLVs added to a PROXY v2 header: unique-id, crc32c, authority",
            "tcp",
        ),
        SubOption(
            "check-send-proxy",
            0,
            flag(),
            "check-send-proxy",
            "writes a PROXY protocol header first on health check connections",
            "checks",
        ),
        SubOption(
            "pool-max-conn",
            1,
            _pool_max_conn,
            "pool-max-conn <n>",
            "most idle connections kept for reuse (-1: no limit)",
            "http",
        ),
        SubOption(
            "pool-low-conn",
            1,
            _pool_low_conn,
            "pool-low-conn <n>",
            "idle connections kept beyond the recent need",
            "http",
        ),
        SubOption(
            "pool-purge-delay",
            1,
            time_ms,
            "pool-purge-delay <time>",
            "how often half of the idle connections are closed (default 5s)",
            "http",
        ),
    ],
    unsupported={
        "ssl": _TLS,
        "verify": _TLS,
        "ca-file": _TLS,
        "crt": _TLS,
        "sni": _TLS,
        "check-ssl": _TLS,
        "alpn": _TLS,
        "ciphers": _TLS,
        "no-ssl": _TLS,
        "resolvers": "run-time DNS resolution is out of scope (names resolve once at start)",
        "resolve-prefer": "run-time DNS resolution is out of scope (names resolve once at start)",
        "namespace": "network namespaces are out of scope",
        "source": "choosing the source address is out of scope",
        "proto": "protocol selection is out of scope",
        "redir": "redirect-to-server is out of scope",
        **dict.fromkeys(
            (
                "allow-0rtt",
                "check-alpn",
                "check-sni",
                "ciphersuites",
                "crl-file",
                "curves",
                "force-sslv3",
                "force-tlsv10",
                "force-tlsv11",
                "force-tlsv12",
                "force-tlsv13",
                "no-check-ssl",
                "no-ssl-reuse",
                "no-sslv3",
                "no-tls-tickets",
                "no-tlsv10",
                "no-tlsv11",
                "no-tlsv12",
                "no-tlsv13",
                "no-verifyhost",
                "npn",
                "ssl-max-ver",
                "ssl-min-ver",
                "ssl-reuse",
                "tls-tickets",
                "verifyhost",
                "sigalgs",
                "client-sigalgs",
                "send-proxy-v2-ssl",
                "send-proxy-v2-ssl-cn",
                "no-send-proxy-v2-ssl",
                "no-send-proxy-v2-ssl-cn",
            ),
            _TLS,
        ),
        "check-via-socks4": "SOCKS4 is out of scope",
        "socks4": "SOCKS4 is out of scope",
        "check-proto": "protocol selection is out of scope",
        "log-proto": "log servers (ring sections) are out of scope",
        "max-reuse": "not implemented yet",
        "non-stick": "stick tables are not supported yet",
        "stick": "stick tables are not supported yet",
        "resolve-net": "run-time DNS resolution is out of scope (names resolve once at start)",
        "resolve-opts": "run-time DNS resolution is out of scope (names resolve once at start)",
        "tfo": "TCP fast open is out of scope",
        "no-tfo": "TCP fast open is out of scope",
        "tcp-ut": "TCP user timeouts are out of scope",
        "ws": "HTTP/2 is out of scope",
    },
)


def parse_default_server(stmt: Statement, ctx: ParseContext) -> None:
    defaults = dict(ctx.section.get("default_server", {}))
    parse_suboptions(stmt.args, SERVER_OPTIONS, "'default-server'", into=defaults)
    ctx.section.set("default_server", defaults, stmt.where)


def parse_server(stmt: Statement, ctx: ParseContext) -> None:
    section = ctx.section
    name = stmt.arg(0, "<name> and <addr>")
    label = f"'server {section.name}/{name}'"
    if len(stmt.args) < 2:
        raise ConfigError(f"{label} : expects <name> and <addr>[:<port>] as arguments.")
    seen = section.scratch.setdefault("server_lines", {})
    if name in seen:
        raise ConfigError(
            f"{section.label}, another server named '{name}' was already defined at"
            f" {seen[name].relative_to(stmt.where)}, please use distinct names."
        )
    address = parse_address(stmt.args[1], "server", SERVER_RULES)
    options = dict(section.get("default_server", {}))
    try:
        parse_suboptions(stmt.args[2:], SERVER_OPTIONS, label, into=options)
    except ConfigError as exc:
        # Name the server in the weight message, as HAProxy does.
        raise ConfigError(
            exc.message.replace("weight of server ", f"weight of server {name} ", 1)
        ) from None
    if options.get("track") and options.get("check"):
        raise ConfigError(f"{label} : 'check' and 'track' cannot be used together.")
    seen[name] = stmt.where
    server = Server(stmt.where, name, address, options)
    section.append("servers", server)
    if "track" in options:
        _check_track_later(server, label, ctx)


def _check_track_later(server: Server, label: str, ctx: ParseContext) -> None:
    """The tracked server must exist and be checked, or track another itself (a chain that
    does not loop); known only once everything is read. HAProxy's words."""
    section, sections, diagnostics = ctx.section, ctx.sections, ctx.diagnostics
    backend_name, server_name = server.options["track"]

    def builder_of(backend: str) -> SectionBuilder | None:
        return sections.get("backend", {}).get(backend) or sections.get("listen", {}).get(backend)

    def find(backend: str, name: str) -> Server | None:
        builder = builder_of(backend)
        if builder is None:
            return None
        return next((s for s in builder.get("servers", []) if s.name == name), None)

    def on_404(builder: SectionBuilder | None) -> bool:
        return builder is not None and bool(
            builder.get("settings", {}).get("http-check disable-on-404")
        )

    def check() -> None:
        here = section.name
        target_backend = backend_name or here
        if (
            find(target_backend, server_name) is None
            and backend_name
            and not (
                sections.get("backend", {}).get(backend_name)
                or sections.get("listen", {}).get(backend_name)
            )
        ):
            diagnostics.alert(
                f"{label} : unable to find required proxy '{backend_name}' for tracking.",
                server.where,
            )
            return
        target = find(target_backend, server_name)
        if target is None:
            diagnostics.alert(
                f"{label} : unable to find required server '{server_name}' for tracking.",
                server.where,
            )
            return
        if not (target.options.get("check") or target.options.get("agent-check")) and not (
            target.options.get("track")
        ):
            diagnostics.alert(
                f"{label} : unable to use {target_backend}/{target.name} for tracking as it"
                " does not have any check nor agent enabled.",
                server.where,
            )
            return
        if on_404(section) != on_404(builder_of(target_backend)):
            # NOLB passes down a tracking chain only between proxies that both have it.
            # ("fortracking": HAProxy 2.6's words exactly, its missing space included.)
            diagnostics.alert(
                f"{label} : unable to use {target_backend}/{target.name} for"
                "tracking: disable-on-404 option inconsistency.",
                server.where,
            )
            return
        # Walk the chain: back to this server is a loop, reported once, on its last line.
        chain, current, current_backend = [server], target, target_backend
        while current is not None and current.options.get("track"):
            if current is server:
                break
            chain.append(current)
            next_backend, next_name = current.options["track"]
            current_backend = next_backend or current_backend
            current = find(current_backend, next_name)
        if current is server and max(s.where.line for s in chain) == server.where.line:
            diagnostics.alert(
                f"{label} : unable to track {target_backend}/{target.name} as it belongs to a"
                f" tracking chain looping back to {here}/{server.name}.",
                server.where,
            )

    ctx.deferred.append(check)
