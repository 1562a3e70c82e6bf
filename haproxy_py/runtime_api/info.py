"""`show info`: HAProxy 2.6's field order and the plain `Name: value` format.

The values come from the caller (a mapping from field name to value); fields it does not
know are left out, as HAProxy leaves out fields with an empty value, so the order of what is
printed is always HAProxy's (tools such as hatop and exporters read fields by name).
"""

from __future__ import annotations

from collections.abc import Mapping

# HAProxy 2.6.12's order (typed positions 0..71; the zlib pair is absent from its builds).
INFO_FIELDS = (
    "Name", "Version", "Release_date", "Nbthread", "Nbproc", "Process_num", "Pid", "Uptime",
    "Uptime_sec", "Memmax_MB", "PoolAlloc_MB", "PoolUsed_MB", "PoolFailed", "Ulimit-n",
    "Maxsock", "Maxconn", "Hard_maxconn", "CurrConns", "CumConns", "CumReq", "MaxSslConns",
    "CurrSslConns", "CumSslConns", "Maxpipes", "PipesUsed", "PipesFree", "ConnRate",
    "ConnRateLimit", "MaxConnRate", "SessRate", "SessRateLimit", "MaxSessRate", "SslRate",
    "SslRateLimit", "MaxSslRate", "SslFrontendKeyRate", "SslFrontendMaxKeyRate",
    "SslFrontendSessionReuse_pct", "SslBackendKeyRate", "SslBackendMaxKeyRate",
    "SslCacheLookups", "SslCacheMisses", "CompressBpsIn", "CompressBpsOut",
    "CompressBpsRateLim", "Tasks", "Run_queue", "Idle_pct", "node", "description", "Stopping",
    "Jobs", "Unstoppable Jobs", "Listeners", "ActivePeers", "ConnectedPeers", "DroppedLogs",
    "BusyPolling", "FailedResolutions", "TotalBytesOut", "TotalSplicdedBytesOut",
    "BytesOutRate", "DebugCommandsIssued", "CumRecvLogs", "Build info", "Memmax_bytes",
    "PoolAlloc_bytes", "PoolUsed_bytes", "Start_time_sec", "Tainted",
)  # fmt: skip


def split_duration(seconds: float) -> tuple[int, int, int, int]:
    """(days, hours, minutes, seconds) of a duration (negative counts as 0)."""
    total = max(0, int(seconds))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return days, hours, minutes, secs


def format_uptime(seconds: float) -> str:
    """`show info`'s Uptime: `0d 0h00m39s` (show proc's form has no space and two digits)."""
    days, hours, minutes, secs = split_duration(seconds)
    return f"{days}d {hours}h{minutes:02d}m{secs:02d}s"


def format_info(values: Mapping[str, object]) -> str:
    """The plain `show info` answer, ending with its empty line."""
    lines = [
        f"{name}: {values[name]}\n"
        for name in INFO_FIELDS
        if name in values and values[name] not in ("", None)
    ]
    return "".join(lines) + "\n"
