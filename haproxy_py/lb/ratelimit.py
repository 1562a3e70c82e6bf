"""Per-second rate arithmetic for `maxconnrate`, `maxsessrate` and `rate-limit sessions`.

The idea is HAProxy's frequency counter: events are counted in the current second of the
monotonic clock and the second before it, and the rate now is the current count plus the
previous one weighted by what is left of the current second (so it slides smoothly instead
of jumping at each second). A limit is reached when the whole part of that estimate reaches
the limit; accepting resumes when it drops below, which this module also predicts (`delay`),
so a waiting accept loop sleeps once instead of polling.

Several workers count each into their own slots (the shared stats table's rate words, or a
worker's own `RateCounter`); `normalize` brings any slot's (second, current, previous) to one
second so the counts add up. Rules of this file: pure (the clock is always a parameter),
integers in, no I/O; `allowance`/`delay` agree: delay is 0 exactly when allowance is not 0.
"""

from __future__ import annotations

import math

# How far past the predicted instant a waiting loop looks again (the estimate is continuous:
# at the very instant it equals the limit, nothing is allowed yet).
MARGIN = 0.001
U32 = 1 << 32


def normalize(second: int, current: int, previous: int, now_second: int) -> tuple[int, int]:
    """(current, previous) counts of a slot dated `second`, seen from `now_second`."""
    if second == now_second:
        return current, previous
    if second == now_second - 1:
        return 0, current
    return 0, 0  # older (or from a clock not ours): nothing recent


def estimate(current: int, previous: int, elapsed: float) -> float:
    """Events per second now, `elapsed` (0 <= elapsed < 1) into the current second."""
    return current + previous * (1.0 - elapsed)


def allowance(limit: int, current: int, previous: int, elapsed: float) -> int:
    """How many more events the limit allows at once (0: wait; limit 0: no limit)."""
    if limit <= 0:
        return U32
    used = math.floor(estimate(current, previous, elapsed))
    return max(0, limit - used)


def delay(limit: int, current: int, previous: int, elapsed: float) -> float:
    """Seconds until `allowance` is at least 1 again (0 when it already is).

    The estimate falls by `previous` per second until the second ends; then the current
    count becomes the previous one and the computation starts again from there."""
    if allowance(limit, current, previous, elapsed):
        return 0.0
    waited = 0.0
    for _ in range(3):  # at most: the rest of this second, then within the next
        if current < limit and previous > 0:
            # current + previous * (1 - t) < limit  <=>  t > 1 - (limit - current) / previous
            at = 1.0 - (limit - current) / previous
            if at < 1.0:
                return waited + max(at - elapsed, 0.0) + MARGIN
        waited += 1.0 - elapsed
        current, previous, elapsed = 0, current, 0.0
        if allowance(limit, current, previous, elapsed):
            return waited + MARGIN
    return waited + MARGIN


def share(allowed: int, workers: int) -> int:
    """One worker's part of what is allowed now: each worker takes at most this much before
    it looks at the others' counts again, so together they stay within `allowed` (give or
    take one each when fewer than `workers` are left)."""
    if allowed <= 0:
        return 0
    return -(-allowed // max(1, workers))


class RateCounter:
    """Events counted in the current and previous second of the caller's clock."""

    __slots__ = ("current", "previous", "second")

    def __init__(self) -> None:
        self.second = 0
        self.current = 0
        self.previous = 0

    def add(self, now: float, count: int = 1) -> None:
        second = int(now)
        if second != self.second:
            self.current, self.previous = normalize(
                self.second, self.current, self.previous, second
            )
            self.second = second
        self.current += count

    def counts(self, now_second: int) -> tuple[int, int]:
        return normalize(self.second, self.current, self.previous, now_second)

    def seed(self, now_second: int, current: int, previous: int) -> None:
        """Start from counts already normalized to `now_second` (a limit set at run time
        starts from what this worker's stats slots saw)."""
        self.second, self.current, self.previous = now_second, current, previous


def c_atoi(text: str) -> int:
    """The C library's atoi() on a 32-bit int, as HAProxy reads `set rate-limit`'s value and
    `rate-limit sessions`: leading blanks, a sign, digits up to the first other character
    (none: 0), clamped to a 64-bit long, then cut to 32 bits (signed)."""
    stripped = text.lstrip(" \t\n\v\f\r")
    sign = 1
    if stripped[:1] in ("+", "-"):
        sign = -1 if stripped[0] == "-" else 1
        stripped = stripped[1:]
    digits = ""
    for char in stripped:
        if not ("0" <= char <= "9"):
            break
        digits += char
    value = sign * int(digits) if digits else 0
    value = max(-(1 << 63), min(value, (1 << 63) - 1))
    value &= U32 - 1
    return value - U32 if value >= 1 << 31 else value
