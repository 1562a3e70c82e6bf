"""The master CLI's line protocol and `show proc`, against HAProxy 2.6.12's observed bytes.

A small driver plays the master: it answers `show version`, relays worker commands to fake
workers that echo what they were sent, and collects every byte the client would read.
"""

from __future__ import annotations

import pytest

from haproxy_py.proto.mcli import (
    MAX_LINE,
    NEED_DATA,
    Answer,
    Close,
    Level,
    MasterCliConnection,
    MasterCommand,
    MasterTarget,
    McliUsageError,
    Output,
    PidTarget,
    RelativeTarget,
    Relayed,
    WorkerCommand,
    parse_target,
    split_commands,
)
from haproxy_py.proto.show_proc import (
    ProcessRow,
    format_show_proc,
    format_uptime,
    resolve_target,
)

VERSION = "2.6.12-1+deb12u4"
ROWS = (
    ProcessRow(9565, "master", 0.0, VERSION, reloads=1),
    ProcessRow(28352, "worker", 331.0, VERSION, relative=1),
    ProcessRow(9568, "worker", 0.0, VERSION, reloads=1, old=True),
)


def new_connection(**options) -> MasterCliConnection:
    return MasterCliConnection(lambda target: resolve_target(target, ROWS), **options)


def drive(conn: MasterCliConnection, data: bytes, *, eof: bool = True) -> tuple[bytes, list]:
    """Feed `data` (then EOF), play the master; return the output and the events seen."""
    conn.receive_data(data)
    if eof:
        conn.receive_data(b"")
    out = b""
    seen: list = []
    while True:
        event = conn.next_event()
        seen.append(event)
        if event is NEED_DATA or isinstance(event, Close):
            return out, seen
        if isinstance(event, Output):
            out += event.data
        elif isinstance(event, MasterCommand):
            text = VERSION + "\n" if event.name == "show version" else f"<{event.name}>\n"
            out += conn.send(Answer(text))
        elif isinstance(event, WorkerCommand):
            reply = f"{event.pid}:{event.command}\n\n".encode("utf-8", "surrogateescape")
            out += conn.send(Relayed(reply))


def run(data: bytes, **options) -> bytes:
    return drive(new_connection(**options), data)[0]


# -- observed exchanges (reference 3.3, 3.4 and probes of haproxy 2.6.12) -----------------


def test_non_interactive_session_stays_open_between_lines() -> None:
    conn = new_connection()
    out, seen = drive(conn, b"show version\n", eof=False)
    assert out == f"{VERSION}\n\n".encode()
    assert seen[-1] is NEED_DATA
    out, seen = drive(conn, b"show cli level\n")
    assert out == b"admin\n\n"
    assert seen[-1] == Close("eof")


def test_prompt_and_target_switching() -> None:
    data = b"prompt\n@1\nshow version\n@!9568\n@master\n@\n@0\n"
    assert (
        run(data) == b"master> 28352> 28352:show version\n\n28352> 9568> master> master> master> "
    )


def test_prompt_after_each_command_of_a_line_and_toggle_off() -> None:
    assert run(b"prompt\nshow version;show cli level\n") == (
        f"master> {VERSION}\n\nmaster> admin\n\nmaster> ".encode()
    )
    assert run(b"prompt\nprompt\nshow version\n") == f"master> {VERSION}\n\n".encode()


def test_explicit_prefix_forwards_everything_even_prompt_and_quit() -> None:
    assert run(b"@1 prompt\n@1 quit\n") == b"28352:prompt\n\n28352:quit\n\n"
    assert run(b"@!9568 show info\n") == b"9568:show info\n\n"
    assert run(b"@1;show version\n") == b"28352:show version\n\n"
    assert run(b"@1 \n") == b""


def test_default_target_keeps_session_commands_on_the_master() -> None:
    conn = new_connection()
    out, seen = drive(conn, b"@1\nuser\nshow cli level\nhelp\nprompt\n@master\nshow cli level\n")
    forwarded = [event for event in seen if isinstance(event, WorkerCommand)]
    assert [event.command for event in forwarded] == ["show cli level", "help"]
    assert forwarded[0].request() == b"user -\r\nshow cli level\n"
    assert out.endswith(b"master> user\n\nmaster> ")
    assert run(b"@1\nquit\nshow version\n") == b""


def test_empty_command_goes_to_the_default_target() -> None:
    assert run(b"@1\n\n") == b"28352:\n\n"
    out = run(b"\n")
    assert out.startswith(b"Unknown command. Please enter one of the following commands only:\n")
    assert b"  show proc" in out and out.endswith(
        b"  quit" + b" " * 36 + b": close this connection\n\n"
    )


def test_mode_flags_in_the_prompt() -> None:
    data = (
        b"prompt\nexpert-mode on\nexperimental-mode on\nmcli-debug-mode on\n@1\n"
        b"expert-mode off\n@\nexperimental-mode off\nmcli-debug-mode\n"
    )
    assert run(data) == (
        b"master> master(e)> master(xe)> master(xed)> 28352(xed)> 28352(xd)> master(xd)> "
        b"master(d)> master> "
    )
    assert run(b"prompt\nexpert-mode on\nexpert-mode ON\n") == b"master> master(e)> master> "


