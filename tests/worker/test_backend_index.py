"""use_backend's index (worker/rules.py ExactIndex): runs of `if { FETCH [-i] V... }` rules
answer with dict probes, and must choose exactly what the rules evaluated one by one choose
(first match wins), with other rules, other fetches and case rules in between."""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import pytest

from haproxy_py.sample.acls import RulesCompiler
from tests.worker.test_rules import ctx_for, rules_of

BACKENDS = "".join(f"backend b{i}\n    server s 127.0.0.1:{1000 + i}\n" for i in range(8))
RULES = (
    "frontend fe\n    bind :8080\n    acl named hdr(host) -i named.com dup.com\n"
    "    use_backend b0 if { hdr(host) -i a.com b.com }\n"
    "    use_backend b1 if { hdr(host) -i b.com c.com }\n"  # b.com: b0 came first
    "    use_backend b2 if named\n"
    "    use_backend b3 if { hdr(host) Case.com }\n"  # no -i: a run of its own
    "    use_backend b4 if { path_beg /api }\n"  # not indexable: ends the run
    "    use_backend b5 if { hdr(host) -i dup.com d.com }\n"  # dup.com: b2 came first
    "    use_backend b6 if { hdr(host) -i -m str e.com } || { path /e }\n"  # OR: not indexed
    "    use_backend b7 if { req.hdr(host) -i f.com }\n"
    "    use_backend disabled if { hdr(host) -i g.com }\n"
    "    default_backend b0\n"
    "backend disabled\n    disabled\n    server s 127.0.0.1:9\n"
)
HOSTS = ["a.com", "B.COM", "c.com", "named.com", "dup.com", "Case.com", "case.com", "d.com",
         "e.com", "f.com", "g.com", "x.com", "a.com, d.com", "x.com,f.com"]  # fmt: skip
PATHS = [b"/", b"/api/x", b"/e"]


@pytest.fixture
def both(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    indexed = rules_of(tmp_path, RULES + BACKENDS).choose_backend
    monkeypatch.setattr(RulesCompiler, "exact_shape", lambda self, condition: None)
    one_by_one = rules_of(tmp_path, RULES + BACKENDS).choose_backend
    return indexed, one_by_one


def test_the_index_chooses_as_the_rules_in_order(both) -> None:  # type: ignore[no-untyped-def]
    indexed, one_by_one = both
    steps = next(c.cell_contents for c in indexed.__closure__ if isinstance(c.cell_contents, list))
    # b0-b2 (one run), b3 (no -i), b5, b7, and the rule naming a disabled backend (an empty
    # dict: req.hdr and hdr are different fetches as written); b4 and b6 are run as written
    names = [type(step).__name__ for step in steps]
    assert (
        names
        == ["ExactIndex", "ExactIndex", "function", "ExactIndex", "function"] + ["ExactIndex"] * 2
    )
    for host, path in itertools.product(HOSTS, PATHS):
        ctx = ctx_for(path, [(b"Host", host.encode())])
        assert indexed(ctx) == one_by_one(ctx_for(path, [(b"Host", host.encode())])), host
    samples = {
        ("B.COM", b"/"): "b0", ("c.com", b"/"): "b1", ("dup.com", b"/"): "b2",
        ("Case.com", b"/"): "b3", ("case.com", b"/"): None, ("d.com", b"/api/x"): "b4",
        ("d.com", b"/"): "b5", ("x.com,f.com", b"/"): "b7", ("g.com", b"/"): None,
        ("a.com, d.com", b"/"): "b0",
    }  # fmt: skip
    for (host, path), expected in samples.items():
        assert indexed(ctx_for(path, [(b"Host", host.encode())])) == expected, host


def test_two_host_headers_take_the_earliest_rule(both) -> None:  # type: ignore[no-untyped-def]
    indexed, one_by_one = both
    rng = random.Random(5)
    for _ in range(200):
        headers = [(b"Host", rng.choice(HOSTS).encode()) for _ in range(rng.randint(0, 3))]
        path = rng.choice(PATHS)
        assert indexed(ctx_for(path, list(headers))) == one_by_one(ctx_for(path, list(headers)))
