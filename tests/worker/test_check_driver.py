"""The check driver: dialogues after the connect, on one shared epoll, with real sockets.

Each test connects a real loopback TCP socket to a tiny server thread, hands it to a
`Driver` with an `option httpchk` probe, and looks at the result it finishes with.
"""

from __future__ import annotations

import dataclasses
import select
import socket
import threading
import time
from pathlib import Path

import trio

from haproxy_py.checks import status as st
from haproxy_py.checks.probe import Plan, plan_for_proxy, run
from haproxy_py.checks.status import CheckResult
from haproxy_py.config import load_configuration
from worker.check_driver import Driver, drivable


def http_plan(tmp_path: Path, extra: str = "") -> Plan:
    path = tmp_path / "c.cfg"
    path.write_text(
        "defaults\n  timeout connect 1s\n  timeout client 1s\n  timeout server 1s\n"
        f"backend be\n  option httpchk GET /h\n{extra}  server s 127.0.0.1:1 check\n"
    )
    result = load_configuration([str(path)])
    assert result.config is not None, result
    return plan_for_proxy(result.config.backend("be"))


def serve_once(chunks: list[bytes], pause: float = 0.0) -> tuple[int, list[bytes]]:
    """A server for one connection: reads the request, answers `chunks` (`pause` apart),
    then closes; returns its port and the list the request lands in."""
    listener = socket.create_server(("127.0.0.1", 0))
    got: list[bytes] = []

    def run_() -> None:
        conn, _ = listener.accept()
        with conn, listener:
            got.append(conn.recv(4096))
            for chunk in chunks:
                time.sleep(pause)
                conn.sendall(chunk)
            time.sleep(pause)

    threading.Thread(target=run_, daemon=True).start()
    return listener.getsockname()[1], got


async def drive(plan: Plan, port: int, timeout: float) -> CheckResult:
    results: list[CheckResult] = []
    done = trio.Event()

    def finish(check: object, result: CheckResult) -> None:
        results.append(result)
        done.set()

    driver = Driver(finish)
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setblocking(False)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(driver.serve)
        started = trio.current_time()
        driver.start(object(), sock, run(plan), started, started + timeout)
        with trio.fail_after(5):
            await done.wait()
        nursery.cancel_scope.cancel()
    assert sock.fileno() == -1  # closed by the driver
    return results[0]


async def test_answer_in_pieces(tmp_path: Path) -> None:
    plan = http_plan(tmp_path)
    assert drivable(plan)
    reply = b"HTTP/1.0 200 OK\r\ncontent-length: 2\r\n\r\nok"
    port, got = serve_once([reply[:10], reply[10:30], reply[30:]], pause=0.05)
    result = await drive(plan, port, 2.0)
    assert (result.status, result.code) == (st.L7OK, 200)
    assert got == [b"GET /h HTTP/1.0\r\n\r\n"]
    assert result.duration_ms >= 100  # it waited for the pieces


async def test_silent_server_times_out(tmp_path: Path) -> None:
    port, _ = serve_once([], pause=1.0)
    started = time.monotonic()
    result = await drive(http_plan(tmp_path), port, 0.3)
    assert result.status is st.L7TOUT
    assert 0.25 <= time.monotonic() - started < 0.9


async def test_closed_without_answer(tmp_path: Path) -> None:
    port, _ = serve_once([])
    result = await drive(http_plan(tmp_path), port, 2.0)
    assert result.status is st.L7RSP


def test_connect_rules_are_not_drivable(tmp_path: Path) -> None:
    assert not drivable(http_plan(tmp_path, "  http-check connect port 80\n"))


async def test_a_request_larger_than_the_socket_buffer(tmp_path: Path) -> None:
    """The send finds no room: the socket waits for EPOLLOUT, then for the answer."""
    plan = http_plan(tmp_path)
    big = b"GET /h HTTP/1.0\r\nx-pad: " + b"a" * (8 << 20) + b"\r\n\r\n"
    steps = tuple(
        dataclasses.replace(step, options=big) if step.action == "send" else step
        for step in plan.steps
    )
    plan = dataclasses.replace(plan, steps=steps)
    listener = socket.create_server(("127.0.0.1", 0))
    got = bytearray()

    def run_() -> None:
        conn, _ = listener.accept()
        with conn, listener:
            time.sleep(0.2)  # the client's buffers fill up meanwhile
            while not got.endswith(b"\r\n\r\n"):
                got.extend(conn.recv(1 << 20))
            conn.sendall(b"HTTP/1.0 200 OK\r\ncontent-length: 0\r\n\r\n")

    threading.Thread(target=run_, daemon=True).start()
    result = await drive(plan, listener.getsockname()[1], 5.0)
    assert (result.status, result.code) == (st.L7OK, 200)
    assert bytes(got) == big


