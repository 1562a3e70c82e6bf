"""Isolating a worker: chroot, supplementary groups, gid, uid, no-new-privs.

Owns the system calls a worker makes once it has loaded everything it will ever read, and
the /proc readers that prove the result. The master never calls `isolate()`: it stays root,
unchrooted, to bind and reload.

Rules:
- names are resolved to ids before anything changes (`resolve_user`/`resolve_group`, or the
  configuration, which already did): after chroot there is no /etc/passwd to read;
- the order is fixed: chroot and chdir("/") (while still root), then setgroups([]) (while
  CAP_SETGID is still held), setgid, setuid (last, as it drops the right to do the others),
  then PR_SET_NO_NEW_PRIVS (allowed unprivileged, kept across execve), unless
  `insecure-setuid-wanted` turned it off;
- a failed step raises PrivilegeError at once, worded as HAProxy 2.6 prints it where it has
  words (`[haproxy.main()] Cannot chroot(/x).`, `Cannot set gid N.`, `Cannot set uid N.`),
  with the OS error kept beside; the caller reports it and exits, it never serves half
  isolated.
"""

from __future__ import annotations

import grp
import os
import pwd
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import prctl

from haproxy_py.config.model import Global


class PrivilegeError(Exception):
    """A step of the isolation failed. str() is HAProxy's wording; `os_error` says why."""

    def __init__(self, message: str, step: str, os_error: OSError | None = None) -> None:
        super().__init__(message)
        self.step = step  # "user", "group", "chroot", "setgroups", "setgid", "setuid", ...
        self.os_error = os_error

    @property
    def detail(self) -> str:
        """The message with the system's reason, for logs that can afford it."""
        if self.os_error is None or not self.os_error.strerror:
            return str(self)
        return f"{self} ({self.os_error.strerror})"


@dataclass(frozen=True)
class Isolation:
    """What a worker becomes. None leaves that part as it is."""

    chroot: str | None = None
    uid: int | None = None
    gid: int | None = None
    no_new_privs: bool = True  # False only with `insecure-setuid-wanted`


def resolve_user(name: str) -> int:
    try:
        return pwd.getpwnam(name).pw_uid
    except KeyError:
        raise PrivilegeError(f"cannot find user id for '{name}'", "user") from None


def resolve_group(name: str) -> int:
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        raise PrivilegeError(f"cannot find group id for '{name}'", "group") from None


def plan_isolation(
    *,
    chroot: str | None = None,
    user: str | None = None,
    group: str | None = None,
    uid: int | None = None,
    gid: int | None = None,
    insecure_setuid_wanted: bool = False,
) -> Isolation:
    """An Isolation from names or ids (a name wins over an id), resolved now."""
    return Isolation(
        chroot=chroot,
        uid=resolve_user(user) if user is not None else uid,
        gid=resolve_group(group) if group is not None else gid,
        no_new_privs=not insecure_setuid_wanted,
    )


def isolation_from_global(settings: Global) -> Isolation:
    """The global section's `chroot`, `uid`/`user`, `gid`/`group`, `insecure-setuid-wanted`
    (the configuration resolved the names when it was read)."""
    return Isolation(
        chroot=settings.chroot,
        uid=settings.uid,
        gid=settings.gid,
        no_new_privs=not settings.setting("insecure-setuid-wanted", False),
    )


def isolate(plan: Isolation, *, program: str = "haproxy") -> None:
    """Apply `plan` to this process, in the order the module docstring gives.

    `program` names the process in messages the way HAProxy names argv[0]:
    `[haproxy.main()] Cannot chroot(/x).`
    """
    where = f"[{program}.main()]"
    if plan.chroot is not None:
        with _step("chroot", f"{where} Cannot chroot({plan.chroot})."):
            os.chroot(plan.chroot)
            os.chdir("/")
    # Without this, a process that setuid()s away from root keeps root's groups.
    if (plan.uid is not None or plan.gid is not None) and os.getgroups():
        with _step("setgroups", f"{where} Cannot drop supplementary groups."):
            os.setgroups([])
    if plan.gid is not None:
        with _step("setgid", f"{where} Cannot set gid {plan.gid}."):
            os.setgid(plan.gid)
            _all_equal(os.getresgid(), plan.gid)
    if plan.uid is not None:
        with _step("setuid", f"{where} Cannot set uid {plan.uid}."):
            os.setuid(plan.uid)
            _all_equal(os.getresuid(), plan.uid)
    if plan.no_new_privs:
        message = (
            f"{where} Cannot set no_new_privs (PR_SET_NO_NEW_PRIVS); "
            "'insecure-setuid-wanted' would run without it."
        )
        with _step("no_new_privs", message):
            prctl.set_no_new_privs(1)


@contextmanager
def _step(step: str, message: str) -> Iterator[None]:
    try:
        yield
    except OSError as error:
        raise PrivilegeError(message, step, error) from None


def _all_equal(ids: tuple[int, int, int], wanted: int) -> None:
    """Real, effective and saved ids all changed, or the old one could be taken back."""
    if set(ids) != {wanted}:
        raise OSError(0, f"ids are {ids} after the change")


# -- what /proc says (tests, `show proc`-style checks) --------------------------------------


@dataclass(frozen=True)
class ProcStatus:
    uids: tuple[int, ...]  # real, effective, saved, filesystem
    gids: tuple[int, ...]
    groups: tuple[int, ...]
    no_new_privs: int
    cap_eff: int


def read_proc_status(pid: int) -> ProcStatus:
    """The identity fields of /proc/PID/status."""
    fields: dict[str, str] = {}
    with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as status:
        for line in status:
            name, _, value = line.partition(":")
            fields[name] = value.strip()
    return ProcStatus(
        uids=tuple(int(part) for part in fields["Uid"].split()),
        gids=tuple(int(part) for part in fields["Gid"].split()),
        groups=tuple(int(part) for part in fields.get("Groups", "").split()),
        no_new_privs=int(fields.get("NoNewPrivs", "0")),
        cap_eff=int(fields.get("CapEff", "0"), 16),
    )


def isolation_problems(pid: int, plan: Isolation) -> list[str]:
    """How process `pid` differs from `plan` (empty when it is isolated as planned)."""
    status = read_proc_status(pid)
    problems = []
    if plan.uid is not None and set(status.uids) != {plan.uid}:
        problems.append(f"Uid is {status.uids}, expected {plan.uid} everywhere")
    if plan.gid is not None and set(status.gids) != {plan.gid}:
        problems.append(f"Gid is {status.gids}, expected {plan.gid} everywhere")
    if (plan.uid is not None or plan.gid is not None) and status.groups:
        problems.append(f"Groups is {status.groups}, expected none")
    if status.no_new_privs != int(plan.no_new_privs):
        problems.append(f"NoNewPrivs is {status.no_new_privs}, expected {int(plan.no_new_privs)}")
    if plan.chroot is not None:
        root = os.readlink(f"/proc/{pid}/root")
        if root != os.path.realpath(plan.chroot):
            problems.append(f"root is {root}, expected {os.path.realpath(plan.chroot)}")
    return problems