def test_forwarded_request_carries_level_and_modes() -> None:
    conn = new_connection()
    _, seen = drive(conn, b"expert-mode on\nexperimental-mode on\nmcli-debug-mode on\n@1 show x\n")
    (command,) = [event for event in seen if isinstance(event, WorkerCommand)]
    assert command.request() == b"expert-mode on -\r\nexperimental-mode on -\r\nshow x\n"
    conn = new_connection(level=Level.OPERATOR)
    _, seen = drive(conn, b"@1 show cli level\n")
    assert seen[0].request() == b"operator -\r\nshow cli level\n"


def test_unknown_targets_print_one_line_and_close() -> None:
    for prefix in (b"@9", b"@!12345", b"@abc", b"@!abc", b"@-1", b"@1abc", b"@2"):
        out, seen = drive(new_connection(), prefix + b" show info\nshow version\n")
        assert out == b"Can't find the target PID matching the prefix '" + prefix + b"'\n"
        assert seen[-1] == Close("error")
    assert run(b"prompt\n@9\nshow version\n") == (
        b"master> Can't find the target PID matching the prefix '@9'\n"
    )


def test_levels() -> None:
    assert run(b"user\noperator\nshow version\n") == b"Permission denied!\n"
    assert run(b"prompt\nuser\nuser\noperator\n") == b"master> master> master> Permission denied!\n"
    assert run(b"user\nreload\nshow version\n") == f"Permission denied\n\n{VERSION}\n\n".encode()
    assert run(b"operator\nexpert-mode on\nshow version\n") == b"Permission denied!\n"
    assert run(b"show cli level\n", level=Level.USER) == b"user\n\n"
    assert run(b"show cli sockets\n") == b"\n"
    _, seen = drive(new_connection(level=Level.OPERATOR), b"reload\n", eof=False)
    assert seen[0] == MasterCommand("reload")


def test_lowering_the_level_drops_expert_and_experimental_modes() -> None:
    assert run(b"prompt\nexpert-mode on\nmcli-debug-mode on\noperator\n") == (
        b"master> master(e)> master(ed)> master(d)> "
    )


def test_quit_stops_the_rest_of_the_line() -> None:
    out, seen = drive(new_connection(), b"show version ; quit ; show version\n", eof=False)
    assert out == f"{VERSION}\n\n".encode()
    assert seen[-1] == Close("quit")
    assert run(b"quit extra\nshow version\n") == b""


def test_help_and_unknown_commands() -> None:
    help_text = run(b"help\n").decode()
    lines = help_text.splitlines()
    assert lines[0] == "The following commands are valid at this level:"
    names = [line[2:42].rstrip() for line in lines[1:-1]]
    assert names == [
        "@!<pid>", "@<relative pid>", "@master", "operator", "reload", "show cli level",
        "show cli sockets", "show proc", "show version", "user", "help [<command>]", "prompt",
        "quit",
    ]  # fmt: skip
    assert all(line[42:44] == ": " for line in lines[1:-1])
    assert help_text.endswith("\n\n")
    show = run(b"help show\n").decode().splitlines()
    assert [line[2:42].rstrip() for line in show[1:5]] == [
        "show cli level", "show cli sockets", "show proc", "show version",
    ]  # fmt: skip
    foo = run(b"foo\n").decode().splitlines()
    assert foo[0] == "Unknown command, but maybe one of the following ones is a better match:"
    assert 3 < len(foo) <= 1 + 5 + 3 + 1
    assert run(b"SHOW VERSION\n").decode().splitlines()[1].startswith("  show version ")
    assert len(run(b"relaod\n").decode().splitlines()) == 1 + 1 + 3 + 1
    debug = run(b"mcli-debug-mode on\nhelp\n").decode()
    assert "show startup-logs" in debug and "expert-mode [on|off]" in debug


def test_caller_commands_and_their_words() -> None:
    _, seen = drive(new_connection(), b"show  version extra\nshow\tproc\n", eof=False)
    assert seen[0] == MasterCommand("show version", ("extra",))
    with pytest.raises(McliUsageError):
        new_connection().send(Answer("x"))


def test_crlf_and_unterminated_last_line() -> None:
    assert run(b"show version\r\n") == f"{VERSION}\n\n".encode()
    assert run(b"show version") == b""


# -- framing robustness -------------------------------------------------------------------


def test_byte_at_a_time_equals_whole_buffer() -> None:
    data = b"prompt\nshow version;@1 show info\r\n@1\nexpert-mode on\nhelp\n@\nfoo\n;\nquit\n"
    whole = run(data)
    conn = new_connection()
    out = b""
    for byte in data:
        out += drive(conn, bytes([byte]), eof=False)[0]
    assert out == whole


