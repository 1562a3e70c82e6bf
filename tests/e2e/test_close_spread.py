"""`close-spread-time` on the real `haproxy-py -W`: keep-alive connections let go over time.

20 idle keep-alive clients and 4 busy ones talk to an HTTP frontend; a reload soft-stops
the old worker. The idle connections must be closed spread over the window (not all at the
start), each with a clean end of stream; the busy clients must not lose a request (they are
told `Connection: close` and reconnect to the new worker).
"""

from __future__ import annotations

import select
import signal
import socket
import threading
import time
from pathlib import Path

from tests.e2e.mworker_tools import master
from tests.helpers import free_port

WINDOW = 3.0  # seconds of close-spread-time
REQUEST = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"


def _config(port: int, spread: str) -> str:
    return f"""global
    nbthread 1
    close-spread-time {spread}
    hard-stop-after 20s
defaults
    mode http
    timeout client 30s
    timeout server 30s
    timeout connect 5s
    timeout http-keep-alive 30s
frontend fe
    bind 127.0.0.1:{port}
    http-request return status 200 content-type text/plain string ok
"""


def _exchange(sock: socket.socket) -> bytes:
    """One request; the whole response head and body ("ok")."""
    sock.sendall(REQUEST)
    data = b""
    while not data.endswith(b"ok"):
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError(f"closed after {data!r}")
        data += chunk
    return data


def _busy(port: int, stop: threading.Event, failures: list[str], counts: list[int]) -> None:
    sock = socket.create_connection(("127.0.0.1", port))
    while not stop.is_set():
        try:
            answer = _exchange(sock)
        except OSError as exc:
            failures.append(repr(exc))
            sock.close()
            sock = socket.create_connection(("127.0.0.1", port))
            continue
        counts[0] += 1
        if b"connection: close" in answer.lower():
            sock.close()
            sock = socket.create_connection(("127.0.0.1", port))
    sock.close()


def _wait_closed(socks: list[socket.socket], timeout: float) -> dict[int, float]:
    """When each idle socket saw its end of stream (index -> monotonic time)."""
    closed: dict[int, float] = {}
    end = time.monotonic() + timeout
    while len(closed) < len(socks) and time.monotonic() < end:
        waiting = [s for i, s in enumerate(socks) if i not in closed]
        readable, _, _ = select.select(waiting, [], [], 0.05)
        for sock in readable:
            assert sock.recv(100) == b""  # a clean close, no stray bytes
            closed[socks.index(sock)] = time.monotonic()
    return closed


def test_idle_connections_are_released_spread_over_the_window(tmp_path: Path) -> None:
    port = free_port()
    with master(tmp_path, _config(port, f"{int(WINDOW)}s")) as m:
        m.wait_ready()
        idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(20)]
        for sock in idle:
            assert b"200" in _exchange(sock).split(b"\r\n")[0]
        stop, failures, counts = threading.Event(), [], [0]
        busy = [
            threading.Thread(target=_busy, args=(port, stop, failures, counts)) for _ in range(4)
        ]
        for thread in busy:
            thread.start()
        try:
            m.process.send_signal(signal.SIGUSR2)
            m.wait_ready(successes=2)
            started = time.monotonic()  # the old worker's soft stop begins about now
            closed = _wait_closed(idle, WINDOW + 5)
        finally:
            stop.set()
            for thread in busy:
                thread.join()
            for sock in idle:
                sock.close()
        assert len(closed) == 20, m.text()
        offsets = sorted(at - started for at in closed.values())
        early = sum(offset < WINDOW * 0.1 for offset in offsets)
        assert early < 10, offsets  # not all at once: uniform over 3 s puts ~2 in the first 0.3 s
        assert offsets[-1] - offsets[0] > WINDOW * 0.5, offsets
        assert offsets[-1] < WINDOW + 1.5, offsets
        assert failures == [], failures
        assert counts[0] > 0
        m.wait_for(lambda: m.count("Former worker") == 1)


def test_without_the_setting_idle_connections_stay_until_their_next_request(
    tmp_path: Path,
) -> None:
    """haproxy-py's default: an idle connection is not closed under its client; its next
    request is answered with `Connection: close`."""
    port = free_port()
    with master(
        tmp_path, _config(port, "infinite").replace("close-spread-time infinite\n", "")
    ) as m:
        m.wait_ready()
        sock = socket.create_connection(("127.0.0.1", port))
        _exchange(sock)
        m.process.send_signal(signal.SIGUSR2)
        m.wait_ready(successes=2)
        time.sleep(0.5)
        readable, _, _ = select.select([sock], [], [], 0)
        assert readable == []  # still open
        assert b"connection: close" in _exchange(sock).lower()
        sock.close()
        m.wait_for(lambda: m.count("Former worker") == 1)


def test_infinite_keeps_connections_alive_through_a_soft_stop(tmp_path: Path) -> None:
    port = free_port()
    with master(tmp_path, _config(port, "infinite")) as m:
        m.wait_ready()
        sock = socket.create_connection(("127.0.0.1", port))
        _exchange(sock)
        m.process.send_signal(signal.SIGUSR2)
        m.wait_ready(successes=2)
        time.sleep(0.3)
        for _ in range(3):  # served by the old worker, the connection kept each time
            assert b"connection: close" not in _exchange(sock).lower()
        sock.close()  # the client leaves: the old worker has nothing left and exits
        m.wait_for(lambda: m.count("Former worker") == 1)
