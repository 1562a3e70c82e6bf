"""Syslog framing of log lines, as HAProxy 2.6 puts them on the wire (sans-IO: bytes out).

Formats of `log ... format F`:
- rfc3164 (the default) and local: `<PRI>Mmm dd hh:mm:ss [HOST ]TAG[PID]: MSG` (local never
  writes the host name);
- rfc5424: `<PRI>1 YYYY-MM-DDThh:mm:ss.uuuuuu+hh:mm HOST TAG PID - SD MSG` (HOST is "-" unless
  `log-send-hostname`, SD is "-" unless `log-format-sd`);
- short `<LEVEL>MSG`, raw `MSG`, iso `ISO MSG`, timed `<LEVEL>ISO MSG`, priority `<PRI>MSG`.
Header and message are cut to `len` bytes, then a line feed ends the datagram.
A target's `LEVEL` drops lines less severe than it; `MINLEVEL` raises lines more severe than it
to that level. Times are injected (`now`, seconds since the epoch) so tests are exact.
"""

from __future__ import annotations

import time

FACILITIES = (
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron",
    "auth2", "ftp", "ntp", "audit", "alert", "cron2",
    "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
)  # fmt: skip
LEVELS = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
INFO = 6
NOTICE = 5


def iso_date(now: float) -> str:
    """`2026-11-21T16:57:17.846037+00:00`: local time, microseconds, UTC offset."""
    t = time.localtime(now)
    micro = round(now * 1_000_000) % 1_000_000
    offset = t.tm_gmtoff // 60
    sign = "-" if offset < 0 else "+"
    offset = abs(offset)
    return (
        f"{t.tm_year}-{t.tm_mon:02d}-{t.tm_mday:02d}T{t.tm_hour:02d}:{t.tm_min:02d}:"
        f"{t.tm_sec:02d}.{micro:06d}{sign}{offset // 60:02d}:{offset % 60:02d}"
    )


def bsd_date(now: float) -> str:
    """`Nov  1 16:57:17`: RFC3164's date, local time, day padded with a space."""
    t = time.localtime(now)
    return f"{_MONTHS[t.tm_mon - 1]} {t.tm_mday:2d} {t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}"


class SyslogFramer:
    """How one log target frames a line; `frame()` returns the datagram or None (filtered)."""

    __slots__ = (
        "_cached_prefix",
        "_cached_second",
        "facility",
        "fmt",
        "hostname",
        "length",
        "max_level",
        "min_level",
        "pid",
        "tag",
    )  # fmt: skip

    def __init__(
        self,
        fmt: str = "rfc3164",
        facility: str = "user",
        level: str = "",
        min_level: str = "",
        length: int = 1024,
        *,
        tag: str = "haproxy",
        pid: int = 0,
        hostname: str = "",
    ) -> None:
        self.fmt = fmt
        self.facility = FACILITIES.index(facility)
        self.max_level = LEVELS.index(level) if level else len(LEVELS) - 1
        self.min_level = LEVELS.index(min_level) if min_level else 0
        self.length = length
        self.tag = tag
        self.pid = pid
        self.hostname = hostname
        self._cached_second = -1
        self._cached_prefix = ""

    def accepts(self, level: int) -> bool:
        return level <= self.max_level

    def frame(self, level: int, message: str, now: float, sd: str = "-") -> bytes | None:
        if level > self.max_level:
            return None
        level = max(level, self.min_level)
        pri = self.facility * 8 + level
        fmt = self.fmt
        if fmt == "rfc3164" or fmt == "local":
            head = f"<{pri}>{self._bsd_prefix(now, fmt == 'rfc3164')}"
        elif fmt == "rfc5424":
            host = self.hostname or "-"
            head = f"<{pri}>1 {iso_date(now)} {host} {self.tag} {self.pid} - {sd} "
        elif fmt == "raw":
            head = ""
        elif fmt == "short":
            head = f"<{level}>"
        elif fmt == "priority":
            head = f"<{pri}>"
        elif fmt == "iso":
            head = f"{iso_date(now)} "
        elif fmt == "timed":
            head = f"<{level}>{iso_date(now)} "
        else:
            raise ValueError(f"unknown syslog format '{fmt}'")
        data = (head + message).encode("utf-8", "replace")
        if len(data) > self.length:
            data = data[: self.length]
        return data + b"\n"

    def _bsd_prefix(self, now: float, with_host: bool) -> str:
        """Date, host and tag[pid]; computed once per second."""
        second = int(now)
        if second != self._cached_second:
            host = f"{self.hostname} " if with_host and self.hostname else ""
            self._cached_prefix = f"{bsd_date(now)} {host}{self.tag}[{self.pid}]: "
            self._cached_second = second
        return self._cached_prefix