# -- start_plan(): the usual dialogue without a probe, answers remembered by their bytes ----


async def drive_plan(
    driver: Driver, plan: Plan, port: int, timeout: float, up: bool = True
) -> CheckResult:
    """One check through `start_plan()` on an existing driver (its memory carries over;
    serve() closes the driver's epoll when cancelled: the caller gives it a new one)."""
    results: list[CheckResult] = []
    done = trio.Event()
    driver._finish = lambda check, result: (results.append(result), done.set())
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setblocking(False)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(driver.serve)
        started = trio.current_time()
        driver.start_plan(object(), sock, plan, up, started, started + timeout)
        with trio.fail_after(5):
            await done.wait()
        nursery.cancel_scope.cancel()
    assert sock.fileno() == -1
    return results[0]


def remembered(driver: Driver, plan: Plan, up: bool = True) -> dict[bytes, CheckResult]:
    known = driver._plans.get((id(plan), up)) or driver._learn(plan, up)
    return known[2]


async def test_the_same_answer_again_comes_from_memory(tmp_path: Path) -> None:
    plan = http_plan(tmp_path)
    reply = b"HTTP/1.0 200 OK\r\ncontent-length: 2\r\n\r\nok"
    driver = Driver(lambda check, result: None)
    results = []
    for _ in range(2):
        port, got = serve_once([reply])
        driver._epoll = select.epoll()  # serve() closed the last one
        results.append(await drive_plan(driver, plan, port, 2.0))
        assert got == [b"GET /h HTTP/1.0\r\n\r\n"]
    assert [(r.status, r.code) for r in results] == [(st.L7OK, 200)] * 2
    assert list(remembered(driver, plan)) == [reply]
    # Another server of the backend: a plan object of its own, equal, the same memory.
    other = http_plan(tmp_path)
    assert other is not plan
    port, _ = serve_once([reply])
    driver._epoll = select.epoll()
    assert (await drive_plan(driver, other, port, 2.0)).code == 200
    assert remembered(driver, other) is remembered(driver, plan)
    assert remembered(driver, http_plan(tmp_path, "  http-check disable-on-404\n")) == {}


async def test_remembered_answers_are_told_apart(tmp_path: Path) -> None:
    plan = http_plan(tmp_path)
    driver = Driver(lambda check, result: None)
    seen = []
    ok = b"HTTP/1.0 200 OK\r\ncontent-length: 0\r\n\r\n"
    busy = b"HTTP/1.0 503 Busy\r\ncontent-length: 0\r\n\r\n"
    for reply in (ok, busy, ok, busy):
        port, _ = serve_once([reply])
        driver._epoll = select.epoll()
        result = await drive_plan(driver, plan, port, 2.0)
        seen.append((result.status, result.code, result.info))
    assert seen == [(st.L7OK, 200, ""), (st.L7STS, 503, "Busy")] * 2
    assert list(remembered(driver, plan)) == [ok, busy]


async def test_disable_on_404_depends_on_up(tmp_path: Path) -> None:
    plan = http_plan(tmp_path, "  http-check disable-on-404\n")
    driver = Driver(lambda check, result: None)
    reply = b"HTTP/1.0 404 Not Found\r\ncontent-length: 0\r\n\r\n"
    statuses = []
    for up in (True, False, True):
        port, _ = serve_once([reply])
        driver._epoll = select.epoll()
        statuses.append((await drive_plan(driver, plan, port, 2.0, up=up)).status)
    assert statuses == [st.L7OKC, st.L7STS, st.L7OKC]


async def test_answer_in_pieces_and_timeout_take_the_probe(tmp_path: Path) -> None:
    plan = http_plan(tmp_path)
    driver = Driver(lambda check, result: None)
    reply = b"HTTP/1.0 200 OK\r\ncontent-length: 2\r\n\r\nok"
    port, _ = serve_once([reply[:10], reply[10:]], pause=0.05)
    result = await drive_plan(driver, plan, port, 2.0)
    assert (result.status, result.code) == (st.L7OK, 200)
    assert reply[:10] not in remembered(driver, plan)  # the probe wanted more of it
    port, _ = serve_once([], pause=1.0)
    driver._epoll = select.epoll()
    assert (await drive_plan(driver, plan, port, 0.3)).status is st.L7TOUT


