"""`close-spread-time`: when each keep-alive connection is let go during a soft stop.

HAProxy 2.6 spreads the closing of idle and active keep-alive connections over a window
instead of closing them all at once when a soft stop begins. Here every connection gets
one release moment, drawn uniformly over the window (the same law as HAProxy's per-request
draw against the elapsed share of the window): from that moment on its next response says
`Connection: close`, and if it is idle between requests it is closed. Without the setting
every connection is released at once (on its next request: haproxy-py's lossless default);
with `infinite` none is (idle connections wait for their timeouts). Pure: the caller gives
the clock reading and the random draw.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

INFINITE = -1  # the configuration's value for `close-spread-time infinite`


@dataclass(frozen=True)
class SpreadPlan:
    """The release window of one soft stop; `window` in seconds (math.inf: never)."""

    start: float
    window: float

    @classmethod
    def from_setting(cls, start: float, setting_ms: int | None) -> SpreadPlan:
        """From the global setting (milliseconds, INFINITE, or None when unset)."""
        if setting_ms is None:
            return cls(start, 0.0)
        if setting_ms == INFINITE:
            return cls(start, math.inf)
        return cls(start, setting_ms / 1000)

    @property
    def never(self) -> bool:
        return math.isinf(self.window)

    def release_at(self, draw: float) -> float:
        """The release moment for a uniform draw in [0, 1)."""
        if self.never:
            return math.inf
        return self.start + self.window * min(max(draw, 0.0), 1.0)

    def end(self) -> float:
        return self.start + self.window
