"""Pattern and map files named by a configuration are opened by its parse, so that `-c`,
start-up and reload refuse a missing one with HAProxy 2.6's messages; and the ACL keywords
derived from a fetch (path_beg...) are exactly HAProxy's list."""

from __future__ import annotations

from pathlib import Path

from haproxy_py.config import load_configuration
from haproxy_py.config.diagnostics import Where
from haproxy_py.config.keywords.acl import DERIVED, parse_acl_body
from haproxy_py.sample.check import check_rules

HEAD = (
    "defaults\n    mode http\n    timeout client 1s\n    timeout server 1s\n"
    "    timeout connect 1s\nfrontend fe\n    bind 127.0.0.1:19499\n"
)


def alerts(tmp_path: Path, body: str) -> list[str]:
    path = tmp_path / "t.cfg"
    path.write_text(HEAD + body)
    result = load_configuration([str(path)])
    return [d.render(0) for d in result.diagnostics if d.severity.name == "ALERT"]


def test_missing_pattern_and_map_files_fail_the_parse(tmp_path: Path) -> None:
    gone = tmp_path / "gone.lst"
    found = alerts(
        tmp_path,
        f"    acl bad src -f {gone}\n"
        f"    http-request deny if {{ path_beg -f {gone} }}\n"
        f"    http-request set-header X %[src,map_ip({gone})]\n",
    )
    assert len(found) == 3, found
    assert found[0].endswith(
        f"t.cfg:8] : error detected while parsing ACL 'bad' : failed to open pattern file <{gone}>."
    )
    assert found[1].endswith(
        f"t.cfg:9] : error detected while parsing an 'http-request deny' condition : failed to"
        f" open pattern file <{gone}>."
    )
    assert (
        f"invalid args in converter 'map_ip' : failed to open pattern file <{gone}>." in (found[2])
    )


def test_present_files_are_accepted(tmp_path: Path) -> None:
    listed = tmp_path / "ok.lst"
    listed.write_text("10.0.0.0/8\n")
    assert alerts(tmp_path, f"    http-request deny if {{ src -f {listed} }}\n") == []


def test_only_haproxy_derived_keywords_imply_a_match_method() -> None:
    where = Where("t.cfg", 1)
    assert parse_acl_body(["path_beg", "/a"], where, "a").match == "beg"
    assert parse_acl_body(["hdr_dom(host)", "x"], where, "a").match == "dom"
    assert parse_acl_body(["urlp_len(z)", "1"], where, "a").match == "len"
    # Fetches of their own, or names HAProxy does not derive: no implied method.
    for fetch in ("hdr_cnt(x)", "req.hdr_cnt(x)", "cook_cnt(c)", "pathq_beg", "res.hdr_beg(x)"):
        assert parse_acl_body([fetch, "1"], where, "a").match == "", fetch
    assert len(DERIVED) == 8 * 7 and "url_param_beg" not in DERIVED


def test_check_rules_compiles_what_a_worker_would(tmp_path: Path) -> None:
    path = tmp_path / "t.cfg"
    path.write_text(
        HEAD + "    http-request set-var(txn.x) nosuchfetch\n"
        "    http-request deny if { pathq_beg /a }\n"
        "    http-request set-header X %[req.hdr(host),lower]\n"
        "    use_backend %[req.hdr(host),nosuchconv]\n"
        "    default_backend be\nbackend be\n    server s 127.0.0.1:9\n"
    )
    config = load_configuration([str(path)]).config
    found = check_rules(config)
    assert len(found) == 3, found
    assert found[0].startswith(f"config : [{path}:8] : proxy 'fe': 'http-request set-var' rule:")
    assert "unknown fetch method 'nosuchfetch'" in found[0]
    assert "unknown fetch method 'pathq_beg'" in found[1]
    assert f"[{path}:11]" in found[2] and "unknown converter 'nosuchconv'" in found[2]
