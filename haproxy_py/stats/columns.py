"""`show stat`'s columns and its CSV line writer.

HAProxy 2.6's 128 columns in their order, the header line, and how one row becomes a CSV
line: one %-format in C, with the rare field that holds a comma, a quote or a line break
quoted as HAProxy quotes it. Knows nothing of tables or configurations.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from itertools import repeat

STAT_COLUMNS: tuple[str, ...] = (
    "pxname", "svname", "qcur", "qmax", "scur", "smax", "slim", "stot", "bin", "bout", "dreq",
    "dresp", "ereq", "econ", "eresp", "wretr", "wredis", "status", "weight", "act", "bck",
    "chkfail", "chkdown", "lastchg", "downtime", "qlimit", "pid", "iid", "sid", "throttle",
    "lbtot", "tracked", "type", "rate", "rate_lim", "rate_max", "check_status", "check_code",
    "check_duration", "hrsp_1xx", "hrsp_2xx", "hrsp_3xx", "hrsp_4xx", "hrsp_5xx", "hrsp_other",
    "hanafail", "req_rate", "req_rate_max", "req_tot", "cli_abrt", "srv_abrt", "comp_in",
    "comp_out", "comp_byp", "comp_rsp", "lastsess", "last_chk", "last_agt", "qtime", "ctime",
    "rtime", "ttime", "agent_status", "agent_code", "agent_duration", "check_desc",
    "agent_desc", "check_rise", "check_fall", "check_health", "agent_rise", "agent_fall",
    "agent_health", "addr", "cookie", "mode", "algo", "conn_rate", "conn_rate_max", "conn_tot",
    "intercepted", "dcon", "dses", "wrew", "connect", "reuse", "cache_lookups", "cache_hits",
    "srv_icur", "src_ilim", "qtime_max", "ctime_max", "rtime_max", "ttime_max", "eint",
    "idle_conn_cur", "safe_conn_cur", "used_conn_cur", "need_conn_est", "uweight",
    "agg_server_status", "agg_server_check_status", "agg_check_status", "-", "ssl_sess",
    "ssl_reused_sess", "ssl_failed_handshake", "h2_headers_rcvd", "h2_data_rcvd",
    "h2_settings_rcvd", "h2_rst_stream_rcvd", "h2_goaway_rcvd",
    "h2_detected_conn_protocol_errors", "h2_detected_strm_protocol_errors",
    "h2_rst_stream_resp", "h2_goaway_resp", "h2_open_connections", "h2_backend_open_streams",
    "h2_total_connections", "h2_backend_total_streams", "h1_open_connections",
    "h1_open_streams", "h1_total_connections", "h1_total_streams", "h1_bytes_in",
    "h1_bytes_out", "h1_spliced_bytes_in", "h1_spliced_bytes_out",
)  # fmt: skip
HEADER = "# " + ",".join(STAT_COLUMNS) + ",\n"
NO_SUCH_PROXY = "No such proxy.\n\n"
_LINE = ",".join(["%s"] * len(STAT_COLUMNS)) + ",\n"
ODD = re.compile('["\r]')


def csv_line(values: Mapping[str, object]) -> str:
    """One row as a CSV line: the columns in order, texts quoted where HAProxy quotes them."""
    return write_line(list(map(values.get, STAT_COLUMNS, repeat(""))))


def write_line(values: Sequence[object]) -> str:
    line = _LINE % tuple(values)  # one C call: measured twice as fast as join(map(str))
    # Rare: a check text with a comma, a quote or a line break. Then the line has more
    # commas or line breaks than its separators, and each field is quoted as it needs.
    if line.count(",") != len(STAT_COLUMNS) or line.count("\n") != 1 or ODD.search(line):
        line = ",".join(quoted(str(value)) for value in values) + ",\n"
    return line


def quoted(text: str) -> str:
    """A text field as HAProxy's CSV writes it: quoted when it holds a comma, a quote or a
    line break (quotes doubled)."""
    if any(char in text for char in ',"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text
