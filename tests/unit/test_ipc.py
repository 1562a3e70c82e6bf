"""Master <-> worker frames: round trips, byte at a time, back to back, and hostile input."""

from __future__ import annotations

import json
import struct

import pytest

from haproxy_py.proto.ipc import (
    CLOSED,
    FORMAT_VERSION,
    HEADER,
    KINDS,
    MAX_FDS,
    MAX_FRAME,
    NEED_DATA,
    AdminChange,
    AdminDone,
    CliSession,
    ExitReport,
    HardStop,
    IpcConnection,
    IpcError,
    Listeners,
    Ready,
    RuntimeApply,
    RuntimeChange,
    SessionsAsk,
    SessionsPeers,
    SoftStop,
    Start,
    Status,
    StatusRequest,
    Stopping,
    encode,
)

FROM_WORKER = [
    Ready(pid=1234),
    Stopping(pid=1234),
    Status(pid=1234, connections=17, stopping=False),
    ExitReport(pid=1234, code=1, reason="[haproxy.main()] Cannot chroot(/x). — é"),
    AdminChange(
        seq=3, backend="be", server="s1", set_bits=1, clear_bits=0, has_weight=False, weight=0
    ),
    RuntimeChange(seq=4, command="add map #0 key value"),
    SessionsAsk(seq=5, pid=0),
]
FROM_MASTER = [
    Start(listeners=3, slot=1),
    Listeners(first=0, count=3),
    CliSession(),
    SoftStop(),
    HardStop(),
    StatusRequest(),
    AdminDone(seq=3, error=""),
    RuntimeApply(command="set server be/s1 addr 127.0.0.2"),
    SessionsPeers(seq=5, count=2, position=1),
]


def frame(kind: int, body: bytes, nfds: int = 0, version: int = FORMAT_VERSION) -> bytes:
    return HEADER.pack(version, kind, nfds, len(body)) + body


def events(conn: IpcConnection) -> list:
    found = []
    while (event := conn.next_event()) is not NEED_DATA and event is not CLOSED:
        found.append(event)
    return found


def test_every_kind_is_listed_once() -> None:
    assert {type(m) for m in FROM_WORKER + FROM_MASTER} == set(KINDS.values())
    assert all(0 < kind < 256 for kind in KINDS)


@pytest.mark.parametrize("chunk", [None, 1, 3, 7])
def test_round_trip_whole_byte_at_a_time_and_back_to_back(chunk: int | None) -> None:
    for sender, receiver, messages in (
        ("worker", "master", FROM_WORKER),
        ("master", "worker", FROM_MASTER),
    ):
        data = b"".join(IpcConnection(sender).send(m) for m in messages)  # type: ignore[arg-type]
        conn = IpcConnection(receiver)  # type: ignore[arg-type]
        got = []
        step = chunk or len(data)
        for index in range(0, len(data), step):
            conn.receive_data(data[index : index + step])
            got += events(conn)
        conn.receive_data(b"")
        assert conn.next_event() is CLOSED
        assert got == messages


def test_descriptor_counts_travel_in_the_header() -> None:
    assert [m.fd_count() for m in FROM_MASTER] == [2, 3, 1, 0, 0, 0, 0, 0, 2]
    header = HEADER.unpack(encode(Listeners(first=250, count=9))[: HEADER.size])
    assert header[:3] == (FORMAT_VERSION, Listeners.KIND, 9)
    with pytest.raises(IpcError):
        encode(Listeners(first=0, count=MAX_FDS + 1))


def test_body_is_json_not_pickle() -> None:
    data = encode(Status(pid=7, connections=0, stopping=True))
    assert json.loads(data[HEADER.size :]) == {"pid": 7, "connections": 0, "stopping": True}


def test_direction_is_enforced() -> None:
    with pytest.raises(IpcError, match="cannot send"):
        IpcConnection("worker").send(SoftStop())
    conn = IpcConnection("master")
    conn.receive_data(encode(SoftStop()))
    with pytest.raises(IpcError, match="only it may send"):
        conn.next_event()


def test_encode_refuses_wrong_field_types() -> None:
    with pytest.raises(IpcError, match="pid"):
        encode(Ready(pid=True))  # a bool is not a pid
    with pytest.raises(IpcError, match="pid"):
        encode(Ready(pid=-1))


HOSTILE = [
    (frame(Ready.KIND, b'{"pid": 1}', version=1), "version 1"),
    (frame(99, b"{}"), "unknown kind 99"),
    (HEADER.pack(FORMAT_VERSION, Ready.KIND, 0, MAX_FRAME + 1), "at most"),
    (HEADER.pack(FORMAT_VERSION, Ready.KIND, 300, 2) + b"{}", "descriptors"),
    (frame(Ready.KIND, b"\xff\xfe"), "not a JSON object"),
    (frame(Ready.KIND, b"[1]"), "not a JSON object"),
    (frame(Ready.KIND, b"not json"), "not a JSON object"),
    (frame(Ready.KIND, b"[" * 30000 + b"]" * 30000), "not a JSON object"),
    (frame(Ready.KIND, b'{"pid": NaN}'), "NaN"),
    (frame(Ready.KIND, b'{"pid": 1, "pid": 2}'), "repeats"),
    (frame(Ready.KIND, b"{}"), "missing fields"),
    (frame(Ready.KIND, b'{"pid": 1, "evil": "x"}'), "unknown"),
    (frame(Ready.KIND, b'{"pid": "1"}'), "'pid'"),
    (frame(Ready.KIND, b'{"pid": 1.5}'), "'pid'"),
    (frame(Ready.KIND, b'{"pid": 99999999999999999999999}'), "'pid'"),
    (frame(Ready.KIND, b'{"pid": 1}', nfds=1), "announces 1 descriptors"),
    (frame(Status.KIND, b'{"pid": 1, "connections": 0, "stopping": 0}'), "'stopping'"),
    (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "version"),
]


@pytest.mark.parametrize(("data", "words"), HOSTILE)
def test_garbage_is_a_clear_error_and_kills_the_connection(data: bytes, words: str) -> None:
    conn = IpcConnection("master")
    conn.receive_data(data)
    with pytest.raises(IpcError, match=words.replace("(", r"\(")):
        conn.next_event()
    conn.receive_data(encode(Ready(pid=1)))
    with pytest.raises(IpcError):
        conn.next_event()  # dead for good


def test_oversized_frame_is_refused_before_its_body_arrives() -> None:
    conn = IpcConnection("master", max_frame=100)
    conn.receive_data(HEADER.pack(FORMAT_VERSION, ExitReport.KIND, 0, 101))
    with pytest.raises(IpcError, match="101 bytes"):
        conn.next_event()


def test_eof_inside_a_frame() -> None:
    data = encode(Ready(pid=5))
    for cut in (1, HEADER.size, len(data) - 1):
        conn = IpcConnection("master")
        conn.receive_data(data[:cut])
        assert conn.next_event() is NEED_DATA
        conn.receive_data(b"")
        with pytest.raises(IpcError, match="middle of a frame"):
            conn.next_event()


def test_header_layout_is_fixed() -> None:
    assert HEADER.size == 8
    assert encode(SoftStop()) == struct.pack("!BBHI", 4, 19, 0, 2) + b"{}"
    assert encode(Ready(pid=42)) == struct.pack("!BBHI", 4, 1, 0, 10) + b'{"pid":42}'
