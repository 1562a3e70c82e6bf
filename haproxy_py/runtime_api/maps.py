"""The runtime API's map and ACL commands: `show|get|add|del|set|clear map|acl`.

Works on a worker's MapCache (haproxy_py/sample/maps.py): its PatternRefs are the maps and
pattern files the rules use, numbered `#N` in order of first use. Reads (`show`, `get`)
answer at once. A write is checked first (`run_map_command(..., commit=False)`: the same
code, every lookup rebuilt and thrown away) and, when it would succeed, sent to the master,
which hands it to every worker of the generation in the same order; each worker then runs
it with `commit=True`. Entry ids (`0x...`) are numbered per ref, so every worker, and a
worker started later that replays the master's list of changes, gives the same ids.
`prepare`, `commit` and the `@<ver>` forms of `add`, `clear` and `show` are versioned
updates (haproxy_py/runtime_api/map_versions.py), written like the other writes. Payloads
are not built (answered as HAProxy answers missing arguments). Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from ipaddress import ip_address

from haproxy_py.runtime_api import map_versions as versions
from haproxy_py.sample.maps import MapCache, PatternRef
from haproxy_py.sample.matchers import build_lookup
from haproxy_py.sample.types import SampleError

WRITES = frozenset({"add", "del", "set", "clear", "prepare", "commit"})
_LIST_HEADER = "# id (file) description\n"


def _unknown(kind: str) -> str:
    label = "map" if kind == "map" else "ACL"
    return f"Unknown {label} identifier. Please use #<id> or <file>.\n\n"


def entry_id(ref: PatternRef, eid: int) -> str:
    """HAProxy shows an entry's address; ours is made of the ref's number and the entry's."""
    return f"0x{(0x55 << 40) | (ref.rid << 24) | eid:x}"


def find_ref(maps: MapCache, ident: str, kind: str) -> PatternRef | None:
    """The ref `#N` or PATH names, among those used as `kind` (map or acl)."""
    for ref in maps.refs.values():
        if not (ref.as_map if kind == "map" else ref.as_acl):
            continue
        if ident == ref.path or (ident.startswith("#") and ident[1:] == str(ref.rid)):
            return ref
    return None


def is_write(words: Sequence[str]) -> bool:
    return len(words) >= 2 and words[0] in WRITES and words[1] in ("map", "acl")


def run_map_command(maps: MapCache, words: Sequence[str], *, commit: bool = True) -> str:
    """The answer to one map/acl command; writes change `maps` only when `commit`."""
    verb, kind, args = words[0], words[1], list(words[2:])
    if verb == "show":
        return _show(maps, kind, args)
    if verb == "get":
        return _get(maps, kind, args)
    try:
        if verb in ("prepare", "commit"):
            return (
                _prepare(maps, kind, args, commit)
                if verb == "prepare"
                else (_commit(maps, kind, args, commit))
            )
        if verb == "add":
            return _add(maps, kind, args, commit)
        if verb == "del":
            return _del(maps, kind, args, commit)
        if verb == "set":
            return _set(maps, args, commit)
        return _clear(maps, kind, args, commit)
    except SampleError as error:  # an entry the lookups cannot take: nothing changed
        return f"{error}\n\n"


def write_answer(maps: MapCache | None, words: Sequence[str]) -> str:
    """The answer of a write once every worker made it: `prepare` tells the new version."""
    if maps is None or words[0] != "prepare" or len(words) < 3:
        return "\n"
    ref = find_ref(maps, words[2], words[1])
    return f"New version created: {ref.next_ver}\n\n" if ref is not None else "\n"


def _version(args: list[str]) -> tuple[int | None, list[str]]:
    """(the `@<ver>` given first, the arguments after it), or (None, args)."""
    if args and args[0].startswith("@"):
        return versions.parse_version(args[0]), args[1:]
    return None, args


def _missing(kind: str) -> str:
    return "Missing map identifier.\n\n" if kind == "map" else "Missing ACL identifier.\n\n"


def _prepare(maps: MapCache, kind: str, args: list[str], commit: bool) -> str:
    ref = find_ref(maps, args[0], kind) if args else None
    if ref is None:
        return _unknown(kind)
    versions.prepare(ref, commit)
    return "\n"


def _commit(maps: MapCache, kind: str, args: list[str], commit: bool) -> str:
    version, rest = _version(args)
    if version is None:
        return versions.MISSING_VERSION
    if not rest:
        return _missing(kind)
    ref = find_ref(maps, rest[0], kind)
    if ref is None:
        return _unknown(kind)
    return versions.commit_version(ref, version, commit)


