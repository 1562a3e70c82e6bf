"""What a check does on the wire, as a plan of steps and a sans-IO interpreter that runs it.

A `Plan` is built once per backend from the configuration: a plain connect (`check` alone),
`option tcp-check` with its `tcp-check connect|send|send-binary|expect` rules, `option
httpchk` with its `http-check connect|send|expect` rules, or a protocol check (`option
redis-check`, `smtpchk`, `pgsql-check`, `ldap-check`, `mysql-check`: protocols.py).
`run(plan)` is a generator: it yields the I/O it wants (`Connect`, `Send`, `Receive`) and
is sent back what happened (None for a connect or send that worked, bytes for a receive,
`b""` at the server's end, or an `IoError`), and returns the `CheckResult`. The worker
drives it with real sockets and deadlines; tests drive it with lists. The words of every
result are HAProxy 2.6's.
"""

from __future__ import annotations

import re
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

from haproxy_py.checks import status as st
from haproxy_py.checks.http import ResponseReader, build_request
from haproxy_py.checks.protocols import Params, params_for, run_protocol
from haproxy_py.checks.status import CheckResult
from haproxy_py.checks.wire import Connect, IoError, Receive, Send
from haproxy_py.config.model import Proxy

__all__ = ["Connect", "IoError", "Plan", "Receive", "Send", "Step", "plan_for_proxy", "run"]

PLAIN, TCP_CHECK, HTTP_CHECK, PROTOCOL = "connect", "tcp-check", "httpchk", "protocol"
MAX_TCP_BUFFER = 16 * 1024  # bytes a tcp-check expect looks at


@dataclass(frozen=True, slots=True)
class Step:
    action: str  # "connect", "send", "expect"
    number: int  # 1-based rule position; 0 for an implicit step
    options: Any = None  # connect: {port, addr}; send: bytes; expect: the rule's options
    comment: str = ""


@dataclass(frozen=True, slots=True)
class Plan:
    kind: str  # PLAIN, TCP_CHECK, HTTP_CHECK or PROTOCOL
    steps: tuple[Step, ...] = ()
    protocol: Params | None = None  # PROTOCOL: which dialogue (protocols.py)
    disable_on_404: bool = False  # HTTP_CHECK: `http-check disable-on-404`


Io = Generator[Connect | Send | Receive, Any, CheckResult]

# -- plans --------------------------------------------------------------------------------------


def plan_for_proxy(proxy: Proxy) -> Plan:
    protocol = params_for(proxy.options)
    if protocol is not None:
        # The dialogue begins with the implicit connect, which the scheduler may try at once.
        return Plan(PROTOCOL, (Step("connect", 0, {}),), protocol)
    if proxy.options.get("httpchk"):
        return _http_plan(proxy)
    if proxy.options.get("tcp-check"):
        return _tcp_plan(proxy)
    return Plan(PLAIN, (Step("connect", 0, {}),))


def _connect_step(rule_options: Any, number: int) -> Step:
    options = {k: rule_options[k] for k in ("port", "addr", "send-proxy") if k in rule_options}
    return Step("connect", number, options, rule_options.get("comment", ""))


def _connect_of(step: Step) -> Connect:
    """The I/O a connect step asks for (a rule's send-proxy; None for the implicit one)."""
    options = step.options
    send_proxy = None if step.number == 0 else bool(options.get("send-proxy"))
    return Connect(options.get("port"), options.get("addr"), send_proxy)


def _tcp_plan(proxy: Proxy) -> Plan:
    rules = proxy.rules.get("tcp-check") or ()
    steps = []
    if not rules or rules[0].action != "connect":
        steps.append(Step("connect", 0, {}))
    for number, rule in enumerate(rules, 1):
        options = rule.options
        comment = options.get("comment", "")
        if rule.action == "connect":
            steps.append(_connect_step(options, number))
        elif rule.action == "send":
            data = options["data"].encode("utf-8", "surrogateescape")
            steps.append(Step("send", number, data, comment))
        elif rule.action == "send-binary":
            steps.append(Step("send", number, options["data"], comment))
        elif rule.action == "expect":
            steps.append(Step("expect", number, options, comment))
    return Plan(TCP_CHECK, tuple(steps))


