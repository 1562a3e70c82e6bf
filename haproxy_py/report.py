"""Messages on stderr in HAProxy's shape, with its one-time NOTICE preamble.

Shared by the command line (master) and the workers, so both speak with one voice.

`[NOTICE]   (PID) : text`, `[WARNING]  (PID) : text`, `[ALERT]    (PID) : text`. Before the
first WARNING or ALERT a process image prints, HAProxy prints two NOTICE lines (its version
and the path to the executable); tools and people expect them, so we do the same. `quiet`
(-q) silences everything, as `haproxy -c -q` prints nothing at all.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import TextIO

from haproxy_py.config.diagnostics import Diagnostic, Severity
from haproxy_py.version import VERSION


@dataclass
class Reporter:
    quiet: bool = False
    stream: TextIO = field(default_factory=lambda: sys.stderr)
    pid: int = field(default_factory=os.getpid)
    # What the preamble names as the executable (the worker is told the command's path).
    executable: str = field(default_factory=lambda: executable_path())
    # HAProxy prints the preamble for start-up problems only, not for a running worker's.
    preamble: bool = True
    _preamble_done: bool = False

    def _line(self, severity: Severity, text: str) -> None:
        if self.quiet:
            return
        if severity >= Severity.WARNING and self.preamble and not self._preamble_done:
            self._preamble_done = True
            self._line(Severity.NOTICE, f"haproxy version is {VERSION}")
            self._line(Severity.NOTICE, f"path to executable is {self.executable}")
        try:
            self.stream.write(f"{severity.tag:<10} ({self.pid}) : {text}\n")
            self.stream.flush()
        except (BrokenPipeError, OSError):
            self.quiet = True  # nobody is reading stderr any more; keep running

    @property
    def preamble_done(self) -> bool:
        return self._preamble_done

    def diagnostic(self, item: Diagnostic) -> None:
        rendered = item.render(self.pid)
        prefix = f"{item.severity.tag:<10} ({self.pid}) : "
        self._line(item.severity, rendered[len(prefix) :])

    def alert(self, text: str) -> None:
        self._line(Severity.ALERT, text)

    def warning(self, text: str) -> None:
        self._line(Severity.WARNING, text)

    def notice(self, text: str) -> None:
        self._line(Severity.NOTICE, text)


def executable_path() -> str:
    return os.path.abspath(sys.argv[0]) if sys.argv and sys.argv[0] else sys.executable
