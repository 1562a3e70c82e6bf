"""The master CLI (`-S`): its line protocol and session state, sans-IO.

Owns: cutting a client's bytes into lines and `;`-separated commands, the `@` routing
prefixes, what a master-CLI session remembers (interactive prompt, default target, level,
expert/experimental/mcli-debug modes), the answers that need nothing but that state (help,
levels, prompts, errors); the `show proc` table is in haproxy_py/proto/show_proc.py.
master/ owns the sockets and the process table: it feeds `receive_data()`, acts on
`next_event()`, answers commands with `send()`, and resolves `@N`/`@!PID` through the
callable it gives the connection.

Rules: bytes in, events out; no I/O, no clock, no trio.
Shapes are HAProxy 2.6.12's as observed by running it (reference §1.6):
- a session lasts until EOF or `quit`, one line after another, also without `prompt`
  (unlike the worker's stats socket, which answers one line and closes);
- an output ends with an empty line; `prompt`, `@...` alone, `user`, `operator` and the mode
  commands print nothing; in interactive mode the prompt follows every command;
- `@N CMD` / `@!PID CMD` forward CMD as is; without a prefix, `prompt`, `quit`, `user`,
  `operator` and the mode commands stay with the master even when `@N` is the default;
- an unknown target, or raising one's level, prints one line and closes the connection.
Deliberate differences: a line longer than `MAX_LINE` gets an error and the connection is
closed (HAProxy answers each 16 kB chunk as a command and keeps going); `user`/`operator`
also turn expert and experimental modes off, as the worker CLI does; `mcli-debug-mode` is
never forwarded to a worker; `show startup-logs` works without `mcli-debug-mode`.
Help summaries are our own words; header lines and error strings are HAProxy's, since
people and scripts match them.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from haproxy_py.proto.cli_help import TRAILER, Keyword, Level, closest, listing

# HAProxy's default tune.bufsize: no real command line comes near it.
MAX_LINE = 16384

# -- levels and targets ---------------------------------------------------------------------


@dataclass(frozen=True)
class MasterTarget:
    """`@`, `@0`, `@master`."""


@dataclass(frozen=True)
class RelativeTarget:
    """`@N`: the N-th worker of the current generation, 1-based."""

    number: int


@dataclass(frozen=True)
class PidTarget:
    """`@!PID`: any worker, leaving ones included."""

    pid: int


Target = MasterTarget | RelativeTarget | PidTarget
# Given by master/: the pid a worker target names now, or None when there is none.
Resolver = Callable[[RelativeTarget | PidTarget], int | None]

_NUMBER = re.compile(r"[0-9]{1,10}")


def parse_target(prefix: str) -> Target | None:
    """The target an `@...` word names, or None when it is not a valid prefix."""
    if not prefix.startswith("@"):
        return None
    body = prefix[1:]
    if body in ("", "master"):
        return MasterTarget()
    if body.startswith("!"):
        return PidTarget(int(body[1:])) if _NUMBER.fullmatch(body[1:]) else None
    if not _NUMBER.fullmatch(body):
        return None
    number = int(body)
    return MasterTarget() if number == 0 else RelativeTarget(number)


def target_not_found(prefix: str) -> str:
    return f"Can't find the target PID matching the prefix '{prefix}'\n"


# -- events (next_event) and answers (send) -------------------------------------------------


@dataclass(frozen=True)
class NeedData:
    """Nothing to do until more bytes (or EOF) arrive."""


NEED_DATA = NeedData()


@dataclass(frozen=True)
class Output:
    """Bytes the protocol produced itself (help, errors, prompts): write them."""

    data: bytes


@dataclass(frozen=True)
class MasterCommand:
    """A command only the master can run: answer with `send(Answer(text))`.

    `name` is one of "reload", "show proc", "show version", "show startup-logs".
    """

    name: str
    args: tuple[str, ...] = ()


@dataclass(frozen=True)
class WorkerCommand:
    """A command for the worker `pid`: send `request()` on a fresh runtime-API session, then
    give the reply to `send(Relayed(data))`."""

    pid: int
    command: str
    level: Level = Level.ADMIN
    expert: bool = False
    experimental: bool = False

    def request(self) -> bytes:
        """What the worker reads: the session's level and modes first, as HAProxy's master
        does (`operator -\\r\\n`, `expert-mode on -\\r\\n`...), then the command."""
        lines = []
        if self.level < Level.ADMIN:
            lines.append(f"{self.level.label} -\r\n")
        if self.expert:
            lines.append("expert-mode on -\r\n")
        if self.experimental:
            lines.append("experimental-mode on -\r\n")
        lines.append(self.command + "\n")
        return "".join(lines).encode("utf-8", "surrogateescape")


@dataclass(frozen=True)
class Close:
    """Write nothing more; close the connection. `reason`: "quit", "eof" or "error"."""

    reason: str


Event = NeedData | Output | MasterCommand | WorkerCommand | Close


@dataclass(frozen=True)
class Answer:
    """A master command's output text, without the empty line that ends it."""

    text: str


