"""Binding listeners from a configuration: addresses, options, errors, no leaks."""

from __future__ import annotations

import os
import socket
import stat
from pathlib import Path

import pytest

from haproxy_py.config import load_configuration
from haproxy_py.process.listeners import BindError, bind_all, listener_specs
from tests.helpers import free_port

TIMEOUTS = "    timeout client 1s\n    timeout server 1s\n    timeout connect 1s\n"


def free_port_range(count: int) -> int:
    """A first port such that `count` consecutive ports are free right now."""
    for _ in range(50):
        base = free_port()
        probes = []
        try:
            for port in range(base, base + count):
                probe = socket.socket()
                probes.append(probe)
                probe.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for probe in probes:
                probe.close()
    raise RuntimeError("no free port range found")


def load(tmp_path: Path, body: str, globals_: str = ""):
    path = tmp_path / "t.cfg"
    path.write_text(f"global\n{globals_}defaults\n    mode tcp\n{TIMEOUTS}{body}")
    result = load_configuration([str(path)], env={})
    assert result.config is not None, [d.message for d in result.diagnostics]
    return result.config


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_ipv4_listener_accepts_connections(tmp_path: Path) -> None:
    port = free_port()
    config = load(tmp_path, f"listen app\n    bind 127.0.0.1:{port}\n")
    (listener,) = bind_all(listener_specs(config))
    try:
        assert listener.sock.getsockname() == ("127.0.0.1", port)
        assert not listener.sock.get_inheritable()
        assert listener.sock.getblocking() is False
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            pass
    finally:
        listener.sock.close()


def test_defer_accept_sets_the_kernel_option_only_where_asked(tmp_path: Path) -> None:
    deferred, plain = free_port(), free_port()
    config = load(
        tmp_path,
        f"listen app\n    bind 127.0.0.1:{deferred} defer-accept\n    bind 127.0.0.1:{plain}\n",
    )
    listeners = bind_all(listener_specs(config))
    try:
        delays = [
            listener.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_DEFER_ACCEPT)
            for listener in listeners
        ]
        assert delays[0] > 0 and delays[1] == 0
    finally:
        for listener in listeners:
            listener.sock.close()


def test_port_range_binds_one_socket_per_port(tmp_path: Path) -> None:
    port = free_port_range(3)
    config = load(tmp_path, f"frontend fe\n    bind 127.0.0.1:{port}-{port + 2}\n")
    listeners = bind_all(listener_specs(config))
    try:
        assert [lst.sock.getsockname()[1] for lst in listeners] == [port, port + 1, port + 2]
    finally:
        for listener in listeners:
            listener.sock.close()


def test_ipv6_v6only(tmp_path: Path) -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this machine")
    port = free_port()
    config = load(tmp_path, f"listen app\n    bind [::1]:{port} v6only\n")
    (listener,) = bind_all(listener_specs(config))
    try:
        assert listener.sock.family == socket.AF_INET6
        assert listener.sock.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY) == 1
    finally:
        listener.sock.close()


def test_unix_socket_gets_its_mode_before_it_appears(tmp_path: Path) -> None:
    path = tmp_path / "s.sock"
    config = load(tmp_path, f"listen app\n    bind unix@{path} mode 600\n")
    (listener,) = bind_all(listener_specs(config))
    try:
        info = path.stat()
        assert stat.S_ISSOCK(info.st_mode)
        assert stat.S_IMODE(info.st_mode) == 0o600
        assert not list(tmp_path.glob("s.sock.*.tmp"))
        with socket.socket(socket.AF_UNIX) as client:
            client.connect(str(path))
    finally:
        listener.sock.close()


def test_stats_socket_is_bound_first(tmp_path: Path) -> None:
    path = tmp_path / "admin.sock"
    port = free_port()
    config = load(
        tmp_path,
        f"listen app\n    bind 127.0.0.1:{port}\n",
        globals_=f"    stats socket {path} mode 660 level admin\n",
    )
    specs = listener_specs(config)
    assert [spec.owner for spec in specs] == ["stats socket", "proxy app"]
    listeners = bind_all(specs)
    for listener in listeners:
        listener.sock.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o660


