"""Versioned map and ACL updates on a real `haproxy-py -W` with two workers: `prepare map`,
`add map @<ver>` and `commit map` through the stats socket and the master CLI change the
routing of both workers at the commit only; side by side with HAProxy 2.6, the answers are
the same once entry ids (HAProxy shows addresses) are masked."""

from __future__ import annotations

import re
from pathlib import Path

from tests.e2e.side_by_side import needs_haproxy
from tests.e2e.test_runtime_writes import (
    answers_on_both,
    served_by,
    setup,  # noqa: F401 (the two workers' fixture)
    socat,
)

DIFFERENTIAL = [
    "show map",
    "prepare map {map}",
    "prepare map {map}",
    "prepare map nope",
    "add map @1 {map} c.example be2",
    "add map @2 {map} d.example be2",
    "add map @9 {map} e.example be2",
    "add map @3",
    "show map @1 {map}",
    "show map @2 {map}",
    "show map @0 {map}",
    "show map @7 {map}",
    "show map",
    "commit map {map}",
    "commit map @1",
    "commit map @9 {map}",
    "commit map @1 nope",
    "commit map @1 {map}",
    "show map",
    "show map {map}",
    "commit map @1 {map}",
    "clear map @2 {map}",
    "commit map @2 {map}",
    "show map",
    "prepare acl {acl}",
    "add acl @1 {acl} eve",
    "commit acl @1 {acl}",
    "show acl {acl}",
    "set severity-output number; prepare map {map}",
    "set severity-output string; commit map @0 {map}",
]


def masked(answer: bytes) -> bytes:
    answer = re.sub(rb"(?m)^\d+ \(", b"N (", answer)  # refs are numbered differently
    answer = answer.replace(b"/haproxy-py/", b"/haproxy/")  # each side's directory
    answer = re.sub(rb"' line \d+\.", b"' line L.", answer)  # haproxy's lacks two lines
    return re.sub(rb"(?m)^0x[0-9a-f]+ ", b"0xID ", answer)


def test_commit_switches_every_worker(setup) -> None:  # noqa: F811 (the imported fixture)
    _, port, tmp_path = setup
    sock, mcli = tmp_path / "stats.sock", tmp_path / "m.sock"
    path = tmp_path / "hosts.map"
    assert socat(sock, f"prepare map {path}") == "New version created: 1\n\n"
    assert socat(mcli, f"@2 add map @1 {path} a.example be2") == "\n"
    assert socat(sock, f"add map @1 {path} c.example be2") == "\n"
    for _ in range(6):  # both workers still route with the current version
        assert served_by(port, "a.example") == "one"
        assert served_by(port, "c.example") == "one"
    listed = socat(mcli, f"@1 show map @1 {path}")
    assert [line.split()[1:] for line in listed.splitlines() if line] == [
        ["a.example", "be2"],
        ["c.example", "be2"],
    ]
    assert socat(mcli, f"@2 commit map @1 {path}") == "\n"
    for _ in range(6):
        assert served_by(port, "a.example") == "two"
        assert served_by(port, "c.example") == "two"
        assert served_by(port, "b.example") == "one"  # not in version 1: the default be1
    for number in (1, 2):
        assert "curr_ver=1 next_ver=1 entry_cnt=2" in socat(mcli, f"@{number} show map")
    assert socat(sock, f"commit map @1 {path}") == "Version number out of range.\n\n"


@needs_haproxy
def test_answers_match_the_real_haproxy(tmp_path: Path) -> None:
    theirs, ours = answers_on_both(tmp_path, DIFFERENTIAL)
    for template, mine, reference in zip(DIFFERENTIAL, ours, theirs, strict=True):
        assert masked(mine) == masked(reference), template
