"""Per-request cost of content switching as the worker runs it (issue 5's Measure).

    .venv/bin/python bench/rules.py [--quick]

For each shape it writes a real configuration, loads it with the configuration parser,
compiles the frontend's rules with `compile_proxy_rules()` (what worker/startup.py does) and
times `ProxyRules.choose_backend` on a `LiveContext`, the per-connection context the
sessions use, carrying a parsed request:

- N rules `use_backend beI if { hdr(host) -i hI.example.com }` (N = 1, 100, 10,000), the
  request naming the first rule's host, the last one's, and no rule's (all N evaluated);
- one rule `use_backend %[req.hdr(host),lower,map(hosts.map)]` with a map of 10 to 100,000
  entries (a hit; the backend count stays 50, the map's values cycling over them).

The rule lists are timed twice: as the worker runs them (runs of `hdr(host) -i` rules
share one dict, worker/rule_index.py's ExactIndex) and evaluated one by one (the index turned
off), to show what the index saves. A fresh context per request would add the same constant
to every row, so one context is reused and its per-request caches are reset between calls
as `next_transaction()` does.
"""

from __future__ import annotations

import socket
import sys
import tempfile
import timeit
from pathlib import Path
from typing import Any

from haproxy_py.config import load_configuration
from haproxy_py.sample import HttpRequest
from haproxy_py.sample.acls import RulesCompiler
from worker.http_errors import DEFAULT_ERROR_PAGES
from worker.rules import LiveContext, compile_proxy_rules

HEAD = (
    "defaults\n    mode http\n    timeout client 1s\n    timeout server 1s\n"
    "    timeout connect 1s\nfrontend fe\n    bind 127.0.0.1:8080\n"
)


def _backends(count: int) -> str:
    return "".join(f"backend be{i}\n    server s 127.0.0.1:{1000 + i}\n" for i in range(count))


def compile_frontend(text: str, files: dict[str, list[str]]) -> Any:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.cfg"
        for name, lines in files.items():
            (Path(folder) / name).write_text("\n".join(lines) + "\n")
        path.write_text(text.replace("@DIR@", folder))
        result = load_configuration([str(path)])
        config = result.config if hasattr(result, "config") else result[0]
        assert config is not None, result
        proxy = next(p for p in config.proxies if p.name == "fe")
        loader = lambda name: Path(name).read_text().splitlines(keepends=True)  # noqa: E731
        rules = compile_proxy_rules(config, proxy, loader, DEFAULT_ERROR_PAGES)
    assert rules is not None and rules.choose_backend is not None
    return rules.choose_backend


def per_request(choose: Any, host: str, expected: str | None, number: int) -> float:
    ctx = LiveContext.open(socket.socket(), ("10.0.0.1", 1234), "fe")
    ctx.request = HttpRequest(b"GET", b"/", headers=[(b"Host", host.encode())])
    assert choose(ctx) == expected, (choose(ctx), expected)

    def one() -> None:
        ctx.next_transaction()
        choose(ctx)

    best = min(timeit.repeat(one, number=number, repeat=5))
    return best / number * 1e9


def rule_list(count: int, number: int, indexed: bool) -> list[tuple[str, float]]:
    text = HEAD + "".join(
        f"    use_backend be{i} if {{ hdr(host) -i h{i}.example.com }}\n" for i in range(count)
    )
    shape = RulesCompiler.exact_shape
    if not indexed:
        RulesCompiler.exact_shape = lambda self, condition: None  # type: ignore[method-assign]
    try:
        choose = compile_frontend(text + _backends(count), {})
    finally:
        RulesCompiler.exact_shape = shape  # type: ignore[method-assign]
    last = count - 1
    slow = number if indexed else max(20, number // max(1, count // 10))  # long calls: fewer
    return [
        (f"{count:>6} rules, first matches", per_request(choose, "H0.example.com", "be0", number)),
        (f"{count:>6} rules, last matches",
         per_request(choose, f"h{last}.example.com", f"be{last}", slow)),
        (f"{count:>6} rules, none matches", per_request(choose, "other.example.com", None, slow)),
    ]  # fmt: skip


def map_rule(entries: int, number: int) -> tuple[str, float]:
    hosts = [f"h{i}.example.com be{i % 50}" for i in range(entries)]
    text = HEAD + "    use_backend %[req.hdr(host),lower,map(@DIR@/hosts.map)]\n"
    choose = compile_frontend(text + _backends(50), {"hosts.map": hosts})
    key = entries // 2
    cost = per_request(choose, f"H{key}.example.com", f"be{key % 50}", number)
    return f"map, {entries:>7} entries", cost


def main() -> None:
    quick = "--quick" in sys.argv
    number = 2_000 if quick else 20_000
    print(f"{'use_backend shape':<36} {'as run':>12} {'one by one':>12}")
    for count in (1, 100, 10_000):
        plain = rule_list(count, number, indexed=False)
        for (label, cost), (_, slow) in zip(rule_list(count, number, True), plain, strict=True):
            print(f"{label:<36} {cost / 1000:>10.2f}us {slow / 1000:>10.2f}us")
    for entries in (10, 10_000, 100_000):
        label, cost = map_rule(entries, number)
        print(f"{label:<36} {cost / 1000:>10.2f}us")


if __name__ == "__main__":
    main()
