"""Configuration diagnostics: where a problem is, how bad it is, and HAProxy's way of saying it.

Parsing never stops at the first error: every problem is collected in a `Diagnostics` list and
the caller decides what to print. Rendering follows HAProxy's stderr shape exactly, because
operators and tools grep it:

    [ALERT]    (PID) : config : parsing [FILE:LINE] : MESSAGE

The tag sits in a 10-character field; continuation lines of a message are printed as given.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import IntEnum


class Severity(IntEnum):
    DIAG = 0
    NOTICE = 1
    WARNING = 2
    ALERT = 3

    @property
    def tag(self) -> str:
        return f"[{self.name}]"


@dataclass(frozen=True, slots=True)
class Where:
    """A place in the configuration: the file as named on the command line, and a 1-based line."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"

    def relative_to(self, other: Where) -> str:
        """'line N' when both are in the same file, 'FILE:N' otherwise (for 'declared at ...')."""
        return f"line {self.line}" if self.file == other.file else str(self)


class ConfigError(Exception):
    """A problem with one statement; the parser turns it into an ALERT and carries on."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigWarning(Exception):
    """Raised by a keyword parser for a statement that is valid but ignored, HAProxy's way."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# How the line position is glued to the message. HAProxy writes "parsing [f:l] : msg" for
# keyword errors and "parsing [f:l]: msg" for lexer errors and the .notice family.
SPACED = " : "
TIGHT = ": "


@dataclass(frozen=True, slots=True)
class Diagnostic:
    severity: Severity
    message: str
    where: Where | None = None
    glue: str = SPACED

    def render(self, pid: int) -> str:
        head = f"{self.severity.tag:<10} ({pid}) : config : "
        if self.where is not None:
            head += f"parsing [{self.where}]{self.glue}"
        return head + self.message


@dataclass
class Diagnostics:
    """The ordered list of problems found while loading a configuration."""

    items: list[Diagnostic] = field(default_factory=list)

    def add(
        self, severity: Severity, message: str, where: Where | None = None, glue: str = SPACED
    ) -> None:
        self.items.append(Diagnostic(severity, message, where, glue))

    def alert(self, message: str, where: Where | None = None, glue: str = SPACED) -> None:
        self.add(Severity.ALERT, message, where, glue)

    def warning(self, message: str, where: Where | None = None, glue: str = SPACED) -> None:
        self.add(Severity.WARNING, message, where, glue)

    def notice(self, message: str, where: Where | None = None, glue: str = SPACED) -> None:
        self.add(Severity.NOTICE, message, where, glue)

    def __iter__(self) -> Iterator[Diagnostic]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def count(self, severity: Severity) -> int:
        return sum(1 for item in self.items if item.severity == severity)

    @property
    def alerts(self) -> int:
        return self.count(Severity.ALERT)

    @property
    def warnings(self) -> int:
        return self.count(Severity.WARNING)

    def files_with_alerts(self) -> list[str]:
        """Files that had at least one located ALERT, in first-seen order (for the closing line)."""
        seen: dict[str, None] = {}
        for item in self.items:
            if item.severity == Severity.ALERT and item.where is not None:
                seen.setdefault(item.where.file, None)
        return list(seen)
