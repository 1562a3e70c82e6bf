"""Every converter of the table, and XXH3 against vectors of the reference implementation."""

from __future__ import annotations

import zlib
from ipaddress import ip_address

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from haproxy_py.sample import CompileEnv, SampleError, compile_expression
from haproxy_py.sample.converters import full_hash
from haproxy_py.sample.xxh3 import xxh3_64_python
from tests.unit.sample.helpers import make_ctx, sample

MAPS = {
    "/hosts.map": ["# comment", "", "www.example.com  be_www", "  api.example.com\tbe_api  "],
    "/nets.map": ["10.0.0.0/8 ten", "10.1.0.0/16 ten-one", "::1 local6", "0.0.0.0/0 any"],
    "/ports.map": ["80 http", "443 https"],
    "/beg.map": ["/img/ images", "/img/logo old-logo", "/ root"],
    "/num.map": ["a 1"],
    "/reg.map": [r"^/user/([0-9]+) uid=\1"],
}


def _load(path: str) -> list[str]:
    if path not in MAPS:
        raise FileNotFoundError(path)
    return MAPS[path]


def conv(text: str, ctx=None):  # type: ignore[no-untyped-def]
    return sample(text, ctx, CompileEnv(loader=lambda path: MAPS[path]))


CASES = [
    ("str(AbC),lower", b"abc"),
    ("str(AbC),upper", b"ABC"),
    ("str(abcd),length", 4),
    ("str(a/b/c/d),field(2,/)", b"b"),
    ("str(a/b/c/d),field(-1,/)", b"d"),
    ("str(a/b/c/d),field(2,/,2)", b"b/c"),
    ("str(a//b),field(2,/)", b""),
    ("str(a//b),word(2,/)", b"b"),
    ("str(/a/b/c),word(-2,/)", b"b"),
    ("str(a-b-c),regsub(-,_)", b"a_b-c"),
    ("str(a-b-c),regsub(-,_,g)", b"a_b_c"),
    (r"str(ab12),regsub('([a-z]+)([0-9]+)','\2\1')", b"12ab"),
    ("str(www.example.com),map(/hosts.map)", b"be_www"),
    ("str(API.example.com),lower,map(/hosts.map)", b"be_api"),
    ("str(nope),map(/hosts.map,dflt)", b"dflt"),
    ("str(nope),map(/hosts.map)", None),
    ("src,map_ip(/nets.map)", b"any"),
    ("str(10.1.2.3),map_ip(/nets.map)", b"ten-one"),
    ("str(10.2.2.3),map_ip(/nets.map)", b"ten"),
    ("str(::1),map_ip(/nets.map)", b"local6"),
    ("dst_port,map_int(/ports.map)", b"http"),
    ("str(/img/logo.png),map_beg(/beg.map)", b"images"),
    ("str(/index),map_beg(/beg.map)", b"root"),
    ("str(/user/42),map_regm(/reg.map)", b"uid=42"),
    ("str(a),map_str_int(/num.map)", 1),
    ("str(b),map_str_int(/num.map,7)", 7),
    ("src,ipmask(24)", ip_address("192.168.1.0")),
    ("src,ipmask(255.255.0.0)", ip_address("192.168.0.0")),
    ("str(2001:db8::1),ipmask(24,32)", ip_address("2001:db8::")),
    ("str(hello),base64", b"aGVsbG8="),
    ("str(aGVsbG8=),b64dec", b"hello"),
    ("str(!!),b64dec", None),
    ("str(hi),hex", b"6869"),
    ("str(a%20b+c),url_dec", b"a b+c"),
    ("str(a%20b+c),url_dec(1)", b"a b c"),
    ("str(a%2),url_dec", None),
    ("var(txn.j),json", b'a\\"b\\/c\\u00e9'),
    ("str(abc),crc32", zlib.crc32(b"abc")),
    ("str(abc),crc32(1)", full_hash(zlib.crc32(b"abc"))),
    ("str(abc),xxh3", 0x78AF5F94892F3950),
    ("int(5),add(3)", 8),
    ("int(5),sub(7)", -2),
    ("int(5),mul(-3)", -15),
    ("int(-7),div(2)", -3),
    ("int(7),div(0)", (1 << 63) - 1),
    ("int(-7),mod(2)", -1),
    ("int(7),mod(0)", 0),
    ("int(9223372036854775807),add(1)", (1 << 63) - 1),
    ("int(3),bool", True),
    ("int(0),bool", False),
    ("int(0),not", True),
    ("str(b),concat(a,txn.v,c)", b"baVc"),
    ("str(V),strcmp(txn.v)", 0),
    ("str(W),strcmp(txn.v)", 1),
    ("str(12),add(1)", 13),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_converter(text: str, expected: object) -> None:
    ctx = make_ctx()
    ctx.set_var("txn.v", b"V")
    ctx.set_var("txn.j", b'a"b/c\xe9')
    assert conv(text, ctx) == expected


def test_arithmetic_with_a_variable_and_set_var() -> None:
    ctx = make_ctx()
    ctx.set_var("txn.n", 10)
    assert conv("int(5),add(txn.n)", ctx) == 15
    assert conv("int(5),add(txn.missing)", ctx) is None
    assert conv("path,set-var(txn.p),length", ctx) == 13
    assert ctx.get_var("txn.p") == b"/img/logo.png"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("path,len", "unknown converter 'len' (did you mean 'length' ?)"),
        ("path,field(1)", "missing arguments (got 1/2), type 'string' expected"),
        ("path,field(0,/)", "Unexpected value 0 for index"),
        ("path,regsub(a,b,z)", "invalid regex flag 'z'"),
        ("path,json(foo)", "Unexpected input code type"),
        ("path,strcmp(x)", "failed to register variable name 'x'"),
        ("src,ipmask(33)", "failed to parse '33' as type 'IPv4 mask'"),
        ("path,map(/missing.map)", "failed to open pattern file </missing.map>"),
        ("method,add(1)", "cannot be applied"),
    ],
)
def test_converter_errors(text: str, message: str) -> None:
    with pytest.raises(SampleError) as raised:
        compile_expression(text, CompileEnv(loader=_load))
    assert message in str(raised.value)


# XXH3-64 vectors computed with the reference implementation (the xxhash package 4.1.0).
XXH3_VECTORS = [
    (b"", 0, 0x2D06800538D394C2),
    (b"a", 0, 0xE6C632B61E964E1F),
    (b"abc", 0, 0x78AF5F94892F3950),
    (b"hello world", 0, 0xD447B1EA40E6988B),
    (b"x" * 100, 7, 0xCB55C39477E4E803),
    (b"y" * 1000, 0, 0x6A7DF51DF515DBAB),
    (b"z" * 2000, 42, 0x96557412B6A145E9),
]


@pytest.mark.parametrize(("data", "seed", "expected"), XXH3_VECTORS)
def test_xxh3_vectors(data: bytes, seed: int, expected: int) -> None:
    assert xxh3_64_python(data, seed) == expected


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=1500), st.integers(0, 2**64 - 1))
def test_xxh3_matches_the_reference_when_installed(data: bytes, seed: int) -> None:
    xxhash = pytest.importorskip("xxhash")
    assert xxh3_64_python(data, seed) == xxhash.xxh3_64_intdigest(data, seed)
