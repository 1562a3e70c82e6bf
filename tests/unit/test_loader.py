"""load_configuration(): conditional blocks, inheritance, several files, and every error path.

Messages that HAProxy 2.6 prints the same way are compared exactly; others by their key parts.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from haproxy_py.config import LoadResult, load_configuration
from haproxy_py.config.address import Family
from haproxy_py.config.diagnostics import (
    SPACED,
    TIGHT,
    Diagnostic,
    Diagnostics,
    Severity,
    Where,
)
from haproxy_py.config.model import Config, Proxy
from haproxy_py.config.sources import MAX_FILE_BYTES, MAX_LINE_BYTES
from tests.helpers import (
    TIMEOUTS,
    alerts,
    load_text,
    messages,
    of_severity,
    warnings,
    write_cfg,
)

LISTEN = "listen app\n    bind 127.0.0.1:8080\n" + TIMEOUTS


def ok(result: LoadResult) -> Config:
    assert alerts(result) == [], [d.render(0) for d in result.diagnostics]
    assert result.config is not None
    return result.config


def proxy(config: Config, name: str) -> Proxy:
    found = [p for p in config.proxies if p.name == name]
    assert len(found) == 1, [p.name for p in config.proxies]
    return found[0]


def notices(result: LoadResult) -> list[str]:
    return messages(of_severity(result, Severity.NOTICE))


def only_alert(result: LoadResult) -> Diagnostic:
    found = alerts(result)
    assert len(found) == 1, [d.render(0) for d in result.diagnostics]
    assert result.config is None
    return found[0]


# -- conditional blocks ---------------------------------------------------------------------

NESTED = """\
global
.if 1
    .if 0
        .notice no-1
    .elif 1
        .notice yes-1
    .elif 1
        .notice no-2
    .else
        .notice no-3
    .endif
.elif 1
    .notice no-4
.else
    .notice no-5
.endif
.if 0
    .if 1
        .notice no-6
    .else
        .notice no-7
    .endif
.elif 0
    .notice no-8
.else
    .notice yes-2
    .if 1
        .notice yes-3
    .endif
