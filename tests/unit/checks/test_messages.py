"""Log texts, byte for byte as HAProxy 2.6.12 printed them (recorded from `haproxy -db`)."""

from __future__ import annotations

from haproxy_py.checks import messages
from haproxy_py.checks import status as st
from haproxy_py.checks.status import CheckResult


def test_check_lines() -> None:
    assert messages.check_line("be", "s1", False, CheckResult(st.L7OK, 200, "", 4), "2/2 UP") == (
        "Health check for server be/s1 succeeded, reason: Layer7 check passed, code: 200,"
        " check duration: 4ms, status: 2/2 UP."
    )
    refused = CheckResult(st.L4CON, 0, "Connection refused", 0)
    assert messages.check_line("be", "s3", False, refused, "0/2 DOWN") == (
        "Health check for server be/s3 failed, reason: Layer4 connection problem, info:"
        ' "Connection refused", check duration: 0ms, status: 0/2 DOWN.'
    )
    assert messages.check_line("be", "b1", True, CheckResult(st.L7OK, 200, "", 1), "3/3 UP") == (
        "Health check for backup server be/b1 succeeded, reason: Layer7 check passed, code: 200,"
        " check duration: 1ms, status: 3/3 UP."
    )
    assert messages.check_line("t", "s", False, CheckResult(st.L4OK, 0, "", 0), "1/1 UP") == (
        "Health check for server t/s succeeded, reason: Layer4 check passed, check duration:"
        " 0ms, status: 1/1 UP."
    )
    tcp = CheckResult(st.L7OK, 0, "(tcp-check)", 2)
    assert messages.check_line("t_ok", "s", False, tcp, "1/1 UP") == (
        "Health check for server t_ok/s succeeded, reason: Layer7 check passed, code: 0, info:"
        ' "(tcp-check)", check duration: 2ms, status: 1/1 UP.'
    )


def test_down_lines() -> None:
    wrong = CheckResult(st.L7STS, 404, "Not Found", 1)
    assert messages.server_down_line(
        "b_status", "s", False, wrong, active=0, backups=0, sessions=0, requeued=0, queued=0
    ) == (
        'Server b_status/s is DOWN, reason: Layer7 wrong status, code: 404, info: "Not Found",'
        " check duration: 1ms. 0 active and 0 backup servers left. 0 sessions active,"
        " 0 requeued, 0 remaining in queue."
    )
    # With option log-health-checks the reason is left out.
    assert messages.server_down_line(
        "be", "s1", False, None, active=0, backups=1, sessions=0, requeued=0, queued=0
    ) == (
        "Server be/s1 is DOWN. 0 active and 1 backup servers left. Running on backup."
        " 0 sessions active, 0 requeued, 0 remaining in queue."
    )
    timeout = CheckResult(st.L4TOUT, 0, "", 300)
    assert messages.server_down_line(
        "be1", "bh", False, timeout, active=1, backups=0, sessions=0, requeued=0, queued=0
    ) == (
        "Server be1/bh is DOWN, reason: Layer4 timeout, check duration: 300ms. 1 active and"
        " 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue."
    )


def test_up_lines_and_no_server() -> None:
    ok = CheckResult(st.L7OK, 200, "", 1)
    assert messages.server_up_line(
        "b_status", "s", False, ok, active=1, backups=0, requeued=0, queued=0
    ) == (
        "Server b_status/s is UP, reason: Layer7 check passed, code: 200, check duration: 1ms."
        " 1 active and 0 backup servers online. 0 sessions requeued, 0 total in queue."
    )
    assert messages.server_up_line(
        "be", "s1", False, None, active=2, backups=1, requeued=0, queued=0
    ) == (
        "Server be/s1 is UP. 2 active and 1 backup servers online. 0 sessions requeued,"
        " 0 total in queue."
    )
    assert messages.no_server_alert("be2") == "backend 'be2' has no server available!"
    assert messages.no_server_log("be2") == "backend be2 has no server available!"
    # A `listen` section is a "proxy" (recorded from haproxy 2.6 -db).
    assert messages.no_server_alert("l", "proxy") == "proxy 'l' has no server available!"


def test_status_names() -> None:
    assert [s.name for s in (st.L4OK, st.L4TOUT, st.L4CON, st.L7OK, st.L7STS, st.L7RSP)] == [
        "L4OK", "L4TOUT", "L4CON", "L7OK", "L7STS", "L7RSP",
    ]  # fmt: skip
    assert st.L7TOUT.description == "Layer7 timeout"
    assert st.SOCKERR.description == "Socket error"
