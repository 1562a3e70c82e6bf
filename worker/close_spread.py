"""Letting keep-alive connections go during a soft stop (`close-spread-time`).

The worker's HTTP sessions are registered here when the global `close-spread-time` is set
(a weak set: a session that ends simply drops out). Once the soft stop has closed the
listeners, `release()` runs: each session gets its release moment (haproxy_py/process/
spread.py) and from then on `closes()` is True for it, so its next response says
`Connection: close`; a session idle between requests at or after its moment (on two looks
POLL apart) is let go by shutting the client socket for reading: the session's pending wait
sees an end of stream and the session ends cleanly (a request already received is still
read and answered first, as Linux keeps the queued bytes readable after SHUT_RD).
Without the setting nothing is registered and every response during a soft stop says
`Connection: close` (worker/http_session.py); with `infinite` none does and idle
connections are left to their timeouts, as HAProxy documents.
"""

from __future__ import annotations

import contextlib
import random
import socket
import weakref
from typing import Any

import trio

from haproxy_py.process.spread import SpreadPlan

POLL = 0.05  # seconds between looks for sessions that became idle after their moment


class SpreadCloser:
    def __init__(self, setting_ms: int, rng: random.Random | None = None) -> None:
        self.setting_ms = setting_ms
        self.sessions: weakref.WeakSet[Any] = weakref.WeakSet()
        self.plan: SpreadPlan | None = None
        self.moments: weakref.WeakKeyDictionary[Any, float] = weakref.WeakKeyDictionary()
        self.rng = rng or random.Random()
        # A session seen idle after its moment, with its request count then: it is let go
        # only if a later look finds it still idle with the same count (idle for >= POLL), so
        # a busy client is told `Connection: close` rather than losing a request in flight.
        self.seen_idle: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()

    def register(self, session: Any) -> None:
        self.sessions.add(session)

    def moment(self, session: Any) -> float:
        plan = self.plan
        if plan is None:  # grace: the spread has not begun
            return float("inf")
        moment = self.moments.get(session)
        if moment is None:
            moment = self.moments[session] = plan.release_at(self.rng.random())
        return moment

    def closes(self, session: Any) -> bool:
        """May this session's next response keep the connection? (False: it may.)"""
        return trio.current_time() >= self.moment(session)

    async def release(self) -> None:
        """Spread the releases from now on; ends once no session is left (or never, for
        `infinite`, where it only keeps the weak references)."""
        self.plan = SpreadPlan.from_setting(trio.current_time(), self.setting_ms)
        if self.plan.never:
            return
        while self.sessions:
            now = trio.current_time()
            upcoming = float("inf")
            for session in list(self.sessions):
                moment = self.moment(session)
                if moment > now:
                    upcoming = min(upcoming, moment)
                elif not _idle(session):
                    self.seen_idle.pop(session, None)
                elif self.seen_idle.get(session) != session.requests:
                    self.seen_idle[session] = session.requests
                    upcoming = min(upcoming, now + POLL)
                else:
                    self.sessions.discard(session)
                    with contextlib.suppress(OSError):
                        session.client.shutdown(socket.SHUT_RD)
            await trio.sleep(max(0.0, min(upcoming - now, POLL)))


def _idle(session: Any) -> bool:
    """Between two requests, nothing of the next one received (never before the first
    request: that client is about to send it)."""
    return session.requests > 0 and session.front.idle_and_empty