@dataclass(frozen=True)
class Relayed:
    """A worker's reply, passed on verbatim (it carries its own empty line)."""

    data: bytes


class McliUsageError(Exception):
    """The caller broke the protocol's order (a bug in master/, not in the client)."""


# -- the master's own command table ---------------------------------------------------------


_O, _A = Level.OPERATOR, Level.ADMIN
# fmt: off
KEYWORDS: tuple[Keyword, ...] = tuple(Keyword(*entry) for entry in (
    ("@!<pid>", "run a command on the worker with this system pid", "none"),
    ("@<relative pid>", "run a command on the N-th current worker (1 = first)", "none"),
    ("@master", "run a command on the master itself", "none"),
    ("operator", "lower this session's level to operator", "level"),
    ("reload", "re-read the configuration, start new workers", "caller", _O),
    ("show cli level", "print this session's level", "cli_level"),
    ("show cli sockets", "list CLI sockets (none on the master)", "cli_sockets"),
    ("show proc", "list the master and its workers with their uptime", "caller"),
    ("show startup-logs", "print the messages of the master's last start", "caller", _O, False),
    ("show version", "print the master's version", "caller"),
    ("user", "lower this session's level to user", "level"),
    ("expert-mode [on|off]", "expert mode for forwarded commands", "mode", _A, False),
    ("experimental-mode [on|off]", "experimental mode for forwarded commands", "mode", _A, False),
    ("mcli-debug-mode [on|off]", "debug mode of the master CLI", "mode", _A, False),
))
# fmt: on
# Handled by the master even when the session's default target is a worker.
INTERCEPTED = frozenset(
    {"prompt", "quit", "user", "operator", "expert-mode", "experimental-mode", "mcli-debug-mode"}
)
_MODE_FLAGS = (("experimental-mode", "x"), ("expert-mode", "e"), ("mcli-debug-mode", "d"))


def _find_keyword(words: Sequence[str]) -> Keyword | None:
    for keyword in (*KEYWORDS, *TRAILER):
        if keyword.words and tuple(words[: len(keyword.words)]) == keyword.words:
            return keyword
    return None


# -- the connection -------------------------------------------------------------------------


