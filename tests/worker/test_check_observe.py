"""`observe layer7`'s failure hook: how a ServerFailed was raised decides what it counts as."""

from __future__ import annotations

from haproxy_py.checks.observe import BAD_HEADERS, CLOSED, READ_ERROR, READ_TIMEOUT, Consecutive
from haproxy_py.proto.http1.events import H1Error
from haproxy_py.stats.layout import HANAFAIL
from worker.check_observe import _failure_hook
from worker.http_io import ServerFailed


class _Counters:
    def __init__(self) -> None:
        self.row = [0] * (HANAFAIL + 1)


class _Server:
    def __init__(self) -> None:
        self.counters = _Counters()


def _raised(status: int, inner: BaseException | None, *, again: bool = False) -> ServerFailed:
    """A ServerFailed raised as http_session.py raises them: inside `except` of what broke
    (`from None`, as there), and re-raised once more as the fast path does (`again`)."""
    try:
        try:
            if inner is not None:
                try:
                    raise inner
                except (OSError, H1Error):
                    raise ServerFailed(status, True) from None
            raise ServerFailed(status, True)
        except ServerFailed as failure:
            if again:
                raise ServerFailed(failure.status, False) from None
            raise
    except ServerFailed as final:
        return final


def test_each_failure_is_counted_with_haproxys_words() -> None:
    server = _Server()
    trips: list[str] = []
    hook = _failure_hook(server, Consecutive(1), trips.append)  # type: ignore[arg-type]
    hook(_raised(502, ConnectionResetError()))
    hook(_raised(502, None))  # the server's EOF: a ConnectionClosed event
    hook(_raised(502, H1Error(502, "connection closed inside the response head")))
    hook(_raised(502, H1Error(502, "invalid Content-Length"), again=True))
    hook(_raised(504, None))
    hook(_raised(0, ConnectionResetError()))  # the response was under way: not counted
    hook(_raised(503, None))  # no connection: counted by the connect hook already
    assert trips == [READ_ERROR, CLOSED, CLOSED, BAD_HEADERS, READ_TIMEOUT]
    assert server.counters.row[HANAFAIL] == 5


def test_a_run_below_the_limit_is_not_a_trip() -> None:
    server = _Server()
    trips: list[str] = []
    counter = Consecutive(3)
    hook = _failure_hook(server, counter, trips.append)  # type: ignore[arg-type]
    hook(_raised(502, ConnectionResetError()))
    hook(_raised(504, None))
    assert trips == [] and counter.errors == 2
    hook(_raised(0, ConnectionResetError()))  # says nothing: the run goes on
    hook(_raised(502, None))
    assert trips == [CLOSED] and server.counters.row[HANAFAIL] == 1
