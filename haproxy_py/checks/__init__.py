"""Health checks, pure and sans-IO: settings, the rise/fall machine, probes, results, words.

- settings.py: a server's check settings from the configuration model;
- health.py: HAProxy's health counter (rise/fall) and the UP/DOWN transitions;
- probe.py: plain connect, `option tcp-check` and `option httpchk` plans, and the
  generator that runs one (the worker supplies the sockets; wire.py: the I/O it asks for);
  http.py: request bytes and a response reader; protocols.py: the redis, smtp, pgsql,
  ldap and mysql dialogues;
- status.py: check status codes (L4OK, L7STS...) and results; messages.py: the log lines;
- shared.py: who checks a server (one owner per server) and the shared row a result
  writes; track.py: `track` chains; observe.py: `observe`/`on-error`; agent.py: agent
  checks' settings and replies.
The worker side (scheduling, sockets, applying transitions to the farm) is worker/checks.py
and worker/check_*.py.
"""

from __future__ import annotations

from haproxy_py.checks.health import DOWN, UP, Health, Outcome
from haproxy_py.checks.probe import (
    HTTP_CHECK,
    PLAIN,
    TCP_CHECK,
    Connect,
    IoError,
    Plan,
    Receive,
    Send,
    Step,
    plan_for_proxy,
    run,
)
from haproxy_py.checks.settings import CheckSettings, check_settings
from haproxy_py.checks.status import STATUSES, CheckResult, Status

__all__ = [
    "DOWN",
    "HTTP_CHECK",
    "PLAIN",
    "STATUSES",
    "TCP_CHECK",
    "UP",
    "CheckResult",
    "CheckSettings",
    "Connect",
    "Health",
    "IoError",
    "Outcome",
    "Plan",
    "Receive",
    "Send",
    "Status",
    "Step",
    "check_settings",
    "plan_for_proxy",
    "run",
]
