"""How long `show stat` takes to build its answer for many servers (issue 7: 1,000 servers
under 50 ms), with the counters spread over 2 and 8 worker slots.

Two shapes of configuration: backends of 10 servers each, and one backend holding every
server (the shape that exposed per-row searches of the server list). Every server is checked
and every counter slot holds a non-zero value, so no row takes a shortcut. It times the whole
answer (`show_stat`: snapshot, rows, CSV text) and the typed form's records (`stat_records`,
what the stats page and Prometheus use), best of several runs, in CPU milliseconds, and
the adding of the workers' counter blocks alone: slot by slot (`map(add)`) against the
blocks read as big integers (haproxy_py/stats/reading.py `summed`), on the same blocks.
Run: .venv/bin/python bench/show_stat.py [SERVERS...]   It measures; it asserts nothing.
"""

from __future__ import annotations

import platform
import sys
import tempfile
import time
from operator import add
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from haproxy_py.config import load_configuration
from haproxy_py.config.model import Config
from haproxy_py.process.shm import create_table
from haproxy_py.stats.csv import show_stat
from haproxy_py.stats.layout import layout_for
from haproxy_py.stats.reading import summed
from haproxy_py.stats.records import stat_records

REPEAT = 5


def config_text(servers: int, per_backend: int) -> str:
    lines = [
        "defaults\n    mode http\n    timeout client 1s\n    timeout server 1s\n",
        "    timeout connect 1s\nfrontend fe\n    bind 127.0.0.1:19200\n    default_backend be0\n",
    ]
    for b in range(-(-servers // per_backend)):
        lines.append(f"backend be{b}\n")
        count = min(per_backend, servers - b * per_backend)
        lines += [
            f"    server s{s} 10.{b // 250}.{b % 250}.{s % 250 + 1}:{80 + s // 250} check\n"
            for s in range(count)
        ]
    return "".join(lines)


def load(text: str) -> Config:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.cfg"
        path.write_text(text)
        config = load_configuration([str(path)], env={}).config
    assert config is not None
    return config


def best_ms(action: object) -> float:
    """The best of REPEAT runs in CPU time of this process (the machine is shared: wall
    time would count other processes' turns on the CPU)."""
    best = float("inf")
    for _ in range(REPEAT):
        started = time.process_time()
        action()  # type: ignore[operator]
        best = min(best, time.process_time() - started)
    return best * 1000


def slot_by_slot(blocks: list[memoryview]) -> list[int]:
    """The previous way of adding the blocks (one Python int per slot and block)."""
    total = blocks[0].tolist()
    for block in blocks[1:]:
        total = list(map(add, total, block))
    return total


def main() -> None:
    sizes = [int(arg) for arg in sys.argv[1:]] or [100, 1_000, 5_000]
    with open("/proc/loadavg") as file:
        loadavg = file.read().split()[:3]
    print(
        f"# {time.strftime('%Y-%m-%d %H:%M')} {platform.node()} Python {platform.python_version()}"
    )
    print(f"# loadavg {' '.join(loadavg)}")
    columns = ("servers", 8), ("per backend", 11), ("workers", 7), ("show stat CPU ms", 16)
    print(
        " ".join(f"{name:>{width}}" for name, width in columns),
        f"{'records CPU ms':>14} {'add slots':>9} {'add ints':>8}",
    )
    for servers in sizes:
        for per_backend in (10, servers):
            config = load(config_text(servers, per_backend))
            for workers in (2, 8):
                table = create_table(layout_for(config, workers))
                try:
                    for worker in range(workers):  # every slot non-zero
                        block = table.counter_block(worker)
                        for index in range(len(block)):
                            block[index] = index % 97 + worker
                    csv_ms = best_ms(lambda t=table, c=config: show_stat(t, c))
                    records_ms = best_ms(lambda t=table, c=config: stat_records(t, c))
                    blocks = [table.counter_block(w) for w in range(workers)]
                    slots_ms = best_ms(lambda b=blocks: slot_by_slot(b))
                    ints_ms = best_ms(lambda b=blocks: summed(b))
                    del block, blocks
                finally:
                    table.close()
                print(
                    f"{servers:8d} {per_backend:11d} {workers:7d} {csv_ms:16.1f}"
                    f" {records_ms:14.1f} {slots_ms:9.1f} {ints_ms:8.1f}"
                )


if __name__ == "__main__":
    main()
