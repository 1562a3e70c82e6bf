"""`agent-check` at run time: asking a server's agent, and applying what it says.

The worker owning a server's checks also asks its agent (haproxy_py/checks/agent.py for
the settings and the reply's meaning), every `agent-inter`: connect, send `agent-send`,
read one line under the agent's timeout. The reply's administrative words (`ready`,
`drain`, `maint`) and weight (`NN%` of the configured weight) are changes of the admin
section, whose single writer is the master: they go through `SharedState.admin()` like a
runtime-API command, and only when they would change something. Its verdict (`up`,
`down`...) is the agent's share of the server's UP/DOWN state (worker/checks.py
`ServerCheck.up`), written with the check results and logged as HAProxy logs it.
Rules: an agent that cannot be reached or answers nothing useful changes nothing; every
wait has a deadline; the socket is closed on every way out.
"""

from __future__ import annotations

import errno
import os
import socket
from collections.abc import Callable

import trio
from trio.lowlevel import wait_readable

from haproxy_py.checks import status as st
from haproxy_py.checks.agent import DOWN_WORDS, AgentReply, first_line, no_reply, parse_reply
from haproxy_py.runtime_api.admin import AdminOp
from haproxy_py.stats.layout import FDRAIN, FMAINT
from worker.connecting import connect_socket

MAX_REPLY = 1024  # bytes read from an agent at most


async def serve_agent(
    check: object, shared: object, offset: float, commit: Callable, announce: Callable
) -> None:
    """Ask the agent every `agent-inter`; `commit` and `announce` (worker/checks.py) write
    and log the server's verdict, as for a check result."""
    await trio.sleep(offset)
    while not check.removed:  # type: ignore[attr-defined]  # `del server`: the task ends
        settings = check.agent  # type: ignore[attr-defined]  # `set server .. agent-*`
        if check.agent_disabled:  # type: ignore[attr-defined]  # `disable agent`
            await trio.sleep(settings.inter / 1000)
            continue
        reply, result = await ask_agent(check)
        if check.removed:  # type: ignore[attr-defined]  # deleted meanwhile: its row is not its own
            return
        was_up = check.up  # type: ignore[attr-defined]
        check.agent_last = result  # type: ignore[attr-defined]
        if reply is not None and not reply.error and reply.state is not None:
            check.agent_up = reply.state not in DOWN_WORDS  # type: ignore[attr-defined]
        commit(check, was_up, shared)  # type: ignore[arg-type]
        announce(check, was_up, result)  # type: ignore[arg-type]
        disabled = check.agent_disabled  # type: ignore[attr-defined]  # while it was asked
        if reply is not None and not reply.error and shared is not None and not disabled:
            await _apply_admin(check, reply, shared)
        await trio.sleep(settings.inter / 1000)


async def ask_agent(check: object) -> tuple[AgentReply | None, st.CheckResult]:
    """The agent's parsed reply (None when there was none) and the result it makes."""
    settings = check.agent  # type: ignore[attr-defined]
    target = check.server.target  # type: ignore[attr-defined]
    started = trio.current_time()
    deadline = started + settings.timeout / 1000
    host = settings.addr or target.host
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock, error = await connect_socket(family, (host, settings.port), deadline)
    if sock is None:
        status = st.L4TOUT if error == errno.ETIMEDOUT else st.L4CON
        info = "" if error == errno.ETIMEDOUT else os.strerror(error)
        return None, st.CheckResult(status, info=info, duration_ms=_ms(started))
    try:
        data, error = await _exchange(sock, settings.send, deadline)
    finally:
        sock.close()
    if data is None:
        return None, st.CheckResult(st.L7TOUT, duration_ms=_ms(started))
    if not data:
        return None, no_reply(error, _ms(started))
    reply = parse_reply(first_line(data))
    return reply, reply.result(_ms(started))


def _ms(started: float) -> int:
    return int((trio.current_time() - started) * 1000)


async def _exchange(sock: socket.socket, send: bytes, deadline: float) -> tuple[bytes | None, int]:
    """Send, then read up to a line end or the close: (what came, None on timeout; the
    errno that ended it, 0 for a close or a line)."""
    data = b""
    with trio.move_on_at(deadline):
        if send:
            try:
                sock.send(send)  # a few bytes into an empty socket buffer
            except OSError as exc:
                return b"", exc.errno or errno.EIO
        while len(data) < MAX_REPLY:
            try:
                chunk = sock.recv(MAX_REPLY)
            except BlockingIOError:
                await wait_readable(sock)
                continue
            except OSError as exc:
                return data, exc.errno or errno.EIO
            if not chunk:
                return data, 0
            data += chunk
            if b"\n" in data or b"\r" in data:
                return data, 0
        return data, 0
    return None, 0


async def _apply_admin(check: object, reply: AgentReply, shared: object) -> None:
    """Ask the admin section's writer for what the reply changes, if anything."""
    slot = check.slot  # type: ignore[attr-defined]
    if slot is None:
        return
    admin = shared.table.read_admin(slot)  # type: ignore[attr-defined]
    set_bits = clear_bits = 0
    if reply.admin == "maint" and not admin.admin_state & FMAINT:
        set_bits = FMAINT
    elif reply.admin == "drain" and not admin.admin_state & FDRAIN:
        set_bits = FDRAIN
    elif reply.admin == "ready" and admin.admin_state & (FMAINT | FDRAIN):
        clear_bits = admin.admin_state & (FMAINT | FDRAIN)
    weight = -1
    if reply.weight is not None:
        wanted = admin.iweight * reply.weight // 100
        if wanted != admin.uweight:
            weight = min(wanted, 256)
    if set_bits or clear_bits or weight >= 0:
        op = AdminOp(slot.backend, slot.name, set_bits, clear_bits, weight)
        await shared.admin(op)  # type: ignore[attr-defined]
