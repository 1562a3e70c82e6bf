"""Socket addresses of bind, server, log, peer and stats socket lines."""

from __future__ import annotations

import pytest

from haproxy_py.config.address import (
    BIND_RULES,
    LOG_RULES,
    PEER_RULES,
    SERVER_RULES,
    SOCKET_RULES,
    Address,
    AddressRules,
    Family,
    parse_address,
)
from haproxy_py.config.diagnostics import ConfigError


def bind(text: str) -> Address:
    return parse_address(text, "bind", BIND_RULES)


def server(text: str) -> Address:
    return parse_address(text, "server", SERVER_RULES)


def fails(text: str, rules: AddressRules, keyword: str = "kw") -> str:
    with pytest.raises(ConfigError) as info:
        parse_address(text, keyword, rules)
    return info.value.message


# -- IP forms ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "family", "host", "port"),
    [
        ("127.0.0.1:80", Family.IPV4, "127.0.0.1", 80),
        ("0.0.0.0:65535", Family.IPV4, "0.0.0.0", 65535),
        ("[::1]:80", Family.IPV6, "::1", 80),
        ("[2001:db8::1]:443", Family.IPV6, "2001:db8::1", 443),
        ("::1:80", Family.IPV6, "::1", 80),  # without brackets the last colon starts the port
        (":::8080", Family.IPV6, "::", 8080),
        ("2001:db8::1:8443", Family.IPV6, "2001:db8::1", 8443),
        ("*:80", Family.IPV4, "", 80),
        (":80", Family.IPV4, "", 80),
        ("localhost:8080", Family.HOSTNAME, "localhost", 8080),
        ("ipv4@127.0.0.1:80", Family.IPV4, "127.0.0.1", 80),
        ("ipv6@::1:80", Family.IPV6, "::1", 80),
        ("ipv6@:80", Family.IPV6, "", 80),
        ("tcp@127.0.0.1:80", Family.IPV4, "127.0.0.1", 80),
        ("tcp6@[::1]:80", Family.IPV6, "::1", 80),
    ],
)
def test_bind_inet_forms(text: str, family: Family, host: str, port: int) -> None:
    address = bind(text)
    assert (address.family, address.host, address.port, address.port_last) == (
        family,
        host,
        port,
        port,
    )
    assert address.text == text
    assert str(address) == text
    assert address.is_inet
    assert not address.port_offset
    assert not address.datagram


def test_bind_port_range() -> None:
    address = bind("127.0.0.1:8000-8010")
    assert (address.port, address.port_last) == (8000, 8010)
    single = bind("127.0.0.1:8000-8000")
    assert (single.port, single.port_last) == (8000, 8000)


@pytest.mark.parametrize("text", ["127.0.0.1:8010-8000", "127.0.0.1:0-10", "127.0.0.1:1-99999"])
def test_bad_port_ranges(text: str) -> None:
    fails(text, BIND_RULES)


@pytest.mark.parametrize(
    "rules", [SERVER_RULES, LOG_RULES, PEER_RULES, SOCKET_RULES], ids=lambda r: repr(r)[:40]
)
def test_ranges_only_for_bind(rules: AddressRules) -> None:
    message = fails("127.0.0.1:80-90", rules)
    assert "range" in message


@pytest.mark.parametrize(("text", "offset"), [("1.2.3.4:+10", 10), ("1.2.3.4:-10", -10)])
def test_server_port_offsets(text: str, offset: int) -> None:
    address = server(text)
    assert address.port_offset
    assert address.port == offset


@pytest.mark.parametrize("rules", [BIND_RULES, LOG_RULES, PEER_RULES, SOCKET_RULES])
def test_offsets_only_for_servers(rules: AddressRules) -> None:
    assert "offset" in fails("1.2.3.4:+10", rules)


def test_server_port_is_optional() -> None:
    address = server("1.2.3.4")
    assert (address.family, address.host, address.port) == (Family.IPV4, "1.2.3.4", 0)
    assert server("1.2.3.4:0").port == 0
    assert server("[::1]").host == "::1"
    assert server("backend.example.com").family == Family.HOSTNAME


def test_bind_port_is_required() -> None:
    assert "missing port" in fails("1.2.3.4", BIND_RULES, "bind")
    assert "missing port" in fails("1.2.3.4:", BIND_RULES, "bind")
    assert "invalid port '0'" in fails("1.2.3.4:0", BIND_RULES, "bind")


def test_invalid_port_message_is_haproxys() -> None:
    message = fails("127.0.0.1:99999", BIND_RULES, "bind")
    assert message == "'bind' : invalid port '99999'"
    assert "invalid port '99999'" in fails("127.0.0.1:99999", SERVER_RULES, "server")


@pytest.mark.parametrize("text", ["1.2.3.4:abc", "1.2.3.4:8o", "1.2.3.4:٨٠"])
def test_non_numeric_ports(text: str) -> None:
    assert "invalid port" in fails(text, BIND_RULES)


