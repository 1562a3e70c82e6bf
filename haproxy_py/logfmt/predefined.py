"""HAProxy's predefined formats and which one a proxy uses.

`option tcplog`, `option httplog`, `option httplog clf` name fixed formats; a `log-format`
line wins over them. A proxy that logs with none of these gets HAProxy's legacy line,
written when the connection is accepted: "Connect from CI:CP to FI:FP (FRONTEND/MODE)".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from haproxy_py.logfmt.record import LogRecord

TCP_FORMAT = "%ci:%cp [%t] %ft %b/%s %Tw/%Tc/%Tt %B %ts %ac/%fc/%bc/%sc/%rc %sq/%bq"
HTTP_FORMAT = (
    "%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %CC %CS %tsc "
    "%ac/%fc/%bc/%sc/%rc %sq/%bq %hr %hs %{+Q}r"
)
CLF_FORMAT = (
    '%{+Q}o %{-Q}ci - - [%trg] %r %ST %B "" "" %cp %ms %ft %b %s %TR %Tw %Tc %Tr %Ta '
    "%tsc %ac %fc %bc %sc %rc %sq %bq %CC %CS %hrl %hsl"
)


def proxy_format(options: Mapping[str, Any], settings: Mapping[str, Any], mode: str) -> str | None:
    """The format text a proxy logs with; None for the legacy "Connect from" line."""
    custom = settings.get("log-format")
    if custom:
        return custom
    httplog = options.get("httplog")
    if httplog and mode == "http":
        if isinstance(httplog, Mapping) and httplog.get("clf"):
            return CLF_FORMAT
        return HTTP_FORMAT
    if options.get("tcplog") or httplog:
        return TCP_FORMAT  # httplog in a TCP proxy: HAProxy falls back to tcplog
    return None


def connect_line(record: LogRecord) -> str:
    return (
        f"Connect from {record.client_ip}:{record.client_port} to "
        f"{record.frontend_ip}:{record.frontend_port} ({record.frontend}/{record.mode})"
    )
