"""A smooth weighted scheduler with changing weights, O(log N) per pick.

Each member is served at a rate proportional to its weight, spread as evenly as possible
(weights 5, 1, 1 give "a b a a c a a"). The rule is worst-case fair weighted fair queueing
(WF2Q): a member's next turn has a virtual start and a virtual finish one stride (UNIT / weight)
later; among the members whose start has been reached by the virtual clock, the earliest
finish is served, then the clock advances by UNIT / total weight. Two heaps hold the members
(reached, ordered by finish; not reached yet, ordered by start), so a pick or a weight change
is O(log N). Weight changes rescale the member's remaining distance to its next deadline, so
they take effect at once without a burst. Heap entries made stale by a change are skipped when
they surface and the heaps are rebuilt when stale entries outnumber live ones.

Members are any hashable objects; `accept` lets a caller skip some (excluded, full) without
losing their place. `weight_map` lays out the static maps of static-rr and map-based hashing.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Hashable, Iterable
from typing import Generic, TypeVar

M = TypeVar("M", bound=Hashable)
UNIT = 1 << 32  # virtual time for one full round of the farm's weights


class _Slot(Generic[M]):
    __slots__ = ("finish", "member", "order", "start", "stride", "version", "weight")

    def __init__(self, member: M, weight: int, order: int, start: int, version: int) -> None:
        self.member = member
        self.order = order  # tie-break: equal finishes are served in this order
        self.weight = weight
        self.stride = UNIT // weight
        self.start = start
        self.finish = start + self.stride
        self.version = version  # unique across the scheduler: heap entries never tie


_Entry = tuple[int, int, int, _Slot]  # (key, order, version, slot)


class SmoothScheduler(Generic[M]):
    """Weighted fair sequence over members whose weights may change at any time."""

    def __init__(self) -> None:
        self._slots: dict[M, _Slot[M]] = {}
        self._ready: list[_Entry] = []  # start reached, by finish
        self._later: list[_Entry] = []  # start not reached, by start
        self._clock = 0
        self._versions = itertools.count()
        self.total = 0

    def __len__(self) -> int:
        return len(self._slots)

    def __contains__(self, member: object) -> bool:
        return member in self._slots

    def members(self) -> list[M]:
        return list(self._slots)

    def weight(self, member: M) -> int:
        slot = self._slots.get(member)
        return slot.weight if slot else 0

    def clear(self) -> None:
        self._slots.clear()
        self._ready.clear()
        self._later.clear()
        self.total = 0

    def set(self, member: M, weight: int, order: int = 0) -> None:
        """Add, reweight (weight > 0) or remove (weight <= 0) a member. O(log N)."""
        slot = self._slots.get(member)
        if weight <= 0:
            if slot is not None:
                del self._slots[member]
                self.total -= slot.weight
                slot.version = next(self._versions)
            return
        if slot is None:
            slot = self._slots[member] = _Slot(
                member, weight, order, self._clock, next(self._versions)
            )
            self.total += weight
        elif slot.weight != weight or slot.order != order:
            self.total += weight - slot.weight
            # Keep the member's distance to its next deadline, measured at the new pace; a
            # member already past its deadline does not keep a backlog to catch up in a burst.
            remaining = max(0, slot.finish - self._clock) * slot.weight // weight
            slot.weight, slot.order, slot.stride = weight, order, UNIT // weight
            slot.finish = self._clock + remaining
            slot.start = slot.finish - slot.stride
            slot.version = next(self._versions)
        else:
            return
        self._push(slot)

    def next(self, accept: Callable[[M], bool] | None = None) -> M | None:
        """Serve the next member that `accept` allows (all when None); None if none does.

        Members refused by `accept` keep their place and are served first once accepted.
        """
        if not self._slots:
            return None
        self._promote()
        if not self._live_top(self._ready) and self._live_top(self._later):
            self._clock = self._later[0][0]  # nobody reached: jump to the next start
            self._promote()
        slot = self._take(self._ready, accept)
        if slot is None:
            slot = self._take(self._later, accept)
            if slot is None:
                return None
            self._clock = max(self._clock, slot.start)
        self._serve(slot)
        return slot.member

    # -- internals ---------------------------------------------------------------------------

    def _push(self, slot: _Slot[M]) -> None:
        if slot.start <= self._clock:
            heapq.heappush(self._ready, (slot.finish, slot.order, slot.version, slot))
        else:
            heapq.heappush(self._later, (slot.start, slot.order, slot.version, slot))
        if len(self._ready) + len(self._later) > 2 * len(self._slots) + 64:
            self._rebuild()

    def _rebuild(self) -> None:
        slots = self._slots.values()
        clock = self._clock
        self._ready = [(s.finish, s.order, s.version, s) for s in slots if s.start <= clock]
        self._later = [(s.start, s.order, s.version, s) for s in slots if s.start > clock]
        heapq.heapify(self._ready)
        heapq.heapify(self._later)

    def _is_live(self, entry: _Entry) -> bool:
        slot = entry[3]
        return entry[2] == slot.version and self._slots.get(slot.member) is slot

    def _live_top(self, heap: list[_Entry]) -> bool:
        while heap and not self._is_live(heap[0]):
            heapq.heappop(heap)
        return bool(heap)

    def _promote(self) -> None:
        later, clock = self._later, self._clock
        while self._live_top(later) and later[0][0] <= clock:
            slot = heapq.heappop(later)[3]
            heapq.heappush(self._ready, (slot.finish, slot.order, slot.version, slot))

    def _take(self, heap: list[_Entry], accept: Callable[[M], bool] | None) -> _Slot[M] | None:
        """Pop the first live, accepted entry; refused ones go back untouched."""
        refused: list[_Entry] = []
        found = None
        while heap:
            entry = heapq.heappop(heap)
            if not self._is_live(entry):
                continue
            if accept is None or accept(entry[3].member):
                found = entry[3]
                break
            refused.append(entry)
        for entry in refused:
            heapq.heappush(heap, entry)
        return found

    def _serve(self, slot: _Slot[M]) -> None:
        slot.start = slot.finish
        slot.finish = slot.start + slot.stride
        slot.version = next(self._versions)
        self._clock += max(1, UNIT // self.total)
        self._push(slot)


def weight_map(members: Iterable[tuple[M, int]]) -> list[M]:
    """A static sequence where each member appears exactly `weight` times, interleaved.

    Member i's k-th turn sits at (k + phase_i) / weight_i on a [0, 1) round; the phases spread
    members of equal weight apart (weights 5, 1, 1 give "a a a b a a c"). One sort: O(W log W)
    in C for a total weight W. Used by static-rr and map-based hashing (hash modulo W).
    """
    ranked = [(member, weight) for member, weight in members if weight > 0]
    count = len(ranked)
    turns: list[tuple[float, int]] = []
    for order, (_, weight) in enumerate(ranked):
        phase = (order + 0.5) / count
        turns.extend(((k + phase) / weight, order) for k in range(weight))
    turns.sort()
    return [ranked[order][0] for _, order in turns]