async def test_start_plan_with_a_request_larger_than_the_socket_buffer(tmp_path: Path) -> None:
    plan = http_plan(tmp_path)
    big = b"GET /h HTTP/1.0\r\nx-pad: " + b"a" * (8 << 20) + b"\r\n\r\n"
    steps = tuple(
        dataclasses.replace(step, options=big) if step.action == "send" else step
        for step in plan.steps
    )
    plan = dataclasses.replace(plan, steps=steps)
    listener = socket.create_server(("127.0.0.1", 0))
    got = bytearray()

    def run_() -> None:
        conn, _ = listener.accept()
        with conn, listener:
            time.sleep(0.2)
            while not got.endswith(b"\r\n\r\n"):
                got.extend(conn.recv(1 << 20))
            conn.sendall(b"HTTP/1.0 200 OK\r\ncontent-length: 0\r\n\r\n")

    threading.Thread(target=run_, daemon=True).start()
    result = await drive_plan(Driver(lambda c, r: None), plan, listener.getsockname()[1], 5.0)
    assert (result.status, result.code) == (st.L7OK, 200)
    assert bytes(got) == big


def test_first_request_of_each_plan_shape(tmp_path: Path) -> None:
    from worker.check_driver import _first_request

    assert _first_request(http_plan(tmp_path), True) == b"GET /h HTTP/1.0\r\n\r\n"
    path = tmp_path / "t.cfg"
    path.write_text(
        "defaults\n  timeout connect 1s\n  timeout client 1s\n  timeout server 1s\n"
        "backend plain\n  server s 127.0.0.1:1 check\n"
        "backend tcp\n  option tcp-check\n  tcp-check send PING\\r\\n\n"
        "  tcp-check expect string +PONG\n  server s 127.0.0.1:1 check\n"
        "backend quiet\n  option tcp-check\n  tcp-check expect string hello\n"
        "  server s 127.0.0.1:1 check\n"
    )
    config = load_configuration([str(path)]).config
    assert config is not None
    assert _first_request(plan_for_proxy(config.backend("plain")), True) is None
    assert _first_request(plan_for_proxy(config.backend("tcp")), True) == b"PING\r\n"
    assert _first_request(plan_for_proxy(config.backend("quiet")), True) is None


async def test_timeouts_ride_on_the_scheduler(tmp_path: Path) -> None:
    """`Driver(timers=False)` waits without a deadline; the scheduler's wake-ups end a
    dialogue whose time is up (as serve_checks wires them)."""
    from worker.check_scheduler import Scheduler

    port, _ = serve_once([], pause=1.0)
    results: list[CheckResult] = []
    done = trio.Event()
    driver = Driver(lambda check, result: (results.append(result), done.set()), timers=False)
    scheduler = Scheduler(lambda check, pending: trio.sleep(0), lambda check: (True, None))
    scheduler.timers = driver.expire
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setblocking(False)
    started = time.monotonic()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(driver.serve)
        now = trio.current_time()
        driver.start_plan(object(), sock, http_plan(tmp_path), True, now, now + 0.3)
        nursery.start_soon(scheduler.serve, nursery)
        with trio.fail_after(5):
            await done.wait()
        nursery.cancel_scope.cancel()
    assert results[0].status is st.L7TOUT
    assert 0.25 <= time.monotonic() - started < 0.9
    assert sock.fileno() == -1


async def test_ready_reads_answers_without_the_task(tmp_path: Path) -> None:
    """`ready()` (what the scheduler calls at the end of its wake-ups) finishes the checks
    whose answer is already there, with no `serve()` task running; one not answered yet
    stays registered for later."""
    results: list[CheckResult] = []
    driver = Driver(lambda check, result: results.append(result), timers=False)
    answered, _ = serve_once([b"HTTP/1.0 200 OK\r\ncontent-length: 0\r\n\r\n"])
    silent, _ = serve_once([], pause=1.0)
    plan = http_plan(tmp_path)
    socks = []
    for port in (answered, silent):
        sock = socket.create_connection(("127.0.0.1", port))
        sock.setblocking(False)
        socks.append(sock)
        now = trio.current_time()
        driver.start_plan(object(), sock, plan, True, now, now + 5)
    deadline = time.monotonic() + 5
    while not results and time.monotonic() < deadline:
        await trio.sleep(0.01)  # the server thread answers
        driver.ready()
    assert [(r.status, r.code) for r in results] == [(st.L7OK, 200)]
    assert socks[0].fileno() == -1 and socks[1].fileno() != -1  # the other still waits
    assert list(driver._active) == [socks[1].fileno()]
    socks[1].close()
    driver._epoll.close()
