"""Sessions across workers, the pure parts: which worker holds an id, the request a worker
sends its peers, and one `show sess` answer from every worker's."""

from __future__ import annotations

from haproxy_py.runtime_api.sessions import (
    LOCAL,
    SESSION_NOT_FOUND,
    SessionView,
    local_form,
    merged_listing,
    session_line,
    session_pid,
    show_sess_answer,
)


def view(key: int, port: int) -> SessionView:
    return SessionView(
        id=key, proto="tcpv4", src=f"127.0.0.1:{port}", frontend="app", frontend_mode="tcp",
        listener_addr="127.0.0.1:80", backend="app", server="s1", server_addr="10.0.0.1:80",
        age=3.0, started=1_700_000_000.5, client_fd=12, server_fd=13,
    )  # fmt: skip


def test_an_id_carries_its_workers_pid() -> None:
    assert session_pid(4321 << 32 | 7) == 4321
    assert session_pid(0x1) == 0  # no worker gave this one


def test_the_peers_request_is_the_command_behind_the_local_word() -> None:
    assert local_form(["show", "sess", "all"]) == f"{LOCAL} show sess all\n".encode()
    assert local_form(["shutdown", "sessions", "server", "b/é"]).endswith("b/é\n".encode())


def test_every_workers_lines_in_one_answer() -> None:
    one = show_sess_answer([view(1 << 32 | 1, 1000)], [])
    two = show_sess_answer([view(2 << 32 | 1, 2000), view(2 << 32 | 2, 2001)], [])
    empty = show_sess_answer([], [])
    merged = merged_listing([one, empty, two])
    assert merged == (
        session_line(view(1 << 32 | 1, 1000))
        + session_line(view(2 << 32 | 1, 2000))
        + session_line(view(2 << 32 | 2, 2001))
        + "\n"
    )
    assert merged_listing([empty, empty]) == "\n"


def test_a_silent_peer_adds_nothing() -> None:
    one = show_sess_answer([view(1 << 32 | 1, 1000)], [])
    assert merged_listing(["", one, SESSION_NOT_FOUND]) == one


def test_dumps_merge_as_lines_do() -> None:
    one = show_sess_answer([view(1 << 32 | 1, 1000)], ["all"])
    two = show_sess_answer([view(2 << 32 | 1, 2000)], ["all"])
    merged = merged_listing([one, two])
    assert merged == one[:-1] + two[:-1] + "\n"
    assert merged.count(": [") == 2
