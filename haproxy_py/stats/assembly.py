"""Row templates: how each kind of `show stat` row (frontend, backend, server; http or
not) is put together from its counters, the values computed for it and its constants.

Chosen once, at import: a row then costs one itemgetter call for its 128 values and one
%-format for its CSV line (haproxy_py/stats/rows.py computes the values).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from operator import itemgetter

from haproxy_py.stats.columns import ODD, STAT_COLUMNS, write_line
from haproxy_py.stats.layout import (
    BACKEND,
    COUNTER_FIELDS,
    CTIME_N,
    CTIME_SUM,
    FRONTEND,
    QTIME_N,
    QTIME_SUM,
    RTIME_N,
    RTIME_SUM,
    SERVER,
    STAT_TYPE,
    TTIME_N,
    TTIME_SUM,
)

# Counters every row kind shows (the others depend on the kind, below).
_COMMON = ("scur", "smax", "stot", "bin", "bout")
_FRONT = (*_COMMON, "dreq", "dresp", "ereq", "conn_tot", "dcon", "dses", "wrew")
_BACK = (*_COMMON, "qcur", "qmax", "dreq", "dresp", "econ", "eresp", "wretr", "wredis", "lbtot",
         "cli_abrt", "srv_abrt", "connect", "reuse", "wrew", "eint")  # fmt: skip
_SERVER = (*_COMMON, "qcur", "qmax", "dresp", "econ", "eresp", "wretr", "wredis", "lbtot",
           "cli_abrt", "srv_abrt", "connect", "reuse", "wrew", "eint")  # fmt: skip
_HTTP = ("hrsp_1xx", "hrsp_2xx", "hrsp_3xx", "hrsp_4xx", "hrsp_5xx", "hrsp_other", "req_tot")
_FIELD_NAMES = tuple(spec.name for spec in COUNTER_FIELDS)
_TIMES = tuple((name, total, count, f"{name}_max") for name, total, count in (
    ("qtime", QTIME_SUM, QTIME_N), ("ctime", CTIME_SUM, CTIME_N),
    ("rtime", RTIME_SUM, RTIME_N), ("ttime", TTIME_SUM, TTIME_N),
))  # fmt: skip


class Assembly:
    """How one kind of row is put together: every column of STAT_COLUMNS is taken, by one
    itemgetter call, from [the row's counters..., the values computed for it (`computed`,
    in that order)..., the constants of its kind..., ""]. The sources are chosen once, at
    import, so a row costs one C call rather than a dict entry per column. Its CSV line is
    one %-format whose constants and empty columns are already written in (`line`)."""

    __slots__ = ("format", "pick", "tail", "variable")

    def __init__(
        self,
        counters: Iterable[tuple[str, str]],
        computed: Sequence[str],
        constants: Mapping[str, object],
    ) -> None:
        where = {column: _FIELD[name] for column, name in counters}
        after = _WIDTH + len(computed)
        where.update({column: after + i for i, column in enumerate(constants)})
        where.update({column: _WIDTH + i for i, column in enumerate(computed)})
        self.tail = [*constants.values(), ""]
        blank = after + len(constants)
        sources = [where.get(column, blank) for column in STAT_COLUMNS]
        self.pick = itemgetter(*sources)
        self.variable = itemgetter(*(source for source in sources if source < after))
        fixed = [str(value).replace("%", "%%") for value in self.tail]
        texts = ["%s" if source < after else fixed[source - after] for source in sources]
        self.format = ",".join(texts) + ",\n"

    def values(self, source: list[object]) -> tuple[object, ...]:
        """Every column's value, in STAT_COLUMNS order ("" where empty)."""
        return self.pick(source + self.tail)

    def line(self, source: list[object]) -> str:
        """The CSV line (constants never need quotes: only the values are looked at)."""
        line = self.format % self.variable(source)
        if line.count(",") != len(STAT_COLUMNS) or line.count("\n") != 1 or ODD.search(line):
            return write_line(self.values(source))  # rare: a check text with a comma or a quote
        return line