def test_abstract_socket(tmp_path: Path) -> None:
    name = f"haproxy-py-test-{os.getpid()}"
    config = load(tmp_path, f"listen app\n    bind abns@{name}\n")
    (listener,) = bind_all(listener_specs(config))
    try:
        with socket.socket(socket.AF_UNIX) as client:
            client.connect("\0" + name)
    finally:
        listener.sock.close()


def test_inherited_listening_socket(tmp_path: Path) -> None:
    given = socket.socket()
    given.bind(("127.0.0.1", 0))
    given.listen()
    config = load(tmp_path, f"listen app\n    bind fd@{given.fileno()}\n")
    (listener,) = bind_all(listener_specs(config))
    assert listener.sock.fileno() == given.fileno()
    given.detach()
    listener.sock.close()


def test_inherited_descriptor_that_is_not_listening_is_refused(tmp_path: Path) -> None:
    with socket.socket() as idle:
        config = load(tmp_path, f"listen app\n    bind fd@{idle.fileno()}\n")
        with pytest.raises(BindError) as info:
            bind_all(listener_specs(config))
        assert "not a listening socket" in info.value.messages[0]
        idle.getsockname()  # still open: a refused descriptor is left as it was


def test_address_in_use_names_line_proxy_and_address(tmp_path: Path) -> None:
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    port = busy.getsockname()[1]
    config = load(tmp_path, f"listen app\n    bind 127.0.0.1:{port}\n")
    with busy, pytest.raises(BindError) as info:
        bind_all(listener_specs(config), reuseport=False)
    (message,) = info.value.messages
    assert message == (
        f"Binding [{tmp_path / 't.cfg'}:8] for proxy app: cannot bind socket"
        f" (Address already in use) for [127.0.0.1:{port}]"
    )


def test_a_failure_closes_everything_already_bound(tmp_path: Path) -> None:
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    good = free_port()
    config = load(
        tmp_path,
        f"listen app\n    bind 127.0.0.1:{good}\n    bind 127.0.0.1:{busy.getsockname()[1]}\n",
    )
    before = open_fds()
    with pytest.raises(BindError):
        bind_all(listener_specs(config), reuseport=False)
    assert open_fds() == before
    busy.close()
    with socket.socket() as again:  # the good port was released
        again.bind(("127.0.0.1", good))


def test_foreign_address_reports_the_system_error(tmp_path: Path) -> None:
    config = load(tmp_path, "listen app\n    bind 192.0.2.1:8080\n")
    with pytest.raises(BindError) as info:
        bind_all(listener_specs(config))
    assert "Cannot assign requested address" in info.value.messages[0]
    assert "[192.0.2.1:8080]" in info.value.messages[0]


@pytest.mark.skipif(
    os.geteuid() == 0, reason="root may set IP_TRANSPARENT: the refusal is for others"
)
def test_transparent_needs_root(tmp_path: Path) -> None:
    config = load(tmp_path, f"listen app\n    bind 127.0.0.1:{free_port()} transparent\n")
    with pytest.raises(BindError) as info:
        bind_all(listener_specs(config))
    assert "'transparent' needs root" in info.value.messages[0]


def test_disabled_proxies_and_backends_bind_nothing(tmp_path: Path) -> None:
    port = free_port()
    config = load(
        tmp_path,
        f"frontend off\n    disabled\n    bind 127.0.0.1:{port}\n"
        "backend be\n    server s 127.0.0.1:1\n",
    )
    assert listener_specs(config) == []


def test_backlog_comes_from_the_bind_line_then_the_proxy(tmp_path: Path) -> None:
    port = free_port()
    config = load(
        tmp_path,
        f"frontend fe\n    maxconn 300\n    bind 127.0.0.1:{port}\n"
        f"    bind 127.0.0.1:{port + 1} backlog 17\n",
    )
    assert [spec.backlog for spec in listener_specs(config)] == [300, 17]


@pytest.mark.skipif(os.geteuid() != 0, reason="IP_TRANSPARENT needs root (CAP_NET_ADMIN)")
def test_transparent_as_root(tmp_path: Path) -> None:
    config = load(tmp_path, f"listen app\n    bind 127.0.0.1:{free_port()} transparent\n")
    (listener,) = bind_all(listener_specs(config))
    with listener.sock:
        assert listener.sock.getsockopt(socket.IPPROTO_IP, 19) == 1  # IP_TRANSPARENT
