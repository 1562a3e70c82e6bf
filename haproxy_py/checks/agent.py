"""`agent-check`: the settings of a server's agent and the meaning of its replies.

The agent is asked every `agent-inter` (else `inter`) on `agent-addr`:`agent-port`, is sent
`agent-send` if set, and answers one line (up to the first CR or LF) of words separated by
spaces, tabs or commas: `NN%` (weight relative to the configured one), `maxconn:N`, `ready`,
`drain`, `maint` (administrative state), `up`, `down`, `fail`, `stopped` (the agent's
verdict on the server; `#` starts a free description). A word it does not know makes the
whole reply an error that changes nothing ("agent reports an error : WORD"), as HAProxy 2.6
does. Failing to reach the agent changes nothing either. The agent's verdict is immediate
(rise and fall of 1): a server is DOWN while its agent says so, whatever its checks say.
Pure: the worker runs the I/O (worker/check_agent.py).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from haproxy_py.checks import status as st
from haproxy_py.checks.settings import DEFAULT_INTER
from haproxy_py.config.model import Global, Proxy, Server

_SEPARATORS = re.compile(r"[ \t,]+")
_WEIGHT = re.compile(r"([0-9]+)%")
DOWN_WORDS = ("down", "fail", "stopped")
# HAProxy 2.6 runs an agent as a two-step tcp-check (send, then expect), whether or not
# `agent-send` is set: an agent that closes without a word fails the second step.
EMPTY_REPLY = "TCPCHK got an empty response at step 2"
ADMIN_WORDS = ("ready", "drain", "maint")


@dataclass(frozen=True, slots=True)
class AgentSettings:
    port: int
    addr: str | None  # None: the server's address
    inter: int  # ms
    send: bytes
    timeout: int  # ms: the whole exchange (`timeout check`, else the interval)


def agent_settings(proxy: Proxy, server: Server, global_: Global) -> AgentSettings | None:
    """The agent of `server`, or None without `agent-check` (or without `agent-port`)."""
    options = server.options
    if not options.get("agent-check") or not options.get("agent-port"):
        return None
    inter = int(options.get("agent-inter") or options.get("inter") or DEFAULT_INTER)
    send = str(options.get("agent-send") or "").encode("utf-8", "surrogateescape")
    check_timeout = proxy.timeouts.get("check")
    return AgentSettings(
        port=int(options["agent-port"]),
        addr=options.get("agent-addr"),
        inter=inter,
        send=send,
        timeout=int(check_timeout or inter),
    )


@dataclass(frozen=True, slots=True)
class AgentReply:
    state: str | None = None  # "up", or one of DOWN_WORDS
    admin: str | None = None  # one of ADMIN_WORDS
    weight: int | None = None  # percent of the configured weight
    maxconn: int | None = None
    description: str = ""
    error: str = ""  # the first word not understood: nothing else applies

    def result(self, duration_ms: int) -> st.CheckResult:
        """What `show stat` (agent_status, last_agt) and the logs make of this reply."""
        if self.error:
            info = f"agent reports an error : {self.error}"
            return st.CheckResult(st.CHECKED, info=info, duration_ms=duration_ms)
        if self.state is None:
            return st.CheckResult(st.CHECKED, duration_ms=duration_ms)
        info = f"via agent : {self.state}"
        if self.description:
            info += f": {self.description}"
        status = st.L7OK if self.state == "up" else st.L7STS
        return st.CheckResult(status, 0, info, duration_ms)


def no_reply(error: int, duration_ms: int) -> st.CheckResult:
    """An agent connected to that answered nothing: it closed (`error` 0: L7RSP, HAProxy's
    words) or the connection broke (SOCKERR with the error's text). Neither changes the
    server's state, as no reply does not."""
    if error:
        return st.CheckResult(st.SOCKERR, info=os.strerror(error), duration_ms=duration_ms)
    return st.CheckResult(st.L7RSP, info=EMPTY_REPLY, duration_ms=duration_ms)


def first_line(data: bytes) -> str:
    """The reply's line: up to the first CR or LF."""
    return re.split(rb"[\r\n]", data, maxsplit=1)[0].decode("latin-1")


def parse_reply(line: str) -> AgentReply:
    description = ""
    state = admin = None
    weight = maxconn = None
    words = [word for word in _SEPARATORS.split(line.strip()) if word]
    for position, word in enumerate(words):
        if word.startswith("#"):  # the rest is a description
            description = " ".join(words[position:])[1:].strip()
            break
        lowered = word.lower()
        matched = _WEIGHT.fullmatch(word)
        if matched:
            weight = int(matched.group(1))
        elif lowered.startswith("maxconn:") and lowered[8:].isdigit():
            maxconn = int(lowered[8:])
        elif lowered in ADMIN_WORDS:
            admin = lowered
        elif lowered == "up" or lowered in DOWN_WORDS:
            state = lowered
        else:
            return AgentReply(error=word)
    return AgentReply(state, admin, weight, maxconn, description)