_DEFAULT_HTTP_EXPECT = {"negated": False, "match": "status", "statuses": ((200, 399),)}


def _http_plan(proxy: Proxy) -> Plan:
    option = proxy.options["httpchk"]
    defaults = option if hasattr(option, "get") else {}
    method = defaults.get("method", "OPTIONS")
    uri = defaults.get("uri", "/")
    version = defaults.get("version", "HTTP/1.0")
    rules = proxy.rules.get("http-check") or ()
    steps = []
    if not rules or rules[0].action != "connect":
        steps.append(Step("connect", 0, {}))
    sent = False

    def request(options: Any) -> bytes:
        return build_request(
            options.get("meth", method),
            options.get("uri", uri),
            options.get("ver", version),
            tuple(options.get("headers", ())),
            options.get("body", ""),
        )

    for number, rule in enumerate(rules, 1):
        options = rule.options
        if rule.action == "connect":
            steps.append(_connect_step(options, number))
        elif rule.action == "send":
            steps.append(Step("send", number, request(options), options.get("comment", "")))
            sent = True
        elif rule.action == "expect":
            if not sent:
                steps.append(Step("send", 0, request({})))
                sent = True
            steps.append(Step("expect", number, options, options.get("comment", "")))
    if not sent:
        steps.append(Step("send", 0, request({})))
    if steps[-1].action != "expect":
        steps.append(Step("expect", 0, _DEFAULT_HTTP_EXPECT))
    disable_on_404 = bool(proxy.setting("http-check disable-on-404"))
    return Plan(HTTP_CHECK, tuple(steps), disable_on_404=disable_on_404)


# -- running a plan -----------------------------------------------------------------------------


def run(plan: Plan, *, up: bool = True) -> Io:
    """Run a plan: yields I/O requests, is sent their outcomes, returns the result. `up`:
    the server is UP (with `http-check disable-on-404`, only an UP server's 404 is a
    conditional pass; a DOWN server's is a failure)."""
    if plan.kind == HTTP_CHECK:
        return (yield from _run_http(plan, plan.disable_on_404 and up))
    if plan.kind == PROTOCOL:
        assert plan.protocol is not None
        return (yield from run_protocol(plan.protocol))
    return (yield from _run_tcp(plan))


def _where(step: Step, what: str) -> str:
    """` at step N of tcp-check (what)` plus its comment, or the implicit connect's words."""
    if step.number == 0:
        text = " at initial connection step of tcp-check"
    else:
        text = f" at step {step.number} of tcp-check ({what})"
    return text + (f" comment: {step.comment}" if step.comment else "")


def _connect_what(step: Step) -> str:
    port = step.options.get("port")
    return "connect" + (f" port {port}" if port else "")


def _connect_failed(outcome: IoError, info: str) -> CheckResult:
    if outcome.timeout:
        return CheckResult(st.L4TOUT, info=info)
    return CheckResult(st.L4CON, info=info)


def _run_tcp(plan: Plan) -> Io:
    tcp = plan.kind == TCP_CHECK
    buffer = bytearray()
    closed = False
    for step in plan.steps:
        if step.action == "connect":
            outcome = yield _connect_of(step)
            if isinstance(outcome, IoError):
                info = outcome.text + _where(step, _connect_what(step)) if tcp else outcome.text
                return _connect_failed(outcome, info)
            buffer.clear()
            closed = False
        elif step.action == "send":
            outcome = yield Send(step.options)
            if isinstance(outcome, IoError):
                return _io_failed(outcome, _where(step, "send"))
            buffer.clear()
        else:
            result = yield from _tcp_expect(step, buffer, closed)
            if isinstance(result, CheckResult):
                return result
            closed = result
    if tcp and any(step.action != "connect" for step in plan.steps):
        return CheckResult(st.L7OK, 0, "(tcp-check)")
    return CheckResult(st.L4OK)


def _io_failed(outcome: IoError, where: str) -> CheckResult:
    if outcome.timeout:
        return CheckResult(st.L7TOUT, info=where)
    return CheckResult(st.SOCKERR, info=outcome.text + where)


