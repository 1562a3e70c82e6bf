"""Traffic log lines: the per-stream record, the `%` variable table, the log-format compiler.

Pure: no trio, no sockets. A proxy's format is compiled once at load time into a callable
taking a `LogRecord` and returning the line (without syslog framing: haproxy_py.proto.syslog).
"""

from haproxy_py.logfmt.compiler import LogFormat, LogFormatError, compile_format
from haproxy_py.logfmt.predefined import (
    CLF_FORMAT,
    HTTP_FORMAT,
    TCP_FORMAT,
    connect_line,
    proxy_format,
)
from haproxy_py.logfmt.record import LogRecord
from haproxy_py.logfmt.termination import termination_state

__all__ = [
    "CLF_FORMAT",
    "HTTP_FORMAT",
    "TCP_FORMAT",
    "LogFormat",
    "LogFormatError",
    "LogRecord",
    "compile_format",
    "connect_line",
    "proxy_format",
    "termination_state",
]
