"""Worker isolation: a child process chroots and drops to nobody/nogroup; /proc proves it.

The isolation runs in a fresh `python -c` child (never os.fork() in the test process) that
reports, then waits on stdin, so the test reads /proc/CHILD while it is alive.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from haproxy_py.config.model import Global
from haproxy_py.process.privileges import (
    Isolation,
    PrivilegeError,
    isolate,
    isolation_from_global,
    isolation_problems,
    plan_isolation,
    read_proc_status,
    resolve_group,
    resolve_user,
)
from tests.helpers import REPO

needs_root = pytest.mark.skipif(
    os.geteuid() != 0, reason="chroot and setuid need root (run the suite as root to test them)"
)

CHILD = """
import sys
from haproxy_py.process.privileges import Isolation, PrivilegeError, isolate
{before}
try:
    isolate(Isolation({plan}))
except PrivilegeError as error:
    print("ERROR", error, flush=True)
    sys.exit(1)
print("ISOLATED", flush=True)
sys.stdin.readline()
"""


@contextmanager
def isolated_child(plan: str, before: str = "") -> Iterator[tuple[subprocess.Popen, str]]:
    """A child that applied Isolation(<plan>); yields it and its first output line."""
    code = textwrap.dedent(CHILD).format(plan=plan, before=before)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen(
        [sys.executable, "-c", code],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env=env,
    )
    try:
        assert child.stdout is not None
        yield child, child.stdout.readline().strip()
    finally:
        if child.stdin:
            child.stdin.close()
        child.wait(10)


@needs_root
def test_chroot_and_drop_to_nobody(tmp_path: Path) -> None:
    jail = tmp_path / "jail"
    jail.mkdir()
    nobody, nogroup = resolve_user("nobody"), resolve_group("nogroup")
    plan = f"chroot={str(jail)!r}, uid={nobody}, gid={nogroup}"
    with isolated_child(plan) as (child, line):
        assert line == "ISOLATED"
        status = read_proc_status(child.pid)
        assert status.uids == (nobody,) * 4
        assert status.gids == (nogroup,) * 4
        assert status.groups == ()
        assert status.no_new_privs == 1
        assert status.cap_eff == 0
        assert os.readlink(f"/proc/{child.pid}/root") == str(jail)
        assert os.readlink(f"/proc/{child.pid}/cwd") == str(jail)
        expected = Isolation(chroot=str(jail), uid=nobody, gid=nogroup)
        assert isolation_problems(child.pid, expected) == []
    assert child.returncode == 0


@needs_root
def test_insecure_setuid_wanted_keeps_new_privileges_possible() -> None:
    plan = plan_isolation(user="nobody", group="nogroup", insecure_setuid_wanted=True)
    with isolated_child(f"uid={plan.uid}, gid={plan.gid}, no_new_privs=False") as (child, line):
        assert line == "ISOLATED"
        status = read_proc_status(child.pid)
        assert status.no_new_privs == 0
        assert set(status.uids) == {plan.uid}
        assert isolation_problems(child.pid, plan) == []


def test_no_new_privs_even_without_user_or_chroot() -> None:
    # As HAProxy's worker does by default; needs no privilege at all.
    with isolated_child("") as (child, line):
        assert line == "ISOLATED"
        status = read_proc_status(child.pid)
        assert status.no_new_privs == 1
        assert status.uids == read_proc_status(os.getpid()).uids
        assert isolation_problems(child.pid, Isolation()) == []


def test_problems_are_reported_for_a_process_that_is_not_isolated() -> None:
    plan = Isolation(chroot="/nonexistent", uid=12345, gid=12345)
    problems = isolation_problems(os.getpid(), plan)
    assert len(problems) >= 3
    assert any(problem.startswith("Uid is") for problem in problems)


def test_chroot_failure_in_haproxys_words() -> None:
    with pytest.raises(PrivilegeError) as info:
        isolate(Isolation(chroot="/nonexistent/jail"))
    assert str(info.value) == "[haproxy.main()] Cannot chroot(/nonexistent/jail)."
    assert info.value.step == "chroot"
    assert info.value.detail.endswith(f"({info.value.os_error.strerror})")
    with pytest.raises(PrivilegeError, match=r"^\[haproxy-py\.main\(\)\] Cannot chroot"):
        isolate(Isolation(chroot="/nonexistent/jail"), program="haproxy-py")


@needs_root
def test_setgid_and_setuid_failures_in_haproxys_words() -> None:
    # Already nobody, without groups: asking for gid 1 / uid 1 fails as it does for HAProxy.
    drop = "import os\nos.setgroups([])\nos.setgid(65534)\nos.setuid(65534)"
    with isolated_child("gid=1", before=drop) as (child, line):
        assert line == "ERROR [haproxy.main()] Cannot set gid 1."
    assert child.returncode == 1
    with isolated_child("uid=1", before=drop) as (child, line):
        assert line == "ERROR [haproxy.main()] Cannot set uid 1."


def test_name_resolution() -> None:
    assert resolve_user("root") == 0
    assert resolve_group("root") == 0
    with pytest.raises(PrivilegeError, match="cannot find user id for 'no-such-user-x'"):
        resolve_user("no-such-user-x")
    with pytest.raises(PrivilegeError, match="cannot find group id for 'no-such-group-x'"):
        resolve_group("no-such-group-x")
    plan = plan_isolation(chroot="/j", user="root", gid=7)
    assert plan == Isolation(chroot="/j", uid=0, gid=7, no_new_privs=True)


def test_isolation_from_the_global_section() -> None:
    settings = Global(chroot="/var/empty", uid=65534, gid=65534)
    assert isolation_from_global(settings) == Isolation("/var/empty", 65534, 65534, True)
    insecure = Global(settings={"insecure-setuid-wanted": True})
    assert isolation_from_global(insecure) == Isolation(no_new_privs=False)


def test_read_proc_status_of_this_process() -> None:
    status = read_proc_status(os.getpid())
    assert status.uids[1] == os.geteuid()
    assert status.gids[1] == os.getegid()
    assert set(status.groups) == set(os.getgroups())