Built = tuple[Assembly, list[object]]  # a row's assembly, and the values it takes
_FIELD = {name: index for index, name in enumerate(_FIELD_NAMES)}
_WIDTH = len(_FIELD_NAMES)
TIME_SLOTS = tuple((total, count, _FIELD[highest]) for _, total, count, highest in _TIMES)
_IDENTITY = ("pxname", "svname", "iid", "sid", "mode", "rate", "rate_max")
_COMP = dict.fromkeys(("comp_in", "comp_out", "comp_byp", "comp_rsp"), 0)
_CACHE = dict.fromkeys(("cache_lookups", "cache_hits"), 0)
# The TLS and HTTP/2 module counters HAProxy prints for every proxy (TLS also for servers):
# always 0 here, as neither is served. The h1_* ones are real counters there: left empty.
_SSL = dict.fromkeys(("ssl_sess", "ssl_reused_sess", "ssl_failed_handshake"), 0)
_H2 = STAT_COLUMNS[
    STAT_COLUMNS.index("h2_headers_rcvd") : STAT_COLUMNS.index("h1_open_connections")
]
_MODULES = {**_SSL, **dict.fromkeys(_H2, 0)}
_FRONTEND_COMPUTED = (*_IDENTITY, "conn_rate", "conn_rate_max", "req_rate", "req_rate_max",
                      "slim", "rate_lim")  # fmt: skip
_BACKEND_COMPUTED = (
    *_IDENTITY, "status", "weight", "uweight", "act", "bck", "slim", "algo", "lastchg",
    "downtime", "lbtot", "connect", "lastsess", "qtime", "ctime", "rtime", "ttime",
    "qtime_max", "ctime_max", "rtime_max", "ttime_max",
)  # fmt: skip
_SERVER_COMPUTED = (
    *_IDENTITY, "status", "weight", "uweight", "act", "bck", "slim", "qlimit", "lastsess",
    "addr", "lastchg", "tracked", "throttle", "qtime", "ctime", "rtime", "ttime", "chkfail",
    "chkdown", "downtime", "check_status", "check_desc", "last_chk", "check_rise",
    "check_fall", "check_health", "hanafail", "check_code", "check_duration", "agent_status",
    "agent_desc", "agent_rise", "agent_fall", "agent_health", "last_agt", "agent_code",
    "agent_duration",
)  # fmt: skip
NO_AGENT = ("",) * 8
NO_CHECK = ("",) * 12


def _assemblies(http: bool) -> dict[str, Assembly]:
    """The three row kinds of a proxy in mode http (`http`) or not."""
    extra = _HTTP if http else ()
    common = {"pid": 1, "-": "-"}
    return {
        FRONTEND: Assembly(
            ((n, n) for n in (*_FRONT, "eint", "req_tot", *extra)
             + (("intercepted",) if http else ())),
            _FRONTEND_COMPUTED,
            {**common, "type": STAT_TYPE[FRONTEND], "status": "OPEN", "rate_lim": 0, **_COMP,
             **_MODULES, **(_CACHE if http else {})},
        ),
        BACKEND: Assembly(
            ((n, n) for n in (*_BACK, "chkdown", *extra)),
            _BACKEND_COMPUTED,
            {**common, "type": STAT_TYPE[BACKEND], **_COMP, **_MODULES, "agg_server_status": 0,
             "agg_server_check_status": 0, "agg_check_status": 0, **(_CACHE if http else {})},
        ),
        SERVER: Assembly(
            (*((n, n) for n in (*_SERVER, *extra)), ("used_conn_cur", "scur"),
             *((highest, highest) for _, _, _, highest in _TIMES)),
            _SERVER_COMPUTED,
            {**common, "type": STAT_TYPE[SERVER], "idle_conn_cur": 0, "safe_conn_cur": 0,
             "need_conn_est": 0, "srv_icur": 0, **_SSL},
        ),
    }  # fmt: skip


ASSEMBLIES = {True: _assemblies(True), False: _assemblies(False)}