def test_long_line_is_refused_and_closes() -> None:
    conn = new_connection()
    out, seen = drive(conn, b"x" * (1 << 20) + b"\n", eof=False)
    assert out.startswith(b"Line too long") and str(MAX_LINE).encode() in out
    assert seen[-1] == Close("error")
    assert len(conn._buffer) == 0  # nothing kept
    conn = new_connection()
    for _ in range(MAX_LINE // 4096 + 1):
        out, seen = drive(conn, b"y" * 4096, eof=False)  # never a newline
    assert seen[-1] == Close("error")
    assert run(b"z" * (MAX_LINE - 1) + b"\n").startswith(b"Unknown command")


def test_garbage_bytes_never_raise() -> None:
    out = run(bytes(range(256)) + b"\n\xff\xfe@\xff show\n")
    assert b"Unknown command" in out
    assert run(b"@1 caf\xe9\n") == b"28352:caf\xe9\n\n"


def test_split_commands_keeps_escaped_semicolons() -> None:
    assert split_commands("a;b\\;c; d") == ["a", "b\\;c", " d"]
    assert split_commands("") == [""]
    assert split_commands(";") == ["", ""]
    assert split_commands("end\\") == ["end\\"]


def test_parse_target() -> None:
    assert parse_target("@") == parse_target("@0") == parse_target("@master") == MasterTarget()
    assert parse_target("@3") == RelativeTarget(3)
    assert parse_target("@!42") == PidTarget(42)
    for bad in ("@x", "@!", "@-1", "@1a", "@!4a", "@\u0663", "@" + "9" * 11, "1"):
        assert parse_target(bad) is None
    assert resolve_target(RelativeTarget(2), ROWS) is None
    assert resolve_target(PidTarget(9568), ROWS) == 9568
    assert resolve_target(PidTarget(9565), ROWS) is None  # the master is not a worker target


# -- show proc ------------------------------------------------------------------------------


def test_uptime_format() -> None:
    assert format_uptime(333.9) == "0d00h05m33s"
    assert format_uptime(-5) == "0d00h00m00s"
    assert format_uptime(3 * 86400 + 4 * 3600 + 5) == "3d04h00m05s"


def test_show_proc_matches_haproxy_bytes() -> None:
    text = format_show_proc(ROWS, now=333.0)
    assert text == (
        "#<PID>          <type>          <reloads>       <uptime>        <version>      \n"
        "9565            master          1 [failed: 0]   0d00h05m33s     2.6.12-1+deb12u4\n"
        "# workers\n"
        "28352           worker          0               0d00h00m02s     2.6.12-1+deb12u4\n"
        "# old workers\n"
        "9568            worker          1               0d00h05m33s     2.6.12-1+deb12u4\n"
        "# programs\n"
    )
    assert "# old workers" not in format_show_proc(ROWS[:2], now=333.0)


def test_show_proc_orders_current_workers_and_lists_programs() -> None:
    rows = [
        ProcessRow(30, "worker", 0.0, "v", relative=2),
        ProcessRow(20, "worker", 0.0, "v", relative=1),
        ProcessRow(40, "program", 0.0, "v", name="sidecar"),
        ProcessRow(41, "program", 0.0, "v", name="sidecar", reloads=1, old=True),
    ]
    lines = format_show_proc(rows, now=1.0).splitlines()
    assert [line.split()[0] for line in lines[2:4]] == ["20", "30"]
    assert lines[5].split() == ["40", "sidecar", "0", "0d00h00m01s", "-"]
    assert lines[6] == "# old programs"


def test_show_proc_extra_columns_keep_the_standard_ones_in_place() -> None:
    rows = (
        ProcessRow(9565, "master", 0.0, "2.6.12-haproxy-py-0.1.0", cpu_percent=0.25),
        ProcessRow(9568, "worker", 0.0, "2.6.12-haproxy-py-0.1.0", relative=1,
                   cpu_percent=12.34, rss_bytes=25 * 1024 * 1024, connections=7),
    )  # fmt: skip
    plain = format_show_proc(rows, now=5.0).splitlines()
    extra = format_show_proc(rows, now=5.0, extra=True).splitlines()
    for short, long in zip(plain, extra, strict=True):
        assert long.startswith(short)
    assert extra[0].split()[5:] == ["<cpu%>", "<rss-KiB>", "<conns>"]
    assert extra[1].split()[-3:] == ["0.2", "-", "-"]
    assert extra[3].split()[4:] == ["2.6.12-haproxy-py-0.1.0", "12.3", "25600", "7"]


def test_prompt_after_a_failed_reload() -> None:
    # Observed on haproxy 2.6.12 after a reload with a broken configuration.
    data = b"prompt\nexpert-mode on\n@1\n@\nshow version\n"
    assert run(data, reload_failed=True) == (
        b"master[ReloadFailed]> master[ReloadFailed](e)> 28352(e)> master[ReloadFailed](e)> "
        + f"{VERSION}\n\nmaster[ReloadFailed](e)> ".encode()
    )
