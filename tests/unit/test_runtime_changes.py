"""master/runtime_changes.py: one order for every worker of a generation, the asker
confirmed after its own copy, a later worker replayed the whole list, old generations and
the bound kept apart."""

from __future__ import annotations

from dataclasses import dataclass, field

import trio

from haproxy_py.proto.ipc import AdminDone, Message, RuntimeApply, RuntimeChange
from master.runtime_changes import MAX_CHANGES, TOO_MANY, RuntimeChanges


@dataclass
class FakeChannel:
    sent: list[Message] = field(default_factory=list)

    async def send(self, message: Message) -> bool:
        await trio.lowlevel.checkpoint()  # a real send may let other tasks run
        self.sent.append(message)
        return True


@dataclass
class FakeWorker:
    generation: int
    channel: FakeChannel = field(default_factory=FakeChannel)
    ready: trio.Event = field(default_factory=trio.Event)


def worker(generation: int, ready: bool = True) -> FakeWorker:
    made = FakeWorker(generation)
    if ready:
        made.ready.set()
    return made


def commands(w: FakeWorker) -> list[str]:
    return [m.command for m in w.channel.sent if isinstance(m, RuntimeApply)]


async def test_every_ready_worker_of_the_generation_gets_it_then_the_asker_is_told() -> None:
    changes = RuntimeChanges()
    one, two, old, starting = worker(2), worker(2), worker(1), worker(2, ready=False)
    workers = [one, two, old, starting]
    await changes.broadcast(one, RuntimeChange(seq=7, command="add map #1 a b"), workers)  # type: ignore[arg-type]
    await changes.broadcast(two, RuntimeChange(seq=1, command="del map #1 a"), workers)  # type: ignore[arg-type]
    assert commands(one) == commands(two) == ["add map #1 a b", "del map #1 a"]
    assert one.channel.sent[1] == AdminDone(seq=7, error="")
    assert two.channel.sent[-1] == AdminDone(seq=1, error="")
    assert commands(old) == [] and commands(starting) == []
    # The worker that was starting gets the list before it counts as ready.
    await changes.replay(starting)  # type: ignore[arg-type]
    assert commands(starting) == ["add map #1 a b", "del map #1 a"]


async def test_changes_arriving_during_a_replay_are_sent_in_order() -> None:
    changes = RuntimeChanges()
    asker, late = worker(3), worker(3, ready=False)
    workers = [asker, late]
    for n in range(3):
        await changes.broadcast(asker, RuntimeChange(seq=n, command=f"c{n}"), workers)  # type: ignore[arg-type]
    async with trio.open_nursery() as nursery:
        nursery.start_soon(changes.replay, late)
        nursery.start_soon(changes.broadcast, asker, RuntimeChange(seq=9, command="c9"), workers)
    assert commands(late) == ["c0", "c1", "c2", "c9"]


async def test_the_list_is_bounded_and_forgotten_with_its_generation() -> None:
    changes = RuntimeChanges()
    asker = worker(4)
    changes.lists[4] = ["x"] * MAX_CHANGES
    await changes.broadcast(asker, RuntimeChange(seq=5, command="one more"), [asker])  # type: ignore[arg-type]
    assert asker.channel.sent == [AdminDone(seq=5, error=TOO_MANY)]
    changes.lists[5] = ["y"]
    changes.forget([5])
    assert list(changes.lists) == [5]
