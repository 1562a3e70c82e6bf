"""Per-lookup cost of maps: 10 entries versus 100,000, exact-string and IP longest-prefix.

    .venv/bin/python bench/maps.py

Builds the maps in memory (the loader is injected, no files), compiles
`req.hdr(host),lower,map(hosts.map)` and `src,map_ip(nets.map)` once, then times the
compiled callables on a request whose key is in the map. The point of the design is that
both columns stay flat: a dict probe for strings, at most 33 dict probes for IPv4.
"""

from __future__ import annotations

import timeit
from ipaddress import IPv4Address

from haproxy_py.sample import CompileEnv, HttpRequest, SampleContext, compile_expression


def host_map(size: int) -> list[str]:
    return [f"host{i}.example.com be{i % 50}" for i in range(size)]


def net_map(size: int) -> list[str]:
    lines = []
    for i in range(size):
        prefix = 16 + i % 17  # prefixes /16 to /32 spread over the map
        address = IPv4Address((10 << 24) + i * 256)
        lines.append(f"{address}/{prefix} net{i}")
    return lines


def per_call(function, ctx: SampleContext, number: int = 200_000) -> float:  # type: ignore[no-untyped-def]
    best = min(timeit.repeat(lambda: function(ctx), number=number, repeat=5))
    return best / number * 1e9


def main() -> None:
    print(f"{'map':<40} {'10 entries':>12} {'100,000':>12}")
    rows = [
        ("req.hdr(host),lower,map(hosts)", "req.hdr(host),lower,map(/hosts.map)"),
        ("src,map_ip(nets) (longest prefix)", "src,map_ip(/nets.map)"),
    ]
    for label, text in rows:
        costs = []
        for size in (10, 100_000):
            files = {"/hosts.map": host_map(size), "/nets.map": net_map(size)}
            expression = compile_expression(text, CompileEnv(loader=files.__getitem__))
            key = f"HOST{size // 2 if size > 10 else 5}.example.com".encode()
            ctx = SampleContext(
                src=IPv4Address((10 << 24) + (size // 2) * 256 + 7),
                request=HttpRequest(b"GET", b"/", headers=[(b"Host", key)]),
            )
            assert expression.get(ctx) is not None
            costs.append(per_call(expression.get, ctx))
        print(f"{label:<40} {costs[0]:>10.0f}ns {costs[1]:>10.0f}ns")


if __name__ == "__main__":
    main()