# -- UNIX, abstract, fd, socketpair --------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "path"), [("unix@/tmp/s.sock", "/tmp/s.sock"), ("/var/run/h.sock", "/var/run/h.sock")]
)
def test_unix_sockets(text: str, path: str) -> None:
    for rules in (BIND_RULES, SERVER_RULES, SOCKET_RULES, LOG_RULES):
        address = parse_address(text, "kw", rules)
        assert (address.family, address.host, address.port) == (Family.UNIX, path, 0)
        assert not address.is_inet


def test_unix_socket_limits() -> None:
    assert "missing UNIX socket path" in fails("unix@", BIND_RULES)
    assert "too long" in fails("/" + "a" * 120, BIND_RULES)
    parse_address("/" + "a" * 106, "bind", BIND_RULES)  # 107 bytes is the limit
    assert "not allowed" in fails("unix@/x", PEER_RULES)
    assert "not allowed" in fails("/x", PEER_RULES)


def test_abstract_sockets() -> None:
    address = bind("abns@haproxy-peers")
    assert (address.family, address.host) == (Family.ABNS, "haproxy-peers")
    fails("abns@", BIND_RULES)
    fails("abns@x", PEER_RULES)


@pytest.mark.parametrize(
    ("text", "family", "fd"),
    [("fd@3", Family.FD, 3), ("fd@0", Family.FD, 0), ("sockpair@4", Family.SOCKPAIR, 4)],
)
def test_fd_and_sockpair(text: str, family: Family, fd: int) -> None:
    for rules in (BIND_RULES, SERVER_RULES):
        address = parse_address(text, "kw", rules)
        assert (address.family, address.fd) == (family, fd)


@pytest.mark.parametrize("text", ["fd@", "fd@x", "fd@-1", "sockpair@", "sockpair@3a"])
def test_bad_fd_numbers(text: str) -> None:
    assert "file descriptor" in fails(text, BIND_RULES)


# -- datagram (log) addresses -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "family", "port"),
    [
        ("udp@1.2.3.4:514", Family.IPV4, 514),
        ("udp4@1.2.3.4:514", Family.IPV4, 514),
        ("udp6@[::1]:514", Family.IPV6, 514),
        ("udp@1.2.3.4", Family.IPV4, 0),
    ],
)
def test_udp_for_log_only(text: str, family: Family, port: int) -> None:
    address = parse_address(text, "log", LOG_RULES)
    assert address.datagram
    assert (address.family, address.port) == (family, port)
    for rules in (BIND_RULES, SERVER_RULES, PEER_RULES, SOCKET_RULES):
        assert "datagram" in fails(text, rules)


def test_log_forms() -> None:
    assert parse_address("127.0.0.1:514", "log", LOG_RULES).port == 514
    assert parse_address("127.0.0.1", "log", LOG_RULES).port == 0
    assert parse_address("/dev/log", "log", LOG_RULES).family == Family.UNIX


# -- host names and malformed addresses -----------------------------------------------------


@pytest.mark.parametrize(
    "text", ["example.com:80", "my-host:80", "db_1.internal:5432", "a.b.c.d.e:1", "srv1:80"]
)
def test_host_names_are_kept_unresolved(text: str) -> None:
    address = server(text)
    assert address.family == Family.HOSTNAME
    assert address.host == text.rsplit(":", 1)[0]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "missing address"),
        ("bad_host!:80", "invalid address 'bad_host!'"),
        ("-host:80", "invalid address"),
        ("host-:80", "invalid address"),
        ("[::1:80", "missing ']'"),
        ("[::1]x", "unexpected 'x'"),
        ("foo@x", "unknown address family 'foo'"),
        ("ipv4@::1:80", "not an ipv4 address"),
        ("ipv6@127.0.0.1:80", "not an ipv6 address"),
        ("1.2.3.4:1:2:3", "invalid address"),
    ],
)
def test_malformed_addresses(text: str, fragment: str) -> None:
    assert fragment in fails(text, SERVER_RULES)


def test_messages_name_the_keyword() -> None:
    assert fails("1.2.3.4", BIND_RULES, "bind").startswith("'bind' : ")
    assert fails("bad!:1", SERVER_RULES, "server").startswith("'server' : ")


def test_prefixes_are_case_insensitive() -> None:
    assert bind("IPV4@127.0.0.1:80").family == Family.IPV4
    assert bind("UNIX@/tmp/x").family == Family.UNIX


def test_addresses_are_frozen_values() -> None:
    address = bind("127.0.0.1:80")
    assert address == bind("127.0.0.1:80")
    assert hash(address) == hash(bind("127.0.0.1:80"))
    with pytest.raises(AttributeError):
        address.port = 81  # type: ignore[misc]