.endif
"""


def test_nested_conditional_blocks(tmp_path: Path) -> None:
    result = load_text(tmp_path, NESTED + LISTEN)
    ok(result)
    assert notices(result) == ["'yes-1'.", "'yes-2'.", "'yes-3'."]


def test_inactive_branches_are_not_parsed(tmp_path: Path) -> None:
    text = (
        "global\n"
        ".if 0\n"
        "    no-such-keyword here\n"
        "    maxconn not-a-number\n"
        "frontend\n"
        ".elif 0\n"
        "    bind 127.0.0.1:99999\n"
        ".endif\n" + LISTEN
    )
    result = load_text(tmp_path, text)
    ok(result)
    assert list(result.diagnostics) == []


def test_conditions_see_the_environment(tmp_path: Path) -> None:
    text = (
        "global\n"
        ".if defined(FEATURE_X)\n    .notice defined\n.endif\n"
        '.if streq("$MODE",prod)\n    .notice prod\n.else\n    .notice not-prod\n.endif\n' + LISTEN
    )
    result = load_text(tmp_path, text, env={"FEATURE_X": "", "MODE": "prod"})
    assert notices(result) == ["'defined'.", "'prod'."]
    result = load_text(tmp_path, text, env={"MODE": "dev"})
    assert notices(result) == ["'not-prod'."]


def test_else_after_else_is_an_error(tmp_path: Path) -> None:
    text = "global\n.if 1\n.else\n.else\n.endif\n" + LISTEN
    alert = only_alert(load_text(tmp_path, text))
    assert alert.message == "'.else' after '.else' is not permitted."
    assert alert.where is not None and alert.where.line == 4


def test_elif_after_else_is_an_error(tmp_path: Path) -> None:
    alert = only_alert(load_text(tmp_path, "global\n.if 0\n.else\n.elif 1\n.endif\n" + LISTEN))
    assert "'.elif' after '.else'" in alert.message


def test_missing_endif_is_an_error(tmp_path: Path) -> None:
    alert = only_alert(load_text(tmp_path, "global\n.if 1\n    maxconn 10\n"))
    assert "'.endif'" in alert.message
    assert alert.where is not None and alert.where.line == 3


def test_missing_endif_in_one_file_does_not_leak_into_the_next(tmp_path: Path) -> None:
    first = write_cfg(tmp_path, "global\n.if 0\n", "a.cfg")
    second = write_cfg(tmp_path, LISTEN, "b.cfg")
    result = load_configuration([str(first), str(second)], env={})
    alert = only_alert(result)
    assert alert.where is not None and alert.where.file == str(first)


@pytest.mark.parametrize("directive", [".endif", ".else", ".elif 1"])
def test_lone_block_directives_are_errors(tmp_path: Path, directive: str) -> None:
    alert = only_alert(load_text(tmp_path, f"global\n{directive}\n" + LISTEN))
    assert "without a matching '.if'" in alert.message


def test_bad_condition_is_an_error(tmp_path: Path) -> None:
    alert = only_alert(load_text(tmp_path, "global\n.if foo(\n.endif\n" + LISTEN))
    assert "unparsable conditional expression" in alert.message
    assert alert.where is not None and alert.where.line == 2


def test_unknown_directive_is_an_error(tmp_path: Path) -> None:
    alert = only_alert(load_text(tmp_path, "global\n.frobnicate\n" + LISTEN))
    assert "'.frobnicate'" in alert.message


def test_message_directives_have_their_severities(tmp_path: Path) -> None:
    text = "global\n.notice n\n.warning w\n.alert a\n.diag d\n" + LISTEN
    result = load_text(tmp_path, text)
    found = [(d.severity, d.message, d.where.line if d.where else 0) for d in result.diagnostics]
    assert found == [
        (Severity.NOTICE, "'n'.", 2),
        (Severity.WARNING, "'w'.", 3),
        (Severity.ALERT, "'a'.", 4),
    ]
    assert result.config is None  # .alert is fatal
    assert all(d.glue == TIGHT for d in result.diagnostics)


def test_diag_only_in_diagnostic_mode(tmp_path: Path) -> None:
    text = 'global\n.diag "hello diag"\n' + LISTEN
    assert list(load_text(tmp_path, text).diagnostics) == []
    result = load_text(tmp_path, text, cmdline={"diagnostic": True})
    ok(result)
    assert [d.message for d in result.diagnostics] == ["'hello diag'."]
    assert result.diagnostics.items[0].where == Where(str(tmp_path / "test.cfg"), 2)


def test_diag_messages_keep_the_diag_severity(tmp_path: Path) -> None:
    result = load_text(tmp_path, "global\n.diag d\n" + LISTEN, cmdline={"diagnostic": True})
    assert [d.severity for d in result.diagnostics] == [Severity.DIAG]


def test_message_directives_in_inactive_branches_are_silent(tmp_path: Path) -> None:
    text = "global\n.if 0\n.alert a\n.warning w\n.notice n\n.endif\n" + LISTEN
    assert list(load_text(tmp_path, text).diagnostics) == []


def test_message_directive_takes_one_argument(tmp_path: Path) -> None:
    result = load_text(tmp_path, "global\n.notice two words\n" + LISTEN)
    assert alerts(result)


def test_lexer_errors_are_reported_in_inactive_branches(tmp_path: Path) -> None:
    result = load_text(tmp_path, 'global\n.if 0\n    "unterminated\n.endif\n' + LISTEN)
    assert alerts(result)


# -- defaults inheritance -------------------------------------------------------------------

DEFAULTS_HTTP = """\
defaults
    mode http
    timeout connect 3s
    timeout client 4s
    timeout server 5s
    option redispatch
    option forwardfor
    balance leastconn
