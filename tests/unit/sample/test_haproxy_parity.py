"""Which ACL lines are accepted or refused: haproxy-py's compiler against HAProxy 2.6.

Each corpus line is an `acl` statement in a frontend next to a backend `be` (server `s`)
and a userlist `ul` (user `u` in no group); `empty.lst` exists, `missing.lst` does not.
The expected verdict is written down (so the test runs without HAProxy), and a second test
checks every verdict against `haproxy -c` when HAProxy is installed. Lines where haproxy-py
refuses on purpose what HAProxy accepts are listed apart, with the reason.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from haproxy_py.config.diagnostics import ConfigError, Where
from haproxy_py.config.keywords.acl import parse_acl_body
from haproxy_py.sample import CompileEnv, RulesCompiler, SampleError, Userlist
from haproxy_py.sample.env import UserEntry
from tests.helpers import haproxy_command

OK, NO = True, False
CORPUS: list[tuple[str, bool]] = [
    ("path_beg -i /ms1/", OK),
    ("path_end .jpg .css .ico", OK),
    ("path_reg ^/a[0-9]+$", OK),
    ("path_reg (", NO),
    ("path_dir img", OK),
    ("path_dom example", OK),
    ("path_len 3", OK),
    ("path_len x", NO),
    ("hdr_beg(host) -i www.", OK),
    ("hdr_dom(host) -i example.com", OK),
    ("hdr_cnt(host) 1", OK),
    ("hdr(host,x) a", NO),
    ("hdr(host,-1) a", OK),
    ("url_param x", OK),
    ("urlp_beg(x) y", OK),
    ("url_param_beg(x) y", NO),
    ("req.hdr_beg(host) x", NO),
    ("cook_beg(x) y", OK),
    ("req.cook(x) -m sub y", OK),
    ("xxx", NO),
    ("len foo", NO),
    ("path,len gt 3", NO),
    ("path,length gt 3", OK),
    ("path,lower,foo x", NO),
    ("path -m foo x", NO),
    ("path -m ip 1.2.3.4", OK),
    ("src -m str x", OK),
    ("method -m int 1", NO),
    ("method GET HEAD", OK),
    ("src 10.0.0.0/8 ::1", OK),
    ("src 1.2.3.4/33", NO),
    ("src 1.2.3.4:80", NO),
    ("src 1.2.3.4/255.255.0.0", OK),
    ("dst_port 80:90", OK),
    ("dst_port 1:a", NO),
    ("dst_port foo", NO),
    ("status lt 300", OK),
    ("var(foo) x", NO),
    ("var(txn.foo) x", NO),
    ("var(txn.foo) -m str x", OK),
    ("req.payload(0) x", NO),
    ("req.payload(0,4) x", NO),
    ("req.payload(0,4) -m bin 41", OK),
    ("req.payload(0,4) -m bin zz", NO),
    ("path -f /tmp/missing.lst", NO),
    ("path -f /tmp/empty.lst", OK),
    ("path,map(/tmp/missing.map) x", NO),
    ("src,ipmask(24) 1.2.3.0", OK),
    ("src,ipmask(33) 1.2.3.0", NO),
    ("path,field(1) x", NO),
    ("path,field(0,/) x", NO),
    ("path,word(1,/,2) x", OK),
    ("path,regsub(a,b,gi) x", OK),
    ("path,regsub(a,b,z) x", NO),
    ("path,json(foo) x", NO),
    ("path,json(utf8s) x", OK),
    ("path,b64dec x", NO),
    ("path,hex x", OK),
    ("path,xxh3 1", OK),
    ("path,crc32(1) 1", OK),
    ("path,add(txn.x) 3", OK),
    ("path,strcmp(x) 0", NO),
    ("path,set-var(foo) -m found", NO),
    ("path,set-var(txn.x) -m found", OK),
    ("path,concat(a,txn.b,c) x", OK),
    ("date(1,y) 1", NO),
    ("date(1,ms) 1", OK),
    ("rand(10) 1", OK),
    ("http_auth(ul)", OK),
    ("http_auth(nope)", NO),
    ("http_auth_group(ul) g", NO),
    ("nbsrv(be) gt 0", OK),
    ("nbsrv(nope) gt 0", NO),
    ("srv_is_up(be/s)", OK),
    ("srv_is_up(be/x)", NO),
    ("connslots(be) gt 1", OK),
    ("be_conn gt 1", NO),
    ("env(HOME) x", OK),
    ("path(1) x", NO),
    ("path,lower(x) x", NO),
    ("path_beg,lower x", OK),
    ("path -m found", OK),
    ("status,not -m bool", OK),
    ("so_id 1", OK),
    ("fe_name fe", OK),
]
# haproxy-py refuses these on purpose; HAProxy 2.6 accepts them.
REFUSED_ON_PURPOSE = {
    "req.ssl_sni -i x": "TLS is not supported yet",
}


def _env() -> CompileEnv:
    def loader(path: str) -> list[str]:
        if path == "/tmp/empty.lst":
            return []
        raise OSError(path)

    userlist = Userlist("ul", {"u": UserEntry("p", True)}, frozenset())
    return CompileEnv(
        loader=loader,
        proxy="fe",
        proxy_is_backend=False,
        backends={"be": frozenset({"s"})},
        userlists={"ul": userlist},
    )


def accepted_by_haproxy_py(line: str) -> bool:
    try:
        acl = parse_acl_body(line.split(), Where("t.cfg", 1), "a")
        RulesCompiler([acl], _env()).named("a")
    except (ConfigError, SampleError):
        return False
    return True


@pytest.mark.parametrize(("line", "expected"), CORPUS)
def test_haproxy_py_verdict(line: str, expected: bool) -> None:
    assert accepted_by_haproxy_py(line) is expected


@pytest.mark.parametrize("line", sorted(REFUSED_ON_PURPOSE))
def test_refused_on_purpose(line: str) -> None:
    assert accepted_by_haproxy_py(line) is False


CONFIG = """defaults
    mode http
    timeout client 1s
    timeout server 1s
    timeout connect 1s
userlist ul
    user u insecure-password p
backend be
    server s 127.0.0.1:1
frontend fe
    bind 127.0.0.1:8080
    acl a {line}
    default_backend be
"""


@pytest.mark.needs_haproxy
def test_haproxy_agrees(tmp_path: Path) -> None:
    command = haproxy_command()
    if command is None:
        pytest.skip("HAProxy is not installed")
    empty = Path("/tmp/empty.lst")
    if not empty.exists():
        empty.write_text("")
    disagreements = []
    for line, expected in [*CORPUS, *((line, True) for line in REFUSED_ON_PURPOSE)]:
        config = tmp_path / "t.cfg"
        config.write_text(CONFIG.format(line=line.replace("/tmp/", "/tmp/")))
        result = subprocess.run(
            [*command, "-c", "-q", "-f", str(config)], capture_output=True, timeout=30
        )
        if (result.returncode == 0) is not expected:
            disagreements.append(line)
    assert disagreements == []