def _show(maps: MapCache, kind: str, args: list[str]) -> str:
    version, args = _version(args)
    if not args and version is not None:
        return _unknown(kind)
    if not args:
        lines = [_LIST_HEADER]
        for ref in maps.refs.values():
            if ref.as_map if kind == "map" else ref.as_acl:
                user = f"{kind} at {ref.where}" if ref.where else kind
                lines.append(
                    f"{ref.rid} ({ref.path}) pattern loaded from file '{ref.path}' used by {user}."
                    f" curr_ver={ref.curr_ver} next_ver={ref.next_ver}"
                    f" entry_cnt={versions.entry_count(ref)}\n"
                )
        return "".join(lines) + "\n"
    ref = find_ref(maps, args[0], kind)
    if ref is None:
        return _unknown(kind)
    entries = ref.entries if version is None else versions.version_entries(ref, version)
    if kind == "map":
        rows = [f"{entry_id(ref, eid)} {key} {value}\n" for eid, key, value in entries]
    else:
        rows = [f"{entry_id(ref, eid)} {key}\n" for eid, key, _value in entries]
    return "".join(rows) + "\n"


def _get(maps: MapCache, kind: str, args: list[str]) -> str:
    if len(args) < 2:
        label = "map" if kind == "map" else "ACL"
        return f"Missing {label} identifier and/or key.\n\n"
    ref = find_ref(maps, args[0], kind)
    if ref is None:
        return _unknown(kind)
    method, fold, _output = ref.usage
    head = f"type={method}, case={'insensitive' if fold else 'sensitive'}"
    try:
        lookup = build_lookup(
            method, [(key, (key, value)) for _eid, key, value in ref.entries], fold
        )
        found = lookup(_sample(method, args[1]))
    except (SampleError, ValueError):
        found = None
    word = "found" if kind == "map" else "match"
    if found is None:
        return f"{head}, {word}=no\n\n"
    index = "tree" if method in ("str", "ip") else "list"
    if kind == "map":
        key, value = found
        return f'{head}, found=yes, idx={index}, key="{key}", value="{value}", type="str"\n\n'
    return f'{head}, match=yes, idx={index}, pattern="{found[0]}"\n\n'


def _sample(method: str, text: str) -> object:
    """The sample `get` looks up: an address for ip matches, bytes otherwise."""
    if method == "ip":
        return ip_address(text)
    return text.encode("utf-8", "surrogateescape")


def _add(maps: MapCache, kind: str, args: list[str], commit: bool) -> str:
    version, args = _version(args)
    if kind == "map" and len(args) < 3:
        return (
            "'add map' expects three parameters (map identifier, key and value) or one"
            " parameter (map identifier) and a payload\n\n"
        )
    if kind == "acl" and len(args) < 2:
        return "'add acl' expects two parameters: ACL identifier and pattern.\n\n"
    ref = find_ref(maps, args[0], kind)
    if ref is None:
        return _unknown(kind)
    value = args[2] if kind == "map" else ""
    if version is not None and versions.in_future(ref, version):
        return versions.future_answer(kind)
    if version is not None and version != ref.curr_ver:
        versions.add_pending(ref, version, args[1], value, commit)
        return "\n"
    added = [*ref.entries, (ref.next_id + 1, args[1], value)]
    _write(ref, added, commit)
    if commit:
        ref.next_id += 1
    return "\n"


def _del(maps: MapCache, kind: str, args: list[str], commit: bool) -> str:
    if len(args) < 2:
        label = "map" if kind == "map" else "ACL"
        return f"This command expects two parameters: {label} identifier and key.\n\n"
    ref = find_ref(maps, args[0], kind)
    if ref is None:
        return _unknown(kind)
    kept = [entry for entry in ref.entries if not _selects(ref, entry, args[1])]
    if len(kept) == len(ref.entries):
        return "Key not found.\n\n"
    _write(ref, kept, commit)
    return "\n"


def _set(maps: MapCache, args: list[str], commit: bool) -> str:
    if len(args) < 3:
        return "'set map' expects three parameters: map identifier, key and value.\n\n"
    ref = find_ref(maps, args[0], "map")
    if ref is None:
        return _unknown("map")
    changed = [
        (eid, key, args[2]) if _selects(ref, (eid, key, value), args[1]) else (eid, key, value)
        for eid, key, value in ref.entries
    ]
    if changed == ref.entries:
        if not any(_selects(ref, entry, args[1]) for entry in ref.entries):
            return (
                "key or pattern not found.\n\n"
                if args[1].startswith("#")
                else ("entry not found.\n\n")
            )
        return "\n"
    _write(ref, changed, commit)
    return "\n"


def _clear(maps: MapCache, kind: str, args: list[str], commit: bool) -> str:
    version, args = _version(args)
    if not args:
        return _missing(kind)
    ref = find_ref(maps, args[0], kind)
    if ref is None:
        return _unknown(kind)
    if version is not None and version != ref.curr_ver:
        versions.clear_pending(ref, version, commit)
        return "\n"
    _write(ref, [], commit)
    return "\n"


def _selects(ref: PatternRef, entry: tuple[int, str, str], text: str) -> bool:
    """`#0x...` names one entry by id; anything else every entry of that key."""
    if text.startswith("#"):
        return entry_id(ref, entry[0]) == text[1:].lower()
    return entry[1] == text


def _write(ref: PatternRef, entries: list[tuple[int, str, str]], commit: bool) -> None:
    """Build every lookup from `entries` (SampleError if one cannot be: nothing changes);
    swap them in only when committing."""
    ref.replace(entries, commit=commit)