"""


def test_backend_inherits_from_the_last_defaults(tmp_path: Path) -> None:
    text = DEFAULTS_HTTP + "backend be\n    server s1 127.0.0.1:8081\n"
    config = ok(load_text(tmp_path, text))
    be = proxy(config, "be")
    assert be.mode == "http"
    assert dict(be.timeouts) == {"connect": 3000, "client": 4000, "server": 5000}
    assert be.options["redispatch"] is True
    assert be.options["forwardfor"] is True
    assert be.balance["algorithm"] == "leastconn"
    assert be.parent == ""  # the anonymous defaults section
    assert len(config.defaults) == 1


def test_proxy_settings_override_defaults(tmp_path: Path) -> None:
    text = (
        DEFAULTS_HTTP + "backend be\n"
        "    mode tcp\n"
        "    timeout server 9s\n"
        "    no option redispatch\n"
        "    balance roundrobin\n"
        "    server s1 127.0.0.1:8081\n"
    )
    be = proxy(ok(load_text(tmp_path, text)), "be")
    assert be.mode == "tcp"
    assert be.timeouts["server"] == 9000
    assert be.timeouts["connect"] == 3000
    assert be.options["redispatch"] is False
    assert be.options["forwardfor"] is True
    assert be.balance["algorithm"] == "roundrobin"


def test_proxy_changes_do_not_leak_into_the_defaults_or_siblings(tmp_path: Path) -> None:
    text = (
        DEFAULTS_HTTP
        + "backend one\n    timeout server 1s\n    no option redispatch\n"
        + "backend two\n"
    )
    config = ok(load_text(tmp_path, text))
    assert proxy(config, "two").timeouts["server"] == 5000
    assert proxy(config, "two").options["redispatch"] is True
    assert config.defaults[0].timeouts["server"] == 5000


RESET = DEFAULTS_HTTP + "backend first\ndefaults\n    timeout connect 1s\nbackend second\n"


def test_a_new_defaults_section_applies_to_later_proxies_only(tmp_path: Path) -> None:
    config = ok(load_text(tmp_path, RESET))
    first, second = proxy(config, "first"), proxy(config, "second")
    assert first.mode == "http"
    assert dict(first.timeouts) == {"connect": 3000, "client": 4000, "server": 5000}
    assert second.timeouts["connect"] == 1000
    assert len(config.defaults) == 2


def test_a_new_defaults_section_resets_everything(tmp_path: Path) -> None:
    result = load_text(tmp_path, RESET)
    config = ok(result)
    second = proxy(config, "second")
    assert second.mode == "tcp"  # the built-in default again
    assert dict(second.timeouts) == {"connect": 1000}
    assert "redispatch" not in second.options
    assert "algorithm" not in second.balance
    assert "missing timeouts for backend 'second'" in " ".join(messages(warnings(result)))


def test_named_defaults_and_from(tmp_path: Path) -> None:
    text = (
        "defaults web\n    mode http\n"
        + TIMEOUTS
        + "defaults raw\n    mode tcp\n"
        + TIMEOUTS
        + "backend a from web\n"
        "backend b\n"
        "listen c from raw\n    bind :80\n"
        "frontend d from web\n    bind :81\n    default_backend a\n"
    )
    config = ok(load_text(tmp_path, text))
    assert (proxy(config, "a").mode, proxy(config, "a").parent) == ("http", "web")
    assert (proxy(config, "b").mode, proxy(config, "b").parent) == ("tcp", "raw")  # the last one
    assert (proxy(config, "c").mode, proxy(config, "c").parent) == ("tcp", "raw")
    assert (proxy(config, "d").mode, proxy(config, "d").parent) == ("http", "web")
    assert [d.name for d in config.defaults] == ["web", "raw"]


def test_defaults_from_defaults(tmp_path: Path) -> None:
    text = (
        "defaults base\n    mode http\n"
        + TIMEOUTS
        + "defaults child from base\n    timeout server 1m\nbackend be from child\n"
    )
    be = proxy(ok(load_text(tmp_path, text)), "be")
    assert be.mode == "http"
    assert be.timeouts["server"] == 60_000
    assert be.timeouts["client"] == 10_000


def test_from_an_unknown_defaults_section(tmp_path: Path) -> None:
    alert = only_alert(load_text(tmp_path, "backend be from nope\n    server s 1.2.3.4:80\n"))
    assert "'nope'" in alert.message
    assert alert.where is not None and alert.where.line == 1


def test_from_a_defaults_declared_later_is_an_error(tmp_path: Path) -> None:
    text = "backend be from late\n" + "defaults late\n" + TIMEOUTS
    alert = only_alert(load_text(tmp_path, text))
    assert "'late'" in alert.message


# -- servers and default-server --------------------------------------------------------------


def test_default_server_applies_to_later_servers_and_can_be_overridden(tmp_path: Path) -> None:
    text = (
        "defaults\n" + TIMEOUTS + "backend be\n"
        "    server s0 127.0.0.1:8080\n"
        "    default-server check inter 3s weight 5\n"
        "    server s1 127.0.0.1:8081\n"
        "    server s2 127.0.0.1:8082 weight 7 no-check\n"
        "    server s3 127.0.0.1:8083 inter 1s\n"
    )
    servers = {s.name: s for s in proxy(ok(load_text(tmp_path, text)), "be").servers}
    assert list(servers) == ["s0", "s1", "s2", "s3"]
    assert servers["s0"].option("check") is None  # declared before default-server
    assert servers["s1"].option("check") is True
    assert servers["s1"].option("inter") == 3000
    assert servers["s1"].option("weight") == 5
    assert servers["s2"].option("check") is False
    assert servers["s2"].option("weight") == 7
    assert servers["s3"].option("inter") == 1000
    assert servers["s3"].option("check") is True


def test_default_server_in_defaults_is_inherited(tmp_path: Path) -> None:
    text = (
        "defaults\n    default-server inter 5s check\n"
        + TIMEOUTS
        + "backend be\n    server s 1.2.3.4:80\n"
    )
    server = proxy(ok(load_text(tmp_path, text)), "be").servers[0]
    assert server.option("inter") == 5000
    assert server.option("check") is True


def test_server_addresses_and_line_numbers(tmp_path: Path) -> None:
    text = (
        "defaults\n"
        + TIMEOUTS
        + "backend be\n    server s1 [::1]:80\n    server s2 /run/app.sock\n"
    )
    s1, s2 = proxy(ok(load_text(tmp_path, text)), "be").servers
    assert (s1.address.family, s1.address.port, s1.where.line) == (Family.IPV6, 80, 6)
    assert (s2.address.family, s2.where.line) == (Family.UNIX, 7)


def test_duplicate_server(tmp_path: Path) -> None:
    text = (
        "defaults\n" + TIMEOUTS + "backend be\n    server s 1.2.3.4:80\n    server s 1.2.3.4:81\n"
    )
    alert = only_alert(load_text(tmp_path, text))
    assert "another server named 's' was already defined at line 6" in alert.message
    assert alert.where is not None and alert.where.line == 7


def test_same_server_name_in_two_backends_is_fine(tmp_path: Path) -> None:
    text = (
        "defaults\n"
        + TIMEOUTS
        + "backend a\n    server s 1.2.3.4:80\nbackend b\n    server s 1.2.3.4:80\n"
    )
    ok(load_text(tmp_path, text))


def test_server_weight_out_of_range(tmp_path: Path) -> None:
    text = "defaults\n" + TIMEOUTS + "backend be\n    server s 1.2.3.4:80 weight 999\n"
    alert = only_alert(load_text(tmp_path, text))
    assert "999" in alert.message


# -- global sections, several files, directories, setenv -----------------------------------


def test_several_global_sections_merge(tmp_path: Path) -> None:
    text = "global\n    maxconn 10\n" + LISTEN + "global\n    nbthread 2\n"
    config = ok(load_text(tmp_path, text))
    assert config.global_.maxconn == 10
    assert config.global_.nbthread == 2
    assert config.global_.where is not None and config.global_.where.line == 1


def test_several_files(tmp_path: Path) -> None:
    first = write_cfg(
        tmp_path, "global\n    maxconn 50\ndefaults\n    mode http\n" + TIMEOUTS, "1.cfg"
    )
    second = write_cfg(tmp_path, "backend be\n    server s 1.2.3.4:80\n", "2.cfg")
    third = write_cfg(tmp_path, "frontend fe\n    bind :80\n    default_backend be\n", "3.cfg")
    result = load_configuration([str(first), str(second), str(third)], env={})
    config = ok(result)
    assert result.files == (str(first), str(second), str(third))
    assert config.global_.maxconn == 50
    assert proxy(config, "be").mode == "http"  # defaults carry across files
    assert proxy(config, "fe").where == Where(str(third), 1)
    assert config.environment["HAPROXY_CFGFILES"] == ";".join(result.files)


def test_sections_do_not_continue_across_files(tmp_path: Path) -> None:
    first = write_cfg(tmp_path, "global\n    maxconn 50\n", "1.cfg")
    second = write_cfg(tmp_path, "    maxconn 60\n", "2.cfg")
    alert = only_alert(load_configuration([str(first), str(second)], env={}))
    assert "out of section" in alert.message


def test_directory_loads_visible_cfg_files_in_byte_order(tmp_path: Path) -> None:
    conf = tmp_path / "conf.d"
    conf.mkdir()
    (conf / "b.cfg").write_text("backend b\n")
    (conf / "B.cfg").write_text("backend B_upper\n")
    (conf / "_x.cfg").write_text("backend underscore\n")
    (conf / "a.cfg").write_text("defaults\n" + TIMEOUTS)
    (conf / ".hidden.cfg").write_text("this is not read\n")
    (conf / "notes.txt").write_text("this is not read\n")
    (conf / "old.cfg.bak").write_text("this is not read\n")
    (conf / "sub.cfg").mkdir()  # a directory named like a file is skipped
    result = load_configuration([str(conf)], env={})
    assert [Path(name).name for name in result.files] == ["B.cfg", "_x.cfg", "a.cfg", "b.cfg"]
    config = result.config
    assert config is not None
    assert [p.name for p in config.proxies] == ["B_upper", "underscore", "b"]


def test_empty_directory(tmp_path: Path) -> None:
    result = load_configuration([str(tmp_path)], env={})
    assert result.files == ()
    assert alerts(result) == []


def test_setenv_affects_later_expansion(tmp_path: Path) -> None:
    text = (
        "global\n"
        '    .notice "before=$PORT"\n'
        "    setenv PORT 8080\n"
        "    presetenv HOST ignored\n"
        "    presetenv NEW fresh\n"
        "    setenv GONE x\n"
        "    unsetenv GONE\n"
        '    .notice "after=$PORT $HOST $NEW ${GONE-unset}"\n'
        "listen app\n"
        '    bind "${HOST}:${PORT}"\n' + TIMEOUTS
    )
    result = load_text(tmp_path, text, env={"HOST": "127.0.0.1"})
    config = ok(result)
    assert notices(result) == ["'before='.", "'after=8080 127.0.0.1 fresh unset'."]
    address = proxy(config, "app").binds[0].addresses[0]
    assert (address.host, address.port) == ("127.0.0.1", 8080)
    assert config.environment["PORT"] == "8080"
    assert "GONE" not in config.environment
    assert not any(key.startswith(".") for key in config.environment)


def test_the_callers_environment_is_not_modified(tmp_path: Path) -> None:
    env = {"HOST": "127.0.0.1"}
    load_text(tmp_path, "global\n    setenv HOST x\n    unsetenv HOST\n" + LISTEN, env=env)
    assert env == {"HOST": "127.0.0.1"}


def test_default_environment_is_the_process_environment(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HAPROXY_PY_TEST_VALUE", "from-os")
    path = write_cfg(tmp_path, 'global\n    .notice "$HAPROXY_PY_TEST_VALUE"\n' + LISTEN)
    result = load_configuration([str(path)])
    assert notices(result) == ["'from-os'."]


def test_pseudo_variables(tmp_path: Path) -> None:
    text = 'global\n    .notice "${.FILE}:${.LINE}:${.SECTION}"\n' + LISTEN
    result = load_text(tmp_path, text)
    assert notices(result) == [f"'{tmp_path / 'test.cfg'}:2:global'."]


# -- proxies: names, keywords, capabilities ---------------------------------------------------


def test_duplicate_proxy(tmp_path: Path) -> None:
    text = "defaults\n" + TIMEOUTS + "backend be\n    server s1 1.2.3.4:80\n\nbackend be\n"
    alert = only_alert(load_text(tmp_path, text))
    assert "backend 'be' already declared at line 5" in alert.message
    assert alert.where is not None and alert.where.line == 8


def test_frontend_and_backend_may_share_a_name(tmp_path: Path) -> None:
    text = "defaults\n" + TIMEOUTS + "frontend x\n    bind :80\n    default_backend x\nbackend x\n"
    config = ok(load_text(tmp_path, text))
    assert [p.kind for p in config.proxies] == ["frontend", "backend"]


def test_listen_clashes_with_frontend_and_backend(tmp_path: Path) -> None:
    text = "defaults\n" + TIMEOUTS + LISTEN + "backend app\n"
    assert "already declared" in only_alert(load_text(tmp_path, text)).message


def test_unknown_keyword_with_suggestion(tmp_path: Path) -> None:
    text = (
        "defaults\n" + TIMEOUTS + "frontend fe\n    bind :80\n    default_backnd be\nbackend be\n"
    )
    alert = only_alert(load_text(tmp_path, text))
    assert alert.message == (
        "unknown keyword 'default_backnd' in 'frontend' section;"
        " did you mean 'default_backend' maybe ?"
    )
    assert alert.where is not None and alert.where.line == 7


def test_unknown_keyword_without_suggestion(tmp_path: Path) -> None:
    alert = only_alert(load_text(tmp_path, "global\n    zzzzqqqq 1\n" + LISTEN))
    assert "unknown keyword 'zzzzqqqq' in 'global' section" in alert.message
    assert "did you mean" not in alert.message


def test_keyword_out_of_section(tmp_path: Path) -> None:
    alert = only_alert(load_text(tmp_path, "maxconn 10\n" + LISTEN))
    assert "'maxconn'" in alert.message


@pytest.mark.parametrize("keyword", ["use_backend be", "server s 1.2.3.4:80", "bind :80"])
def test_keyword_not_allowed_in_defaults(tmp_path: Path, keyword: str) -> None:
    alert = only_alert(load_text(tmp_path, f"defaults\n    {keyword}\n" + LISTEN))
    name = keyword.split()[0]
    assert alert.message == f"'{name}' not allowed in 'defaults' section."


def test_backend_keyword_in_a_frontend_is_ignored_with_a_warning(tmp_path: Path) -> None:
    text = "defaults\n" + TIMEOUTS + "frontend fe\n    bind :80\n    balance roundrobin\n"
    result = load_text(tmp_path, text)
    ok(result)
    assert messages(warnings(result)) == [
        "'balance' ignored because frontend 'fe' has no backend capability."
    ]
    assert warnings(result)[0].where == Where(str(tmp_path / "test.cfg"), 7)


def test_server_in_a_frontend_is_an_alert(tmp_path: Path) -> None:
    text = "defaults\n" + TIMEOUTS + "frontend fe\n    bind :80\n    server s 1.2.3.4:80\n"
    alert = only_alert(load_text(tmp_path, text))
    assert alert.message == "'server' not allowed because frontend 'fe' has no backend capability."


def test_every_error_of_a_file_is_reported_in_one_run(tmp_path: Path) -> None:
    text = (
        "defaults\n"
        "    timeout connect 5parsecs\n"  # 2
        "    timeout client 1s\n"
        "    timeout server 1s\n"
        "listen app\n"
        "    bind 127.0.0.1:99999\n"  # 6
        "    balanse roundrobin\n"  # 7
        "    server s1 127.0.0.1:8081\n"
    )
    result = load_text(tmp_path, text)
    found = alerts(result)
    assert [d.where.line for d in found if d.where] == [2, 6, 7]
    assert "'5parsecs'" in found[0].message
    assert "invalid port '99999'" in found[1].message
    assert "'balanse'" in found[2].message
    assert result.config is None


def test_missing_timeouts_warning(tmp_path: Path) -> None:
    result = load_text(tmp_path, "listen app\n    bind :80\n    server s 1.2.3.4:80\n")
    config = ok(result)
    assert config.proxies[0].name == "app"
    text = " ".join(messages(warnings(result)))
    assert "missing timeouts for listen 'app'" in text
    for name in ("client", "connect", "server"):
        assert f"'timeout {name}'" in text


def test_no_missing_timeouts_warning_when_all_are_set(tmp_path: Path) -> None:
    assert warnings(load_text(tmp_path, LISTEN)) == []


def test_frontend_needs_only_the_client_timeout(tmp_path: Path) -> None:
    text = "frontend fe\n    bind :80\n    timeout client 1s\n    default_backend be\n"
    text += "backend be\n    timeout connect 1s\n    timeout server 1s\n"
    assert warnings(load_text(tmp_path, text)) == []


def test_missing_backend_is_reported_at_the_line_that_names_it(tmp_path: Path) -> None:
    text = "defaults\n" + TIMEOUTS + "frontend fe\n    bind :80\n    default_backend nope\n"
    alert = only_alert(load_text(tmp_path, text))
    assert "'nope'" in alert.message
    assert alert.where is not None and alert.where.line == 7


def test_reqrep_gives_haproxys_advice(tmp_path: Path) -> None:
    alert = only_alert(load_text(tmp_path, LISTEN + "    reqrep ^(.*) \\1\n"))
    assert alert.message.startswith(
        "The 'reqrep' directive is not supported anymore since HAProxy 2.1."
    )
    assert "http-request replace-" in alert.message


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("global\n    lua-load /etc/haproxy/x.lua\n" + LISTEN, "lua-load"),
        ("listen app\n    bind :443 ssl crt /x.pem\n" + TIMEOUTS, "ssl"),
        ("defaults\n" + TIMEOUTS + "backend be\n    server s 1.2.3.4:443 ssl\n", "ssl"),
        ("mailers m\n    mailer smtp1 127.0.0.1:25\n" + LISTEN, "mailers"),
    ],
)
def test_out_of_scope_keywords_are_named(tmp_path: Path, text: str, name: str) -> None:
    alert = only_alert(load_text(tmp_path, text))
    assert f"'{name}'" in alert.message
    assert "not supported by haproxy-py" in alert.message


@pytest.mark.parametrize("option", ["httplog", "tcplog", "httpchk", "forwardfor"])
def test_no_option_refused_like_haproxy(tmp_path: Path, option: str) -> None:
    text = f"defaults\n    mode http\n    no option {option}\n" + LISTEN
    alert = only_alert(load_text(tmp_path, text))
    assert f"'{option}'" in alert.message


# -- hostile or broken files: one clear ALERT, never an exception ------------------------------


def test_oversized_file(tmp_path: Path) -> None:
    path = tmp_path / "huge.cfg"
    path.touch()
    os.truncate(path, 33 * 1024 * 1024)  # sparse: the size is checked before reading
    alert = only_alert(load_configuration([str(path)], env={}))
    assert str(path) in alert.message
    assert str(33 * 1024 * 1024) in alert.message
    assert str(MAX_FILE_BYTES) in alert.message


def test_file_of_exactly_the_limit_is_read(tmp_path: Path) -> None:
    path = tmp_path / "limit.cfg"
    path.write_bytes(b"# " + b"x" * 100 + b"\n")
    os.truncate(path, MAX_FILE_BYTES)  # the rest is NUL bytes: refused, but for being binary
    alert = only_alert(load_configuration([str(path)], env={}))
    assert "NUL" in alert.message


def test_very_long_line(tmp_path: Path) -> None:
    path = tmp_path / "long.cfg"
    path.write_bytes(b"global\n    description " + b"x" * (1024 * 1024) + b"\n" + LISTEN.encode())
    alert = only_alert(load_configuration([str(path)], env={}))
    assert alert.where == Where(str(path), 2)
    assert "too long" in alert.message
    assert str(MAX_LINE_BYTES) in alert.message


def test_nul_byte(tmp_path: Path) -> None:
    path = tmp_path / "nul.cfg"
    path.write_bytes(b"global\n    maxconn 1\x002\n")
    alert = only_alert(load_configuration([str(path)], env={}))
    assert alert.where == Where(str(path), 2)
    assert "NUL" in alert.message


def test_binary_file(tmp_path: Path) -> None:
    path = tmp_path / "true.cfg"
    path.write_bytes(Path("/bin/true").read_bytes() if Path("/bin/true").exists() else b"\x7fELF\0")
    alert = only_alert(load_configuration([str(path)], env={}))
    assert "not a text configuration file" in alert.message


def test_missing_final_line_feed(tmp_path: Path) -> None:
    path = tmp_path / "nolf.cfg"
    path.write_bytes(LISTEN.encode() + b"    maxconn 10")
    alert = only_alert(load_configuration([str(path)], env={}))
    assert alert.message.startswith("Missing LF on last line, file might have been truncated")
    assert alert.where == Where(str(path), LISTEN.count("\n") + 1)


def test_empty_file_is_fine(tmp_path: Path) -> None:
    path = tmp_path / "empty.cfg"
    path.write_bytes(b"")
    result = load_configuration([str(path)], env={})
    assert list(result.diagnostics) == []
    assert result.config is not None
    assert not result.config.has_listeners()


def test_invalid_utf8_survives(tmp_path: Path) -> None:
    path = tmp_path / "latin1.cfg"
    path.write_bytes(b"global\n    description caf\xe9\n" + LISTEN.encode())
    config = ok(load_configuration([str(path)], env={}))
    assert config.proxies[0].name == "app"


def test_crlf_line_endings(tmp_path: Path) -> None:
    path = tmp_path / "crlf.cfg"
    path.write_bytes(LISTEN.replace("\n", "\r\n").encode())
    config = ok(load_configuration([str(path)], env={}))
    assert config.proxies[0].timeouts["client"] == 10_000


def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.cfg"
    alert = only_alert(load_configuration([str(missing)], env={}))
    assert alert.message.startswith(f"Cannot open configuration file/directory {missing} : ")
    assert "No such file or directory" in alert.message
    assert alert.where is None


def test_unmatched_quote_is_reported_with_a_caret(tmp_path: Path) -> None:
    text = 'global\n    description "oops\n' + LISTEN
    alert = only_alert(load_text(tmp_path, text))
    assert alert.glue == TIGHT
    first, shown, caret = alert.message.split("\n")
    assert first == "unmatched quote at position 17:"
    assert shown == '  description "oops'
    assert caret.index("^") == shown.index('"')


# -- rendering ---------------------------------------------------------------------------------


def test_render_shape() -> None:
    where = Where("haproxy.cfg", 12)
    assert Diagnostic(Severity.ALERT, "boom", where).render(42) == (
        "[ALERT]    (42) : config : parsing [haproxy.cfg:12] : boom"
    )
    assert Diagnostic(Severity.WARNING, "hmm", where).render(7) == (
        "[WARNING]  (7) : config : parsing [haproxy.cfg:12] : hmm"
    )
    assert Diagnostic(Severity.NOTICE, "'n'.", where, TIGHT).render(1) == (
        "[NOTICE]   (1) : config : parsing [haproxy.cfg:12]: 'n'."
    )
    assert Diagnostic(Severity.ALERT, "no place").render(3) == "[ALERT]    (3) : config : no place"
    assert Diagnostic(Severity.DIAG, "d").render(3).startswith("[DIAG]     (3) : ")
    for severity in Severity:
        rendered = Diagnostic(severity, "x").render(9)
        assert rendered[10:14] == " (9)"
        assert rendered[:10].rstrip() == f"[{severity.name}]"


def test_rendered_loader_diagnostics(tmp_path: Path) -> None:
    result = load_text(tmp_path, "defaults\n    timeout connect 5parsecs\n" + LISTEN)
    (alert,) = alerts(result)
    rendered = alert.render(1234)
    pattern = r"^\[ALERT\] {4}\(1234\) : config : parsing \[" + re.escape(
        str(tmp_path / "test.cfg")
    )
    assert re.match(pattern + r":2\] : bad time value '5parsecs'", rendered), rendered
    assert alert.glue == SPACED


def test_where_helpers() -> None:
    here = Where("a.cfg", 10)
    assert str(here) == "a.cfg:10"
    assert Where("a.cfg", 3).relative_to(here) == "line 3"
    assert Where("b.cfg", 3).relative_to(here) == "b.cfg:3"


def test_diagnostics_counts() -> None:
    diagnostics = Diagnostics()
    diagnostics.alert("a", Where("x.cfg", 1))
    diagnostics.alert("b", Where("y.cfg", 1))
    diagnostics.alert("c", Where("x.cfg", 2))
    diagnostics.alert("d")
    diagnostics.warning("w")
    diagnostics.notice("n")
    assert (diagnostics.alerts, diagnostics.warnings, len(diagnostics)) == (4, 1, 6)
    assert diagnostics.files_with_alerts() == ["x.cfg", "y.cfg"]


def test_model_is_frozen(tmp_path: Path) -> None:
    config = ok(load_text(tmp_path, DEFAULTS_HTTP + LISTEN))
    app = proxy(config, "app")
    with pytest.raises(AttributeError):
        app.mode = "tcp"  # type: ignore[misc]
    with pytest.raises(TypeError):
        app.timeouts["client"] = 1  # type: ignore[index]
    assert isinstance(config.proxies, tuple)
    assert config.has_listeners()
    assert config.backend("app") is app
    assert config.frontends() == (app,) and config.backends() == (app,)


@pytest.mark.parametrize(
    ("first", "second", "field", "value"),
    [
        ("maxconn 10", "maxconn 20", "maxconn", 10),
        ("chroot /a", "chroot /b", "chroot", "/a"),
        ("pidfile /a", "pidfile /b", "pidfile", "/a"),
        ("ulimit-n 100", "ulimit-n 200", "ulimit_n", 100),
        ("uid 1", "user root", "uid", 1),
    ],
)
def test_repeated_process_settings_keep_the_first_value(
    tmp_path: Path, first: str, second: str, field: str, value: object
) -> None:
    # HAProxy 2.6 keeps the first value and says "already specified. Continuing."
    result = load_text(tmp_path, f"global\n    {first}\n    {second}\n" + LISTEN)
    config = ok(result)
    assert getattr(config.global_, field) == value
    (warning,) = warnings(result)
    assert "already specified at line 2" in warning.message
    assert warning.where is not None and warning.where.line == 3
