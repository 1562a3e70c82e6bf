"""What the master CLI and the workers' runtime API share: levels, keyword tables, help.

Both CLIs are tables of keywords with a usage, a summary and a level; `help`, the answer to
an unknown command ("Unknown command, but maybe one of the following ones is a better
match:") and the closest-match suggestions are built from those tables the same way, in
HAProxy's layout (`"  %-40s: %s"` rows, then help/prompt/quit). The summaries are our words.
"""

from __future__ import annotations

import difflib
import enum
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


class Level(enum.IntEnum):
    USER = 0
    OPERATOR = 1
    ADMIN = 2

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class Keyword:
    usage: str  # as help lists it; its words before any `<`/`[` are what a command starts with
    summary: str
    action: str  # "caller" (a MasterCommand), "none" (a prefix), or a session handler's name
    level: Level = Level.USER
    listed: bool = True  # listed by help (hidden ones are listed in mcli-debug-mode)

    @property
    def words(self) -> tuple[str, ...]:
        if self.usage.startswith("@"):
            return ()
        # `@<ver>` (commit map) is an argument too
        return tuple(itertools.takewhile(lambda w: w[0] not in "<[@", self.usage.split()))


# Always at the end of a listing, as HAProxy does.
TRAILER: tuple[Keyword, ...] = (
    Keyword("help [<command>]", "list all commands, or those matching the words given", "help"),
    Keyword("prompt", "toggle interactive mode (a prompt after each answer)", "prompt"),
    Keyword("quit", "close this connection", "quit"),
)


def listing(header: str, keywords: Iterable[Keyword]) -> str:
    rows = [f"  {kw.usage:<40}: {kw.summary}\n" for kw in (*keywords, *TRAILER)]
    return header + "\n" + "".join(rows) + "\n"


def closest(typed: str, keywords: Sequence[Keyword], limit: int = 5) -> list[Keyword]:
    """Up to `limit` keywords whose usage looks most like `typed`, in table order."""
    typed = typed.lower()
    # Scored against the whole usage and against its command words alone, so that a long
    # argument list ("show info [desc|json|...]") does not hide a near-exact command.
    scored = [
        (
            max(
                difflib.SequenceMatcher(None, typed, kw.usage).ratio(),
                difflib.SequenceMatcher(None, typed, " ".join(kw.words)).ratio(),
            ),
            index,
        )
        for index, kw in enumerate(keywords)
    ]
    # A near-exact match hides the weak ones ("SHOW VERSION" suggests only "show version").
    floor = max(0.2, max((score for score, _ in scored), default=0.0) - 0.3)
    best = sorted((s for s in scored if s[0] >= floor), reverse=True)[:limit]
    return [keywords[index] for _, index in sorted(best, key=lambda s: s[1])]
