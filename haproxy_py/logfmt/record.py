"""What a stream tells its log line: one `LogRecord` per TCP session or HTTP request.

Built only when the proxy has a log target (house rule: nothing built that no one reads).
Times are in milliseconds; -1 means "this step was never reached", as in HAProxy's lines.
`accept_date` and `request_date` are wall-clock seconds (time.time()) for the `%t` family.
"""

from __future__ import annotations

SILENT = 8  # `set-log-level silent`: more verbose than debug, so no target takes it


class LogRecord:
    __slots__ = (
        "accept_date",
        "actconn",
        "backend",
        "backend_queue",
        "beconn",
        "bytes_in",
        "bytes_out",
        "client_ip",
        "client_port",
        "cookies",
        "ctx",
        "feconn",
        "frontend",
        "frontend_ip",
        "frontend_port",
        "hostname",
        "level",
        "method",
        "mode",
        "pid",
        "request_captures",
        "request_cookie",
        "request_counter",
        "request_date",
        "response_captures",
        "response_cookie",
        "retries",
        "server",
        "srv_queue",
        "srvconn",
        "status",
        "t_active",
        "t_connect",
        "t_handshake",
        "t_idle",
        "t_queue",
        "t_request",
        "t_response",
        "t_total",
        "termination",
        "unique_id",
        "uri",
        "version",
    )  # fmt: skip

    def __init__(self, accept_date: float = 0.0) -> None:
        self.accept_date = accept_date
        self.request_date = accept_date
        self.client_ip = ""
        self.client_port = 0
        self.frontend_ip = ""
        self.frontend_port = 0
        self.frontend = ""
        self.backend = ""
        self.server: str | None = None  # None: no server was assigned ("<NOSRV>")
        self.mode = "TCP"
        self.t_handshake = 0
        self.t_idle = -1
        self.t_request = -1
        self.t_queue = -1
        self.t_connect = -1
        self.t_response = -1
        self.t_active = -1
        self.t_total = -1
        self.status = -1
        self.bytes_in = 0
        self.bytes_out = 0
        self.termination = "--"  # two letters: what ended the stream, at which step
        self.cookies = "--"  # the two persistence-cookie letters of %tsc
        self.actconn = 0
        self.feconn = 0
        self.beconn = 0
        self.srvconn = 0
        self.retries = 0
        self.srv_queue = 0
        self.backend_queue = 0
        self.request_captures: list[str | None] | None = None
        self.response_captures: list[str | None] | None = None
        self.method = ""
        self.uri = ""
        self.version = ""
        self.unique_id = ""
        self.pid = 0
        self.hostname = ""
        self.request_counter = -1  # %rt: given by the logger when first needed
        self.request_cookie = ""  # `capture cookie`: "NAME=value" cut to its length (%CC)
        self.response_cookie = ""  # the same from the response's Set-Cookie (%CS)
        self.level = -1  # set-log-level: -1 keeps the proxy's choice, SILENT drops the line
        self.ctx: object = None  # the SampleContext `%[...]` reads (None: fetches find nothing)

    @property
    def request_line(self) -> str:
        if not self.method:
            return "<BADREQ>"
        return f"{self.method} {self.uri} {self.version}" if self.version else self.method

    @property
    def is_error(self) -> bool:
        """What `option log-separate-errors` and `dontlog-normal` call an error."""
        return (
            self.termination[0] != "-"
            or self.status >= 500
            or self.retries > 0
            or self.t_connect < 0 <= self.t_queue  # reached the queue, never connected
        )
