"""`program` sections: the external commands the master starts, keeps and stops.

HAProxy 2.6 (master-worker only) starts each program's `command` before the workers, as the
section's `user`/`group` when given; on a reload the old programs get SIGUSR1 and are started
again, except those with `no option start-on-reload`, which keep running (haproxy-py carries
them across its re-exec, master/reexec.py); TERM/INT/USR1 to the master reach them as they
reach the workers. HAProxy's lines: "New program 'NAME' (PID) forked", "Current program 'NAME'
(PID) exited with code N (...)", "Former program ...".
Rules as for workers (master/workers.py): one os.posix_spawn, no Python in the child, waited
for on a pidfd and reaped with waitpid. Dropping to `user`/`group` cannot be done by
posix_spawn, so such a program goes through a tiny isolated interpreter (-I -S, standard
library only) that sets the groups, gid and uid and then executes the command.
"""

from __future__ import annotations

import contextlib
import errno
import grp
import os
import pwd
import shutil
import signal
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import trio

from haproxy_py.config.model import Config, Section

# The signals a program starts with at their default action: the master ignores SIGPIPE
# and blocks its own signals around a re-exec; a program must not inherit either.
_RESET = frozenset(
    {signal.SIGPIPE, signal.SIGUSR1, signal.SIGUSR2, signal.SIGHUP, signal.SIGTERM,
     signal.SIGINT, signal.SIGTTOU, signal.SIGTTIN, signal.SIGCHLD}
)  # fmt: skip

# argv: -c CODE UID GID PATH COMMAND... (UID/GID "-" when not changed). PATH is resolved by
# the master: once the ids have changed, the interpreter may no longer read its own library
# (under root's home, say), so nothing is imported after the switch.
_RUN_AS = (
    "import os,sys\n"
    "u,g=sys.argv[1],sys.argv[2]\n"
    "try:\n"
    " if g!='-':os.setgroups([]);os.setgid(int(g))\n"
    " if u!='-':os.setuid(int(u))\n"
    " os.execv(sys.argv[3],sys.argv[4:])\n"
    "except OSError as e:\n"
    " sys.stderr.write(f'[ALERT] cannot start program {sys.argv[3]!r}: {e.strerror}\\n')\n"
    " sys.exit(1)\n"
)


@dataclass(frozen=True)
class ProgramSpec:
    name: str
    argv: tuple[str, ...]
    user: str | None = None
    group: str | None = None
    start_on_reload: bool = True


def program_specs(config: Config) -> list[ProgramSpec]:
    """The configuration's programs, in file order (sections without a command excluded:
    program_problems() refuses them)."""
    specs = []
    for section in config.sections.get("program", {}).values():
        argv = _command(section)
        if argv:
            settings = section.settings
            specs.append(
                ProgramSpec(
                    section.name,
                    argv,
                    settings.get("user"),
                    settings.get("group"),
                    bool(settings.get("start-on-reload", True)),
                )
            )
    return specs


def _command(section: Section) -> tuple[str, ...]:
    commands = [entry.argv for entry in section.entries if hasattr(entry, "argv")]
    return tuple(commands[-1]) if commands else ()


def program_problems(config: Config, master_worker: bool) -> list[str]:
    """HAProxy's refusals, as alert lines (empty: fine)."""
    sections = config.sections.get("program", {})
    if not sections:
        return []
    if not master_worker:
        return ["config : Can't use a 'program' section without master worker mode."]
    return [
        f"config : The program section '{name}' lacks a command to launch."
        for name, section in sections.items()
        if not _command(section)
    ]


@dataclass(eq=False)
class ProgramProcess:
    """A running program as the master sees it."""

    spec: ProgramSpec
    pid: int
    pidfd: int
    started_at: float
    reloads: int = 0
    old: bool = False  # stopped by a reload, leaving
    exited: trio.Event = field(default_factory=trio.Event)
    exit_code: int | None = None

    def kill(self, signum: int) -> None:
        if self.exit_code is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signum)


def _ids(spec: ProgramSpec) -> tuple[str, str]:
    uid = gid = "-"
    if spec.user is not None:
        entry = pwd.getpwnam(spec.user)
        uid = str(entry.pw_uid)
        if spec.group is None:
            gid = str(entry.pw_gid)
    if spec.group is not None:
        gid = str(grp.getgrnam(spec.group).gr_gid)
    return uid, gid


def spawn_program(spec: ProgramSpec, environment: Mapping[str, str]) -> ProgramProcess:
    """Start one program; OSError/KeyError when it cannot be (the caller reports it)."""
    uid, gid = _ids(spec)
    env = dict(environment)
    actions = [(os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0)]
    if uid == "-" and gid == "-":
        pid = os.posix_spawnp(
            spec.argv[0], list(spec.argv), env,
            file_actions=actions, setsigmask=(), setsigdef=_RESET,
        )  # fmt: skip
    else:
        path = shutil.which(spec.argv[0], path=env.get("PATH", os.defpath))
        if path is None:
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), spec.argv[0])
        argv = [sys.executable, "-I", "-S", "-c", _RUN_AS, uid, gid, path, *spec.argv]
        pid = os.posix_spawn(
            sys.executable, argv, env,
            file_actions=actions, setsigmask=(), setsigdef=_RESET,
        )  # fmt: skip
    return adopt_program(spec, pid)


def adopt_program(spec: ProgramSpec, pid: int, started_at: float | None = None) -> ProgramProcess:
    """A program record for child `pid` (just spawned, or carried across a re-exec)."""
    pidfd = os.pidfd_open(pid)
    return ProgramProcess(spec, pid, pidfd, time.time() if started_at is None else started_at)


async def wait_for_program(program: ProgramProcess) -> int:
    """Wait until the program ends and reap it; HAProxy's form of the code (128 + signal)."""
    try:
        await trio.lowlevel.wait_readable(program.pidfd)
        _, status = os.waitpid(program.pid, 0)
    finally:
        os.close(program.pidfd)
    code = os.waitstatus_to_exitcode(status)
    code = 128 - code if code < 0 else code
    program.exit_code = code
    program.exited.set()
    return code


def plan_reload(
    running: list[ProgramProcess], wanted: list[ProgramSpec]
) -> tuple[list[ProgramProcess], list[ProgramProcess], list[ProgramSpec]]:
    """(programs kept as they are, programs to stop, programs to start) for a reload.

    A running program is kept only when the new configuration still has it, unchanged, with
    `no option start-on-reload`; every other current program is stopped (SIGUSR1) and the
    new configuration's programs not kept are started."""
    current = {program.spec.name: program for program in running if not program.old}
    kept: list[ProgramProcess] = []
    start: list[ProgramSpec] = []
    for spec in wanted:
        program = current.get(spec.name)
        if program is not None and not spec.start_on_reload and program.spec == spec:
            kept.append(program)
            del current[spec.name]
        else:
            start.append(spec)
    return kept, list(current.values()), start
