"""Versioned map and ACL updates: `prepare map|acl`, `add|clear map|acl @<ver>`, `show
map|acl @<ver>` and `commit map|acl @<ver>`, as HAProxy 2.6 answers them.

A PatternRef's `entries` are its current version (`curr_ver`); `prepare` opens the next
version number (`next_ver`), whose entries are kept apart (`pending`) until `commit` makes
them the current ones at once, dropping every older version. Versions compare as HAProxy's
32-bit generation numbers (a version "before" another when their difference is negative).
These run inside haproxy_py/runtime_api/maps.py's `run_map_command`, so a write is checked
first (`commit=False`, nothing changed) and then made by every worker in one order
(worker/cli_write.py). Pure: no I/O.
"""

from __future__ import annotations

from haproxy_py.sample.maps import PatternRef

Entry = tuple[int, str, str]
MISSING_VERSION = "Missing version number.\n\n"
OUT_OF_RANGE = "Version number out of range.\n\n"


def parse_version(word: str) -> int:
    """`@<ver>`'s number as HAProxy reads it (C strtoul then 32 bits: `@x` is 0, `@-1` is
    4294967295)."""
    digits = word[1:].strip()
    sign = -1 if digits.startswith("-") else 1
    digits = digits.lstrip("+-")
    end = 0
    while end < len(digits) and digits[end].isdigit():
        end += 1
    number = int(digits[:end]) if end else 0
    return (sign * number) & 0xFFFFFFFF


def _before(one: int, other: int) -> bool:
    """`one` is an older version than `other` (32-bit generation arithmetic)."""
    difference = (one - other) & 0xFFFFFFFF
    return difference >= 0x80000000


def in_future(ref: PatternRef, version: int) -> bool:
    return _before(ref.next_ver, version)


def future_answer(kind: str) -> str:
    return f"Version number in the future, please use 'prepare {kind}' before.\n\n"


def prepare(ref: PatternRef, commit: bool) -> None:
    if commit:
        ref.next_ver = (ref.next_ver + 1) & 0xFFFFFFFF


def version_entries(ref: PatternRef, version: int) -> list[Entry]:
    return ref.entries if version == ref.curr_ver else ref.pending.get(version, [])


def entry_count(ref: PatternRef) -> int:
    """HAProxy's `entry_cnt`: the entries of every version kept."""
    return len(ref.entries) + sum(len(entries) for entries in ref.pending.values())


def add_pending(ref: PatternRef, version: int, key: str, value: str, commit: bool) -> None:
    """Add to a version that is not the current one; its entries must build (SampleError)."""
    added = [*ref.pending.get(version, []), (ref.next_id + 1, key, value)]
    ref.replace(added, commit=False)  # checks that the lookups can be built
    if commit:
        ref.next_id += 1
        ref.pending[version] = added


def clear_pending(ref: PatternRef, version: int, commit: bool) -> None:
    if commit:
        ref.pending.pop(version, None)


def commit_version(ref: PatternRef, version: int, commit: bool) -> str:
    """Make `version` current (HAProxy's error for one not after the current, or never
    prepared); older versions are dropped."""
    if not _before(ref.curr_ver, version) or in_future(ref, version):
        return OUT_OF_RANGE
    entries = ref.pending.get(version, [])
    ref.replace(entries, commit=commit)
    if commit:
        ref.pending.pop(version, None)
        ref.curr_ver = version
        for old in [v for v in ref.pending if _before(v, version)]:
            del ref.pending[old]
    return "\n"
