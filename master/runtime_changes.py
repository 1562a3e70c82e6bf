"""Runtime-API changes every worker of a generation makes: the master orders and keeps them.

A worker checks a change that lives in each worker (`add map`, `set maxconn frontend`,
`disable frontend`... worker/cli_write.py) and sends it as a RuntimeChange. The master
appends it to its generation's list and hands it as RuntimeApply to every worker of that
generation that is serving (the asker included), then confirms with AdminDone. A worker of
that generation started later (a respawn under `no-exit-on-failure`) gets the whole list
before it counts as serving (`replay`), so all workers hold the same maps. A reload starts
a new generation from the files, as HAProxy does; the lists are not carried across the
master's re-exec (only a new generation follows one).
`add server`/`del server` are written here first, into the generation's stats table (the
master is the one writer of its dynamic area: haproxy_py/runtime_api/dynamic_master.py);
a refusal (name taken meanwhile, no spare row, not in maintenance, sessions left) goes back
to the asker and round to nobody.
Rules: one list per generation, in the order changes arrived; bounded (MAX_CHANGES).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable

import trio

from haproxy_py.process.shm import StatsTable
from haproxy_py.proto.ipc import AdminDone, RuntimeApply, RuntimeChange
from haproxy_py.runtime_api.check_commands import is_transient
from haproxy_py.runtime_api.dynamic_master import master_add, master_del
from haproxy_py.runtime_api.dynamic_servers import is_dynamic_command
from master.workers import WorkerProcess

MAX_CHANGES = 100_000  # per generation: a reload (maps read again from files) starts afresh
TOO_MANY = (
    f"More than {MAX_CHANGES} runtime changes since the last reload: reload to go on"
    " (update the map files first)."
)


class RuntimeChanges:
    def __init__(self) -> None:
        self.lists: dict[int, list[str]] = {}  # generation -> its changes, in order
        self.added = 0  # `add server`s written: orders a backend's dynamic servers

    async def broadcast(
        self,
        asker: WorkerProcess,
        change: RuntimeChange,
        workers: Iterable[WorkerProcess],
        table: StatsTable | None = None,
    ) -> None:
        """Hand `change` to the asker's generation, then confirm to the asker. `table`: the
        generation's stats table (`add|del server` are written there first)."""
        changes = self.lists.setdefault(asker.generation, [])
        error = ""
        if len(changes) >= MAX_CHANGES:
            error = TOO_MANY
        elif is_dynamic_command(change.command.split()):
            error = self.write_dynamic(table, change.command)
        if not error:
            if not is_transient(change.command.split()):  # a forced check state: once
                changes.append(change.command)
            apply = RuntimeApply(command=change.command)
            for worker in list(workers):
                if worker.generation == asker.generation and worker.ready.is_set():
                    await _send(worker, apply)
        await _send(asker, AdminDone(seq=change.seq, error=error))

    def write_dynamic(self, table: StatsTable | None, command: str) -> str:
        """The master's part of `add|del server`: "" once written, else the answer."""
        if table is None:
            return "No stats table for this worker's generation."
        words = command.split()
        if words[0] == "del":
            return master_del(table, words)
        self.added += 1
        return master_add(table, words, self.added)

    async def replay(self, worker: WorkerProcess) -> None:
        """Before `worker` counts as serving: every change its generation has had. Changes
        arriving meanwhile are appended and sent here too (the loop ends with no await
        between the last send and the caller marking the worker ready)."""
        changes = self.lists.get(worker.generation, [])
        sent = 0
        while sent < len(changes):
            await _send(worker, RuntimeApply(command=changes[sent]))
            sent += 1

    def forget(self, generations: Iterable[int]) -> None:
        """Drop the lists of generations no worker is left in."""
        keep = set(generations)
        for generation in [g for g in self.lists if g not in keep]:
            del self.lists[generation]


async def _send(worker: WorkerProcess, message: RuntimeApply | AdminDone) -> None:
    with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
        await worker.channel.send(message)