def _expect_what(options: Any) -> str:
    match = options["match"]
    if match == "rstring":
        return "expect regex"
    if match == "binary":
        return f"expect binary '{options['pattern']}'"
    return f"expect {match} '{options['pattern']}'"


def _tcp_matches(options: Any, data: bytes) -> bool:
    match = options["match"]
    if match == "binary":
        return options["bytes"] in data
    text = data.decode("latin-1")
    if match == "rstring":
        return re.search(options["pattern"], text) is not None
    return options["pattern"] in text


def _tcp_content(options: Any) -> str:
    return (
        f"'{options['pattern']}'"
        if options["match"] == "string"
        else ("(regex)" if options["match"] == "rstring" else "(binary)")
    )


def _tcp_expect(step: Step, buffer: bytearray, closed: bool) -> Generator[Any, Any, Any]:
    """Wait until the data matches, or the server ends; a CheckResult on failure, else
    whether the server has closed."""
    options = step.options
    negated = options["negated"]
    suffix = f" at step {step.number}" + (f" comment: {step.comment}" if step.comment else "")
    while True:
        matched = bool(buffer) and _tcp_matches(options, bytes(buffer))
        if matched and negated:
            return CheckResult(
                st.L7RSP, info=f"TCPCHK matched unwanted content {_tcp_content(options)}{suffix}"
            )
        if matched:
            return closed
        if closed or len(buffer) >= MAX_TCP_BUFFER:
            if not buffer:
                return CheckResult(st.L7RSP, info=f"TCPCHK got an empty response{suffix}")
            if negated:
                return closed
            return CheckResult(
                st.L7RSP, info=f"TCPCHK did not match content {_tcp_content(options)}{suffix}"
            )
        outcome = yield Receive()
        if isinstance(outcome, IoError):
            return _io_failed(outcome, _where(step, _expect_what(options)))
        if outcome:
            buffer += outcome
        else:
            closed = True


# -- HTTP ---------------------------------------------------------------------------------------


def _run_http(plan: Plan, stopping_on_404: bool) -> Io:
    reader: ResponseReader | None = None
    status = 0
    for step in plan.steps:
        if step.action == "connect":
            outcome = yield _connect_of(step)
            if isinstance(outcome, IoError):
                return _connect_failed(outcome, "" if outcome.timeout else outcome.text)
        elif step.action == "send":
            outcome = yield Send(step.options)
            if isinstance(outcome, IoError):
                return _http_io_failed(outcome)
            reader = ResponseReader()
        else:
            if reader is None:
                reader = ResponseReader()
            while not reader.complete:
                outcome = yield Receive()
                if isinstance(outcome, IoError):
                    return _http_io_failed(outcome)
                reader.receive_data(outcome)
            if reader.invalid:
                return CheckResult(st.L7RSP)
            if stopping_on_404 and reader.status == 404:  # before any expect rule
                return CheckResult(st.L7OKC, 404)
            failure = _http_expect(step.options, reader)
            if failure is not None:
                return failure
            status = reader.status
    return CheckResult(st.L7OK, status)


def _http_io_failed(outcome: IoError) -> CheckResult:
    if outcome.timeout:
        return CheckResult(st.L7TOUT)
    return CheckResult(st.SOCKERR, info=outcome.text)


def _http_expect(options: Any, reader: ResponseReader) -> CheckResult | None:
    match = options["match"]
    negated = options["negated"]
    if match in ("status", "rstatus"):
        if match == "status":
            found = any(low <= reader.status <= high for low, high in options["statuses"])
        else:
            found = re.search(options["pattern"], str(reader.status)) is not None
        if found != negated:
            return None
        return CheckResult(st.L7STS, reader.status, reader.reason)
    body = reader.body.decode("latin-1")
    if match == "rstring":
        found = re.search(options["pattern"], body) is not None
    else:
        found = options["pattern"] in body
    if found == negated:
        if negated:
            return CheckResult(st.L7RSP, info="HTTP check matched unwanted content")
        return CheckResult(st.L7RSP, info="HTTP content check did not match")
    return None
