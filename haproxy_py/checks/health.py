"""The rise/fall state machine of one server's health checks (HAProxy's health counter).

`health` runs from 0 to rise + fall - 1. The server is UP while it has not fallen: a failure
takes one from the counter and the server goes DOWN (counter reset to 0) when it drops below
`rise`; a success adds one and, once it reaches `rise`, the counter jumps to its top, which is
when a DOWN server comes UP. A server starts UP with the counter at `rise` (as HAProxy 2.6),
so `fall` failures in a row take a fresh server down and a single success confirms it.
The logs show the counter as `N/fall UP` (N = health - rise + 1) or `N/rise DOWN`.
Pure: no clock, no I/O; the caller says what happened.
"""

from __future__ import annotations

from dataclasses import dataclass

UP = "UP"
DOWN = "DOWN"


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one check result did: `changed` (the counter moved; `option log-health-checks`
    logs such results, and those whose status differs from the previous one) and `transition`
    (UP or DOWN when the server's state flipped)."""

    changed: bool
    transition: str | None = None


@dataclass(slots=True)
class Health:
    rise: int = 2
    fall: int = 3
    health: int = -1  # -1: start at `rise` (UP, not yet confirmed)
    up: bool = True

    def __post_init__(self) -> None:
        if self.rise < 1 or self.fall < 1:
            raise ValueError("rise and fall must be at least 1")
        if self.health < 0:
            self.health = self.rise if self.up else 0

    @property
    def top(self) -> int:
        return self.rise + self.fall - 1

    @property
    def steady(self) -> bool:
        """Fully UP or fully DOWN (no change pending): the plain `inter`/`downinter` applies."""
        return self.health == (self.top if self.up else 0)

    def record(self, passed: bool) -> Outcome:
        if passed:
            if self.health >= self.top:
                return Outcome(False)
            self.health += 1
            if self.health < self.rise:
                return Outcome(True)
            self.health = self.top
            if self.up:
                return Outcome(True)
            self.up = True
            return Outcome(True, UP)
        if self.health <= 0:
            return Outcome(False)
        self.health -= 1
        if not self.up or self.health >= self.rise:
            return Outcome(True)
        self.up = False
        self.health = 0
        return Outcome(True, DOWN)

    def force(self, up: bool) -> None:
        """Set a state from outside (a carried-over state, the runtime API): fully there."""
        self.up = up
        self.health = self.top if up else 0

    def describe(self) -> str:
        """`2/3 UP`, `0/2 DOWN`: the `status:` part of a check log line."""
        if self.up:
            return f"{self.health - self.rise + 1}/{self.fall} {UP}"
        return f"{self.health}/{self.rise} {DOWN}"