class MasterCliConnection:
    """One client of the master CLI.

    `resolve` maps `@N`/`@!PID` to a live worker pid (see `resolve_target`); `level` comes
    from the `-S` bind options; `reload_failed` shows in the prompt after a failed reload
    (every master-CLI connection is closed on reload, so it cannot change under a session).
    """

    def __init__(
        self,
        resolve: Resolver,
        *,
        level: Level = Level.ADMIN,
        reload_failed: bool = False,
        max_line: int = MAX_LINE,
    ) -> None:
        self._resolve = resolve
        self.level = level
        self.reload_failed = reload_failed
        self.max_line = max_line
        self.interactive = False
        self.default_pid: int | None = None  # None: the master
        self.modes: set[str] = set()
        self._buffer = bytearray()
        self._scanned = 0  # bytes of _buffer known to hold no newline
        self._eof = False
        self._commands: deque[str] = deque()
        self._pending = False  # a MasterCommand/WorkerCommand awaits send()
        self._closed: Close | None = None

    # bytes in

    def receive_data(self, data: bytes) -> None:
        """Bytes from the client; b"" means EOF (the client half-closed)."""
        if not data:
            self._eof = True
        elif self._closed is None:
            self._buffer += data

    def next_event(self) -> Event:
        if self._pending:
            raise McliUsageError("answer the pending command with send() first")
        while self._closed is None:
            if self._commands:
                event = self._run(self._commands.popleft())
                if event is not None:
                    return event
                continue
            got = self._read_line()
            if isinstance(got, Output):
                return got
            if not got:
                if not self._eof:
                    return NEED_DATA
                self._closed = Close("eof")
        return self._closed

    def _read_line(self) -> Output | bool:
        """Queue the next complete line's commands; False if there is none yet, an Output
        (and the connection closing) if the line is too long."""
        newline = self._buffer.find(b"\n", self._scanned)
        too_long = (
            newline + 1 > self.max_line if newline >= 0 else (len(self._buffer) >= self.max_line)
        )
        if too_long:
            self._buffer.clear()
            return self._error(
                f"Line too long: the master CLI takes lines of at most "
                f"{self.max_line} bytes. Closing the connection.\n"
            )
        if newline < 0:
            self._scanned = len(self._buffer)
            return False
        raw = bytes(self._buffer[:newline])
        del self._buffer[: newline + 1]
        self._scanned = 0
        line = raw.decode("utf-8", "surrogateescape").removesuffix("\r")
        self._commands.extend(split_commands(line))
        return True

    # answers out

    def send(self, answer: Answer | Relayed) -> bytes:
        """The bytes to write for the answer to the last Master/WorkerCommand."""
        if not self._pending:
            raise McliUsageError("send() without a pending command")
        self._pending = False
        if isinstance(answer, Answer):
            data = (answer.text + "\n").encode("utf-8", "surrogateescape")
        else:
            data = answer.data
        return data + self._prompt_bytes()

    @property
    def prompt(self) -> str:
        """The interactive prompt as HAProxy 2.6 writes it: `master> `, `1234(xe)> `..."""
        name = "master" if self.default_pid is None else str(self.default_pid)
        if self.reload_failed and self.default_pid is None:
            name += "[ReloadFailed]"
        flags = "".join(flag for mode, flag in _MODE_FLAGS if mode in self.modes)
        return f"{name}({flags})> " if flags else f"{name}> "

    def _prompt_bytes(self) -> bytes:
        return self.prompt.encode() if self.interactive else b""

    # one command

    def _run(self, command: str) -> Event | None:
        """The event for one command, or None when it printed nothing at all."""
        text = command.strip(" \t")
        if text.startswith("@"):
            prefix, *more = text.split(None, 1)
            rest = more[0].strip() if more else ""
            target = parse_target(prefix)
            pid: int | None = None
            if isinstance(target, RelativeTarget | PidTarget):
                pid = self._resolve(target)
            if target is None or (pid is None and not isinstance(target, MasterTarget)):
                return self._error(target_not_found(prefix))
            if not rest:
                self.default_pid = pid
                return self._local("")
            if pid is not None:
                return self._forward(pid, rest)
            return self._on_master(rest)
        words = text.split()
        if self.default_pid is not None and not (words and words[0] in INTERCEPTED):
            return self._forward(self.default_pid, text)
        return self._on_master(text)

    def _forward(self, pid: int, command: str) -> WorkerCommand:
        self._pending = True
        return WorkerCommand(
            pid, command, self.level, "expert-mode" in self.modes, "experimental-mode" in self.modes
        )

    def _local(self, text: str) -> Output | None:
        data = text.encode("utf-8", "surrogateescape") + self._prompt_bytes()
        return Output(data) if data else None

    def _error(self, text: str) -> Output:
        """Print `text` and close: what HAProxy does on unknown targets and raised levels."""
        self._closed = Close("error")
        self._commands.clear()
        return Output(text.encode())

    def _on_master(self, text: str) -> Event | None:
        words = text.split()
        keyword = _find_keyword(words)
        if keyword is None or keyword.action == "none":
            return self._local(self._unknown(text))
        if keyword.action == "caller":
            if self.level < keyword.level:
                return self._local("Permission denied\n\n")
            self._pending = True
            return MasterCommand(" ".join(keyword.words), tuple(words[len(keyword.words) :]))
        return getattr(self, f"_do_{keyword.action}")(keyword, words)

    def _unknown(self, text: str) -> str:
        visible = [kw for kw in KEYWORDS if self._listed(kw)]
        if not text:
            return listing(
                "Unknown command. Please enter one of the following commands only:", visible
            )
        return listing(
            "Unknown command, but maybe one of the following ones is a better match:",
            closest(text, visible),
        )

    def _listed(self, keyword: Keyword) -> bool:
        return keyword.listed or "mcli-debug-mode" in self.modes

    # session handlers (named after Keyword.action)

    def _do_help(self, keyword: Keyword, words: list[str]) -> Output | None:
        visible = [kw for kw in KEYWORDS if self._listed(kw)]
        asked = words[1:]
        if asked:
            matching = [kw for kw in visible if kw.words and kw.words[: len(asked)] == tuple(asked)]
            visible = matching or closest(" ".join(asked), visible)
        return self._local(listing("The following commands are valid at this level:", visible))

    def _do_prompt(self, keyword: Keyword, words: list[str]) -> Output | None:
        self.interactive = not self.interactive
        return self._local("")

    def _do_quit(self, keyword: Keyword, words: list[str]) -> Close:
        self._closed = Close("quit")
        self._commands.clear()
        return self._closed

    def _do_level(self, keyword: Keyword, words: list[str]) -> Output | None:
        wanted = Level[words[0].upper()]
        if wanted > self.level:
            return self._error("Permission denied!\n")
        if wanted < self.level:
            self.level = wanted
            self.modes -= {"expert-mode", "experimental-mode"}
        return self._local("")

    def _do_mode(self, keyword: Keyword, words: list[str]) -> Output | None:
        if self.level < keyword.level:
            return self._error("Permission denied!\n")
        # As HAProxy: "on" sets the mode, anything else (nothing included) clears it.
        if words[1:2] == ["on"]:
            self.modes.add(words[0])
        else:
            self.modes.discard(words[0])
        return self._local("")

    def _do_cli_level(self, keyword: Keyword, words: list[str]) -> Output | None:
        return self._local(self.level.label + "\n\n")

    def _do_cli_sockets(self, keyword: Keyword, words: list[str]) -> Output | None:
        return self._local("\n")


def split_commands(line: str) -> list[str]:
    """`;`-separated commands of one line; `\\;` does not split (the backslash stays, for the
    worker's own parser). An empty line is one empty command, as HAProxy counts it."""
    commands: list[str] = []
    start = 0
    index = 0
    while index < len(line):
        char = line[index]
        if char == "\\":
            index += 2
            continue
        if char == ";":
            commands.append(line[start:index])
            start = index + 1
        index += 1
    commands.append(line[start:])
    return commands
