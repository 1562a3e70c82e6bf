"""Micro-benchmark of worker.relay on loopback: throughput (splice vs copy) and idle RSS.

Not the issue's end-to-end benchmark (wrk through a running haproxy-py, side by side with
HAProxy 2.6): that needs the serving process. This measures the relay alone: a sender
process -> relay -> a receiver process, 200 MB three times per path, then the resident
memory added by 2,000 idle relayed connections. Run: .venv/bin/python bench/relay_micro.py
"""

from __future__ import annotations

import gc
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import trio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from worker.pipes import PipePool
from worker.relay import RelayTimeouts, relay

SEND = (
    "import socket,sys\ns=socket.socket(fileno=int(sys.argv[1]));n=int(sys.argv[2])\n"
    "c=memoryview(bytes(1<<20))\nwhile n:\n k=min(n,len(c)); s.sendall(c[:k]); n-=k\n"
    "s.shutdown(socket.SHUT_WR); s.recv(1)"
)
RECV = (
    "import socket,sys\ns=socket.socket(fileno=int(sys.argv[1]));b=bytearray(1<<20);g=0\n"
    "while k:=s.recv_into(b): g+=k\nprint(g)"
)


def tcp_pair() -> tuple[socket.socket, socket.socket]:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        near = socket.create_connection(listener.getsockname())
        far, _ = listener.accept()
    return near, far


async def transfer(pipes: PipePool | None, total: int = 200 << 20) -> str:
    client, front = tcp_pair()
    back, server = tcp_pair()
    sender = subprocess.Popen(
        [sys.executable, "-c", SEND, str(client.fileno()), str(total)], pass_fds=[client.fileno()]
    )
    receiver = subprocess.Popen(
        [sys.executable, "-c", RECV, str(server.fileno())],
        pass_fds=[server.fileno()],
        stdout=subprocess.PIPE,
        text=True,
    )
    client.close()
    server.close()
    await trio.sleep(0.3)
    started, cpu = time.perf_counter(), time.process_time()
    result = await relay(front, back, pipes=pipes, timeouts=RelayTimeouts(30, 30))
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    assert int(receiver.communicate()[0]) == total == result.bytes_in
    sender.wait()
    front.close()
    back.close()
    return f"{total / elapsed / 1e6:.0f} MB/s ({cpu / total * 1e9:.2f} relay CPU s/GB)"


async def idle_rss(count: int = 2000) -> None:
    links = [(*tcp_pair(), *tcp_pair()) for _ in range(count)]
    pool = PipePool(count // 4)
    process = psutil.Process()
    gc.collect()
    await trio.sleep(0.2)
    before = process.memory_info().rss
    async with trio.open_nursery() as nursery:
        for _, front, back, _ in links:
            nursery.start_soon(
                lambda f=front, b=back: relay(f, b, pipes=pool, timeouts=RelayTimeouts(60, 60))
            )
        await trio.sleep(1)
        gc.collect()
        added = (process.memory_info().rss - before) / count / 1024
        print(f"{count} idle relayed connections: {added:.1f} KiB RSS each", end="")
        print(f", pipes in use {pool.in_use}")
        nursery.cancel_scope.cancel()
    for sockets in links:
        for sock in sockets:
            sock.close()


async def main() -> None:
    paths = [
        ("splice 64 KiB pipes", PipePool(16)),
        ("splice 1 MiB pipes", PipePool(16, pipe_size=1 << 20)),
        ("copy 16 KiB buffer", None),
    ]
    for label, pipes in paths:
        results = [await transfer(pipes) for _ in range(3)]
        print(f"{label:20s} 200 MB: {', '.join(results)}")
    await idle_rss()


if __name__ == "__main__":
    trio.run(main)
