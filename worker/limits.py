"""Connection limits (`maxconn` gates the accept loops wait on) and the descriptor budget.

`ConnLimit` counts connections against one `maxconn` (global, frontend or bind line). An accept
loop that finds a limit full parks on it and is woken when a connection ends: nothing is
accepted and then closed, the kernel backlog holds the newcomers meanwhile.

`plan_fd_limit` is pure: from the settings and the current RLIMIT_NOFILE it decides the
effective `maxconn` and `maxpipes` and the soft limit to run with. The rule, kept simple:
  needed = 2 * maxconn (client + server socket) + 2 * maxpipes + listeners + FD_MARGIN
- `maxconn` unset (global and -n): the largest value whose `needed` fits in `ulimit-n` if set,
  else in the hard limit (HAProxy also derives it from the limit it can reach); when the hard
  limit is unlimited, DEFAULT_MAXCONN;
- `maxpipes` unset: maxconn/4 when splicing (we splice by default, HAProxy only with
  `option splice-*`), 0 with nosplice/-dS;
- the soft limit becomes `ulimit-n` when set (honoured as given, with a warning if it is below
  `needed`), else it is raised to `needed` (never lowered); `apply_fd_limit` raises the hard
  limit too when allowed (root) and fails with HAProxy's message naming both numbers otherwise.
"""

from __future__ import annotations

import resource
from collections.abc import Callable
from dataclasses import dataclass

import trio

# Descriptors besides connections, pipes and listeners: stdio, the ipc and hand-off fds, the
# epoll fd, trio's wake-up socketpair, log and resolver sockets, a little slack. HAProxy keeps a
# similar reserve (its Maxsock is 2 * maxconn + listeners + 26 without pipes).
FD_MARGIN = 26
# `maxconn` when neither the configuration nor the descriptor limit says anything useful.
DEFAULT_MAXCONN = 4096


class FdLimitError(Exception):
    """The descriptor limit the configuration needs cannot be set."""


@dataclass(frozen=True, slots=True)
class FdPlan:
    maxconn: int  # the process-wide connection limit in force
    maxpipes: int  # the splice pipe pool's size (0 without splicing)
    needed: int  # descriptors the configuration may use at full load ("Maxsock")
    soft_limit: int  # RLIMIT_NOFILE soft limit to run with
    warning: str | None = None  # something the operator should hear about


def fds_needed(maxconn: int, maxpipes: int, listeners: int) -> int:
    return 2 * maxconn + 2 * maxpipes + listeners + FD_MARGIN


def plan_fd_limit(
    *,
    maxconn: int | None,
    maxpipes: int | None,
    splice: bool,
    listeners: int,
    ulimit_n: int | None,
    soft: int,
    hard: int,
) -> FdPlan:
    """Decide maxconn, maxpipes and the soft RLIMIT_NOFILE (see the module's rules)."""

    def pipes_for(conns: int) -> int:
        if not splice:
            return 0
        return conns // 4 if maxpipes is None else maxpipes

    if maxconn is None:
        budget = ulimit_n or (None if hard == resource.RLIM_INFINITY else hard)
        if budget is None:
            maxconn = DEFAULT_MAXCONN
        else:
            maxconn = _largest_fitting(budget, pipes_for, listeners)
    pipes = pipes_for(maxconn)
    needed = fds_needed(maxconn, pipes, listeners)
    warning = None
    if ulimit_n:
        soft_limit = ulimit_n
        if ulimit_n < needed:
            warning = (
                f"[haproxy.main()] FD limit ({ulimit_n}) too low for maxconn={maxconn}/"
                f"maxsock={needed}. Please raise 'ulimit-n' to {needed} or more to avoid any"
                " trouble."
            )
    else:
        soft_limit = max(soft, needed)
    return FdPlan(maxconn, pipes, needed, soft_limit, warning)


def _largest_fitting(budget: int, pipes_for: Callable[[int], int], listeners: int) -> int:
    """The largest maxconn (at least 1) whose descriptor needs fit in `budget`."""
    spare = budget - listeners - FD_MARGIN
    # 2 fds per connection plus 2 per pipe, a pipe per 4 connections when splicing: 2.5 per
    # connection; start from that estimate and step to the exact answer.
    conns = max(1, spare * 2 // 5)
    while fds_needed(conns + 1, pipes_for(conns + 1), listeners) <= budget:
        conns += 1
    while conns > 1 and fds_needed(conns, pipes_for(conns), listeners) > budget:
        conns -= 1
    return conns


def apply_fd_limit(plan: FdPlan) -> None:
    """Set RLIMIT_NOFILE's soft limit to the plan's (raising the hard one if we may)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if plan.soft_limit == soft:
        return
    new_hard = hard
    if hard != resource.RLIM_INFINITY and plan.soft_limit > hard:
        new_hard = plan.soft_limit  # only root may; the error below explains otherwise
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (plan.soft_limit, new_hard))
    except (ValueError, OSError):
        raise FdLimitError(
            f"[haproxy.main()] Cannot raise FD limit to {plan.soft_limit}, limit is {hard}."
        ) from None


class ConnLimit:
    """Connections counted against one `maxconn`; None means unlimited."""

    __slots__ = ("_lot", "current", "maximum")

    def __init__(self, maximum: int | None) -> None:
        self.maximum = maximum if maximum and maximum > 0 else None
        self.current = 0
        self._lot = trio.lowlevel.ParkingLot()

    @property
    def full(self) -> bool:
        return self.maximum is not None and self.current >= self.maximum

    def take(self) -> None:
        self.current += 1

    def release(self) -> None:
        self.current -= 1
        # Only accept loops park here, and only while full: wake them all to re-check their
        # limits (a few listeners at most, and only when crossing back under the limit).
        if self._lot and not self.full:
            self._lot.unpark_all()

    async def wait_for_room(self) -> None:
        """Park until a connection counted here ends (the caller re-checks afterwards)."""
        await self._lot.park()
