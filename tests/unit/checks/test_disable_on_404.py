"""`http-check disable-on-404`: the probe's verdict, the row it writes, the log words.

Recorded from HAProxy 2.6 (`option httpchk`, `http-check disable-on-404`, a server whose
answer was switched between 200, 404 and 500): an UP server's 404 is "Layer7 check
conditionally passed" (L7OKC, code 404, no info) and the server goes NOLB; a DOWN server's
404 is an ordinary failure (L7STS).
"""

from __future__ import annotations

from pathlib import Path

from haproxy_py.checks import messages
from haproxy_py.checks import status as st
from haproxy_py.checks.health import Health
from haproxy_py.checks.probe import Plan, plan_for_proxy, run
from haproxy_py.checks.shared import Timeline, row_values
from haproxy_py.checks.status import CheckResult
from haproxy_py.config import load_configuration
from haproxy_py.stats.layout import CHECK_STATUS, CHK_CONDPASS, RUNNING, STOPPED, STOPPING

HEAD = "defaults\n  timeout connect 1s\n  timeout client 1s\n  timeout server 1s\n"


def plan(tmp_path: Path, extra: str = "  http-check disable-on-404\n") -> Plan:
    path = tmp_path / "c.cfg"
    path.write_text(f"{HEAD}backend be\n  option httpchk\n{extra}  server s 127.0.0.1:1 check\n")
    result = load_configuration([str(path)])
    assert result.config is not None, result
    return plan_for_proxy(result.config.backend("be"))


def answer(p: Plan, response: bytes, *, up: bool) -> CheckResult:
    probe = run(p, up=up)
    next(probe)  # connect
    probe.send(None)  # send
    probe.send(None)  # receive
    try:
        probe.send(response)
        probe.send(b"")
    except StopIteration as done:
        return done.value
    raise AssertionError("the check did not finish")


NOT_FOUND = b"HTTP/1.0 404 X\r\ncontent-length: 0\r\n\r\n"


def test_an_up_servers_404_is_a_conditional_pass(tmp_path: Path) -> None:
    result = answer(plan(tmp_path), NOT_FOUND, up=True)
    assert (result.status, result.code, result.info) == (st.L7OKC, 404, "")
    assert result.passed and result.conditional
    assert result.timed(13).reason() == (
        "Layer7 check conditionally passed, code: 404, check duration: 13ms"
    )


def test_a_down_servers_404_fails(tmp_path: Path) -> None:
    result = answer(plan(tmp_path), NOT_FOUND, up=False)
    assert (result.status, result.code, result.info) == (st.L7STS, 404, "X")


def test_without_the_setting_404_fails(tmp_path: Path) -> None:
    result = answer(plan(tmp_path, ""), NOT_FOUND, up=True)
    assert result.status is st.L7STS


def test_other_answers_unchanged(tmp_path: Path) -> None:
    ok = answer(plan(tmp_path), b"HTTP/1.0 200 OK\r\ncontent-length: 0\r\n\r\n", up=True)
    assert (ok.status, ok.conditional) == (st.L7OK, False)
    bad = answer(plan(tmp_path), b"HTTP/1.0 500 X\r\ncontent-length: 0\r\n\r\n", up=True)
    assert bad.status is st.L7STS


def test_row_says_stopping() -> None:
    health = Health(2, 3)
    result = CheckResult(st.L7OKC, 404, "", 1)
    values = row_values(result, health, Timeline(0), stopping=True)
    assert values["op_state"] == STOPPING
    assert values["check_status"] == CHECK_STATUS["L7OKC"]
    assert values["check_result"] == CHK_CONDPASS
    assert values["check_code"] == 404
    assert row_values(result, health, Timeline(0), stopping=False)["op_state"] == RUNNING
    assert row_values(result, health, Timeline(0), up=False, stopping=True)["op_state"] == STOPPED


def test_log_words() -> None:
    result = CheckResult(st.L7OKC, 404, "", 13)
    assert messages.check_line("be", "s1", False, result, "3/3 UP") == (
        "Health check for server be/s1 conditionally succeeded, reason: Layer7 check"
        " conditionally passed, code: 404, check duration: 13ms, status: 3/3 UP."
    )
    assert messages.server_stopping_line(
        "be", "s1", False, CheckResult(st.L7OKC, 404, "", 0),
        active=0, backups=0, requeued=0, queued=0,
    ) == (
        "Server be/s1 is stopping, reason: Layer7 check conditionally passed, code: 404,"
        " check duration: 0ms. 0 active and 0 backup servers online. 0 sessions requeued,"
        " 0 total in queue."
    )  # fmt: skip
    assert messages.server_stopping_line(
        "be", "s1", False, None, active=0, backups=0, requeued=0, queued=0
    ) == (
        "Server be/s1 is stopping. 0 active and 0 backup servers online. 0 sessions requeued,"
        " 0 total in queue."
    )
