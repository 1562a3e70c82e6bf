"""`bind` lines and their options (also used by `stats socket` in the global section).

A bind line is `bind ADDR[,ADDR...] [OPTION...]`: one or several comma-separated addresses,
each possibly a port range, then options from BIND_OPTIONS. Listening is the data plane's
job; here the addresses and options are checked and stored.
"""

from __future__ import annotations

from haproxy_py.config.address import BIND_RULES, parse_address
from haproxy_py.config.builder import ParseContext
from haproxy_py.config.diagnostics import ConfigError
from haproxy_py.config.keywords.registry import Statement
from haproxy_py.config.keywords.suboptions import (
    SubOption,
    flag,
    integer,
    make_suboption_table,
    octal_mode,
    one_of,
    parse_suboptions,
    word,
)
from haproxy_py.config.model import Bind

_TLS = "TLS is not supported yet"

BIND_OPTIONS = make_suboption_table(
    "bind",
    [
        SubOption("name", 1, word, "name <name>", "names the listener in stats and logs", "stats"),
        SubOption("id", 1, integer(1), "id <n>", "sets the listener's numeric id", "stats"),
        SubOption(
            "maxconn",
            1,
            integer(0),
            "maxconn <n>",
            "limits concurrent connections on this listener",
            "tcp",
        ),
        SubOption(
            "backlog", 1, integer(1), "backlog <n>", "sets the kernel accept queue length", "tcp"
        ),
        SubOption("v4v6", 0, flag(), "v4v6", "an IPv6 wildcard also accepts IPv4", "tcp"),
        SubOption("v6only", 0, flag(), "v6only", "an IPv6 wildcard accepts IPv6 only", "tcp"),
        SubOption(
            "transparent", 0, flag(), "transparent", "binds a foreign address (needs root)", "tcp"
        ),
        SubOption(
            "mode", 1, octal_mode, "mode <octal>", "permissions of a UNIX socket file", "tcp"
        ),
        SubOption("uid", 1, integer(0), "uid <uid>", "owner of a UNIX socket file", "tcp"),
        SubOption("gid", 1, integer(0), "gid <gid>", "group of a UNIX socket file", "tcp"),
        SubOption("user", 1, word, "user <name>", "owner of a UNIX socket file, by name", "tcp"),
        SubOption("group", 1, word, "group <name>", "group of a UNIX socket file, by name", "tcp"),
        SubOption(
            "level",
            1,
            one_of("user", "operator", "admin"),
            "level user|operator|admin",
            "runtime API level of a stats socket",
            "stats",
        ),
        SubOption(
            "expose-fd",
            1,
            one_of("listeners"),
            "expose-fd listeners",
            "lets `_getsocks` hand out the listening sockets",
            "process",
        ),
        SubOption(
            "severity-output",
            1,
            one_of("none", "number", "string"),
            "severity-output none|number|string",
            "how a stats socket reports severities",
            "stats",
        ),
        SubOption(
            "accept-proxy",
            0,
            flag(),
            "accept-proxy",
            "expects a PROXY protocol header first",
            "tcp",
        ),
        SubOption(
            "defer-accept", 0, flag(), "defer-accept", "accepts only once data has arrived", "tcp"
        ),
        SubOption("nosplice", 0, flag(), "nosplice", "never splices on this listener", "tcp"),
    ],
    unsupported={
        "ssl": _TLS,
        "crt": _TLS,
        "crt-list": _TLS,
        "ca-file": _TLS,
        "alpn": _TLS,
        "npn": _TLS,
        "verify": _TLS,
        "ciphers": _TLS,
        "ciphersuites": _TLS,
        "ssl-min-ver": _TLS,
        "ssl-max-ver": _TLS,
        "strict-sni": _TLS,
        "proto": "protocol selection is out of scope",
        "interface": "binding to an interface is out of scope",
        "namespace": "network namespaces are out of scope",
        "process": "workers are chosen by the master, not per bind line",
        "thread": "workers are processes, not threads",
        "tfo": "TCP fast open is out of scope",
        "mss": "setting the MSS is out of scope",
        "tcp-ut": "TCP user timeouts are out of scope",
        **dict.fromkeys(
            (
                "allow-0rtt",
                "ca-ignore-err",
                "ca-sign-file",
                "ca-sign-pass",
                "ca-verify-file",
                "crl-file",
                "crt-ignore-err",
                "curves",
                "ecdhe",
                "force-sslv3",
                "force-tlsv10",
                "force-tlsv11",
                "force-tlsv12",
                "force-tlsv13",
                "generate-certificates",
                "no-ca-names",
                "no-sslv3",
                "no-tls-tickets",
                "no-tlsv10",
                "no-tlsv11",
                "no-tlsv12",
                "no-tlsv13",
                "prefer-client-ciphers",
                "tls-ticket-keys",
                "sigalgs",
                "client-sigalgs",
            ),
            _TLS,
        ),
        "accept-netscaler-cip": "the NetScaler client IP protocol is out of scope",
        "nice": "task priorities are out of scope",
        "quic-cc-algo": "QUIC is out of scope",
        "quic-force-retry": "QUIC is out of scope",
        "shards": "workers are processes, not threads",
    },
)


def parse_bind(stmt: Statement, ctx: ParseContext) -> None:
    spec = stmt.arg(0, "<addr>")
    addresses = tuple(parse_address(item, "bind", BIND_RULES) for item in spec.split(","))
    options = parse_suboptions(stmt.args[1:], BIND_OPTIONS, f"'bind {spec}'")
    if options.get("v4v6") and options.get("v6only"):
        raise ConfigError(f"'bind {spec}' : 'v4v6' and 'v6only' are mutually exclusive.")
    ctx.section.append("binds", Bind(stmt.where, addresses, options))
