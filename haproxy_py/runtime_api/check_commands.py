"""Runtime-API commands on health checks and agents: parsing and HAProxy 2.6's answers.

`enable|disable health BE/SRV`, `enable|disable agent BE/SRV`, `set server BE/SRV health
up|stopping|down`, `set server BE/SRV agent up|down`, `set server BE/SRV check-addr IP
[port P]`, `check-port P`, `agent-addr IP [port P]`, `agent-port P`, `agent-send TEXT`.
What they change lives with the worker that owns the server's checks (its settings, its
health counter) and in the health section of the server's state row, whose one writer is
that worker: so a command is checked here by the worker that was asked (`parse_check_command`:
a `CheckCommand`, or HAProxy's exact error text, some ending in one newline as HAProxy's
do), handed to every worker like a map change, and carried out by the owner
(worker/cli_checks.py). Forced states (`health`, `agent`) are `transient`: the master does
not replay them to a worker respawned later, whose checks resume from the row.
Pure: no I/O; the table is a haproxy_py/process/shm.py StatsTable.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from haproxy_py.runtime_api.admin import find_server
from haproxy_py.stats.layout import AGENT_OFF, HEALTH_OFF

if TYPE_CHECKING:
    from haproxy_py.config.model import Config
    from haproxy_py.process.shm import StatsTable

HEALTH_NOT_CONFIGURED = "Health check was not configured on this server, cannot enable.\n\n"
AGENT_NOT_CONFIGURED = "Agent was not configured on this server, cannot enable.\n\n"
TRACKING = "cannot change health on a tracking server.\n\n"
HEALTH_USAGE = "'set server <srv> health' expects 'up', 'stopping', or 'down'.\n\n"
AGENT_USAGE = "'set server <srv> agent' expects 'up' or 'down'.\n\n"
AGENT_OFF_ANSWER = "agent checks are not enabled on this server.\n\n"
# The address and port settings answer in one line, as HAProxy 2.6 does.
CHECKS_OFF_LINE = "health checks are not enabled on this server\n"
AGENT_OFF_LINE = "agent checks are not enabled on this server\n"
NOT_AN_INTEGER = "provided port is not an integer\n"
INVALID_PORT = "provided port is invalid\n"
_SET_SERVER = ("health", "agent", "check-addr", "check-port", "agent-addr", "agent-port",
               "agent-send")  # fmt: skip
_TRANSIENT = ("health", "agent")


@dataclass(frozen=True, slots=True)
class CheckCommand:
    """One accepted command: `kind` is `enable-health`, `disable-agent`..., or the `set
    server` word (`health`, `check-port`...); `value` the state, address or text; `port` the
    new port (-1: unchanged)."""

    kind: str
    backend: str
    server: str
    value: str = ""
    port: int = -1


def is_check_command(words: Sequence[str]) -> bool:
    if words[:1] in (["enable"], ["disable"]) and words[1:2] in (["health"], ["agent"]):
        return True
    return words[:2] == ["set", "server"] and len(words) > 3 and words[3] in _SET_SERVER


def is_transient(words: Sequence[str]) -> bool:
    """A forced state: in force once, not a setting a respawned worker must learn again."""
    return words[:2] == ["set", "server"] and words[3:4] in (["health"], ["agent"])


def configured(
    config: Config, backend: str, server: str, dynamic_check: bool = False
) -> tuple[bool, bool, bool]:
    """(health check, agent, tracking) as the configuration has them for the server; a
    dynamic server's (`dynamic_check`: added with `check`) has no agent nor tracking."""
    proxy = next((p for p in config.proxies if p.name == backend), None)
    model = next((s for s in proxy.servers if s.name == server), None) if proxy else None
    if model is None:
        return dynamic_check, False, False
    agent = bool(model.option("agent-check")) and bool(model.option("agent-port"))
    return bool(model.option("check")), agent, bool(model.option("track"))


def parse_check_command(
    table: StatsTable, config: Config, words: Sequence[str]
) -> CheckCommand | str:
    """The command's change, or HAProxy's answer refusing it."""
    found = find_server(table, words[2] if len(words) > 2 else None)
    if isinstance(found, str):
        return found
    backend, server = found
    slot = table.layout.server(backend, server)
    if slot.dynamic:  # added by `add server` (a configured server of that name: deleted)
        check, agent, tracking = slot.checked, slot.agent, False
    else:
        check, agent, tracking = configured(config, backend, server)
    flags = table.read_health(slot).check_flags
    health_on = check and not flags & HEALTH_OFF
    agent_on = agent and not flags & AGENT_OFF
    if words[0] in ("enable", "disable"):
        if words[0] == "enable" and words[1] == "health" and not check:
            return HEALTH_NOT_CONFIGURED
        if words[0] == "enable" and words[1] == "agent" and not agent:
            return AGENT_NOT_CONFIGURED
        return CheckCommand(f"{words[0]}-{words[1]}", backend, server)
    what, args = words[3], list(words[4:])
    if what == "health":
        if tracking:
            return TRACKING
        if args[:1] not in (["up"], ["stopping"], ["down"]):
            return HEALTH_USAGE
        return CheckCommand("health", backend, server, args[0])
    if what == "agent":
        if not agent_on:
            return AGENT_OFF_ANSWER
        if args[:1] not in (["up"], ["down"]):
            return AGENT_USAGE
        return CheckCommand("agent", backend, server, args[0])
    if what == "agent-send":
        if not agent_on:
            return AGENT_OFF_ANSWER
        return CheckCommand("agent-send", backend, server, args[0] if args else "")
    return _address_command(what, backend, server, args, health_on, agent_on)


def _address_command(
    what: str, backend: str, server: str, args: list[str], health_on: bool, agent_on: bool
) -> CheckCommand | str:
    """check-addr, check-port, agent-addr, agent-port: HAProxy's order of complaints (a
    missing argument, then checks off, then the address, then the port)."""
    if not args:
        needs = "a port" if what.endswith("port") else "an address and optionally a port"
        return f"set server <b>/<s> {what} requires {needs}.\n\n"
    enabled = health_on if what.startswith("check") else agent_on
    if not enabled:
        return CHECKS_OFF_LINE if what.startswith("check") else AGENT_OFF_LINE
    if what.endswith("port"):
        port = parse_port(args[0])
        return port if isinstance(port, str) else CheckCommand(what, backend, server, port=port)
    try:
        address = str(ipaddress.ip_address(args[0]))
    except ValueError:
        return f"invalid addr '{args[0]}'\n"
    port = -1
    if args[1:2] == ["port"]:
        parsed = parse_port(args[2] if len(args) > 2 else "")
        if isinstance(parsed, str):
            return parsed
        port = parsed
    return CheckCommand(what, backend, server, address, port)


def parse_port(text: str) -> int | str:
    """A port 0..65535, or HAProxy's answer (`12abc` is not an integer, -1 is invalid)."""
    digits = text[1:] if text[:1] in ("+", "-") else text
    if not digits.isdigit():
        return NOT_AN_INTEGER
    value = int(text)
    if not 0 <= value <= 65535:
        return INVALID_PORT
    return value
