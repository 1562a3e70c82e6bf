"""A worker reaped just before the master's re-exec (its channel still being read): the
new image must not open a pidfd on its pid (ProcessLookupError killed the master), and
must report its end as the old image would have."""

from __future__ import annotations

import io
import os
import socket
from pathlib import Path

import pytest
import trio

from haproxy_py.report import Reporter
from master.notify import Notifier
from master.reexec import adopt_carried, carry_master
from master.supervisor import Master, MasterSettings
from master.workers import adopt_worker
from tests.helpers import load_text


def _reaped_child() -> int:
    pid = os.posix_spawn("/bin/true", ["true"], os.environ)
    os.waitpid(pid, 0)
    return pid


def test_a_reaped_pid_has_no_pidfd_to_open() -> None:
    pid = _reaped_child()
    ours, theirs = socket.socketpair()
    theirs.close()
    with pytest.raises(ProcessLookupError):
        adopt_worker(pid, ours, generation=1, relative=1)
    assert ours.fileno() == -1  # closed, not leaked


def test_a_reaped_worker_is_carried_and_reported_by_the_new_image(tmp_path: Path) -> None:
    config = load_text(tmp_path, "global\n    nbthread 1\n").config
    assert config is not None
    out = io.StringIO()
    master = Master(
        config,
        [],
        MasterSettings(load_config=lambda: None, worker_settings={}),
        Reporter(stream=out, preamble=False),
        Notifier(False),
    )
    ours, theirs = socket.socketpair()
    theirs.close()
    pid = _reaped_child()
    reaped = adopt_worker(pid, ours, generation=1, relative=1, exit_code=0)
    assert reaped.pidfd == -1 and reaped.exited.is_set()
    reaped.old = True
    reaped.kill(15)  # a reaped worker is never signalled: its pid may be another's
    master.workers.append(reaped)

    state = carry_master(master, ())
    assert [w.exit_code for w in state.workers] == [0]
    (adopted,) = adopt_carried(state)["workers"]
    assert adopted.exit_code == 0 and adopted.pidfd == -1

    async def resume_workers() -> None:
        async with trio.open_nursery() as nursery:
            master.nursery = nursery
            master.workers = [adopted]
            master.watch_carried_workers()

    trio.run(resume_workers)
    assert master.workers == []
    assert adopted.channel.fileno() == -1  # its channel closed, not leaked
    assert f"Former worker ({pid}) exited with code 0 (Exit)" in out.getvalue()
