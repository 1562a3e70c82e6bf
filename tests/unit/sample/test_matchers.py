"""Match methods and flags, through ACL lines, and map_ip against a brute-force reference."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network, ip_address

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from haproxy_py.sample import CompileEnv, SampleError, compile_acl
from haproxy_py.sample.acls import acl_from_words
from haproxy_py.sample.matchers import build_lookup
from tests.unit.sample.helpers import make_ctx

FILES = {"/bad.lst": ["# abusers", "", "  192.168.1.0/24  ", "10.9.9.9"], "/hosts.map": ["a.com x"]}


def load(path: str) -> list[str]:
    if path not in FILES:
        raise FileNotFoundError(path)
    return FILES[path]


def acl(line: str, ctx=None) -> bool:  # type: ignore[no-untyped-def]
    compiled = compile_acl(acl_from_words(line.split()), CompileEnv(loader=load))
    return compiled(ctx or make_ctx())


CASES = [
    ("path /img/logo.png", True),
    ("path /IMG/logo.png", False),
    ("path -i /IMG/LOGO.png", True),
    ("path_beg /img/", True),
    ("path_beg -i /IMG/", True),
    ("path_end .png .jpg", True),
    ("path_end .jpg", False),
    ("path_sub logo", True),
    ("path_dir img", True),
    ("path_dir im", False),
    ("path_dir /img/logo.png", True),
    ("hdr_dom(host) -i example.com", True),
    ("hdr_dom(host) -i ample.com", False),
    ("hdr_beg(host) -i www.", True),
    ("hdr_end(host) .com", True),
    ("hdr_reg(host) ^WWW\\.", True),
    ("hdr_sub(accept) json", True),
    ("hdr(accept) */*", True),
    ("path_len 13", True),
    ("path_len gt 20", False),
    ("path_reg ^/img/[a-z]+\\.png$", True),
    ("path -m reg -i ^/IMG", True),
    ("dst_port 80", True),
    ("dst_port 1:79 81:", False),
    ("dst_port 70:90", True),
    ("dst_port lt 80", False),
    ("dst_port le 80", True),
    ("dst_port ne 80", False),
    ("dst_port ge 81", False),
    ("src 192.168.0.0/16", True),
    ("src 192.168.1.10", True),
    ("src 10.0.0.0/8 ::1", False),
    ("src ::ffff:192.168.1.10", True),
    ("src -f /bad.lst", True),
    ("dst -f /bad.lst", False),
    ("method GET HEAD", True),
    ("method get", True),
    ("method POST", False),
    ("req.cook(SERVERID) s1", True),
    ("req.cook(SERVERID) s3", False),
    ("hdr(host) -m found", True),
    ("hdr(nope) -m found", False),
    ("query -m found", True),
    ("srv_is_up(be/s1)", True),
    ("nbsrv(be) -m bool", True),
    ("req.payload(0,5) -m bin 68656c6c6f", True),
    ("url_param(lang) fr", True),
    ("urlp(lang) -m beg f", True),
    ("src -m str 192.168.1.10", True),
    ("path -- -i", False),
    ("hdr(host),lower -M -f /hosts.map", False),
    ("var(txn.none) -m found", False),
    ("path_beg", False),
]


@pytest.mark.parametrize(("line", "expected"), CASES)
def test_acl(line: str, expected: bool) -> None:
    assert acl(line) is expected


def test_every_header_occurrence_is_tested() -> None:
    assert acl("hdr(accept) text/html") is True
    assert acl("req.cook(SERVERID) s2") is True


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("method -m int 1", "matching method 'int' cannot be used with fetch keyword 'method'"),
        ("var(txn.x) x", "matching method must be specified first"),
        ("src 1.2.3.4/33", "'1.2.3.4/33' is not a valid IPv4 or IPv6 address."),
        ("dst_port 1:a", "'1:a' is not a valid number range."),
        ("dst_port x", "'x' is not a number."),
        ("path -m reg (", "regex '(' is invalid"),
        ("path -f /missing.lst", "failed to open pattern file </missing.lst>"),
    ],
)
def test_acl_errors(line: str, message: str) -> None:
    with pytest.raises(SampleError) as raised:
        acl(line)
    assert message in str(raised.value)


def test_exact_lookup_first_occurrence_and_folding() -> None:
    lookup = build_lookup("str", [("a", 1), ("A", 2), ("a", 3)], fold=True)
    assert lookup(b"A") == 1
    assert build_lookup("str", [("a", 1), ("A", 2)])(b"A") == 2


def test_beg_returns_the_first_matching_line() -> None:
    lookup = build_lookup("beg", [("/a/b", "long"), ("/a", "short")])
    assert lookup(b"/a/b/c") == "long"
    assert build_lookup("beg", [("/a", "short"), ("/a/b", "long")])(b"/a/b/c") == "short"
    assert build_lookup("end", [(".png", 1), ("o.png", 2)])(b"logo.png") == 1


networks = st.builds(
    lambda address, prefix: IPv4Network((address, prefix), strict=False),
    st.integers(0, 2**32 - 1),
    st.integers(0, 32),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(networks, max_size=40), st.lists(st.integers(0, 2**32 - 1), max_size=20))
def test_map_ip_is_longest_prefix(nets: list[IPv4Network], probes: list[int]) -> None:
    lookup = build_lookup("ip", [(str(net), str(net)) for net in nets])
    for number in probes + [int(net.network_address) for net in nets]:
        address = IPv4Address(number)
        containing = [net for net in nets if address in net]
        expected = None
        if containing:
            longest = max(net.prefixlen for net in containing)
            expected = str(next(net for net in nets if address in net and net.prefixlen == longest))
        assert lookup(address) == expected


def test_ipv6_and_mapped_addresses() -> None:
    lookup = build_lookup("ip", [("2001:db8::/32", "doc"), ("10.0.0.0/8", "ten")])
    assert lookup(ip_address("2001:db8::5")) == "doc"
    assert lookup(ip_address("::ffff:10.1.1.1")) == "ten"
    assert lookup(ip_address("2001:db9::")) is None
