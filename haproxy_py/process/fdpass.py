"""File descriptors over a UNIX socket (SCM_RIGHTS), with a payload, checked on arrival.

Owns the system calls that move descriptors between the master and its workers: listening
sockets, the hand-off memory file, routed CLI sessions. The payload rides in the same
sendmsg() (for the ipc channel: the frame, see haproxy_py/proto/ipc.py).

Rules:
- received descriptors are close-on-exec from birth (MSG_CMSG_CLOEXEC), so no exec in
  between can leak them (house rule 7);
- truncated control data (MSG_CTRUNC: more descriptors than the buffer had room for) is an
  error, and whatever did arrive is closed first: a half-delivered set is never used;
- `try_*` functions make one non-blocking attempt and raise BlockingIOError, so a trio
  caller wraps them with wait_readable/wait_writable; the blocking ones are for plain code;
- callers check what they were given (`check_socket`) before using it.
No trio here: this is the part of haproxy_py/process/ that both sides share.
"""

from __future__ import annotations

import array
import contextlib
import os
import socket
from collections.abc import Sequence

# Linux refuses more than SCM_MAX_FD (253) descriptors in one message.
MAX_FDS_PER_MESSAGE = 253
_INT_SIZE = array.array("i").itemsize


class FdPassError(OSError):
    """Descriptors could not be passed, or what arrived is not what was expected."""


def _ancillary(fds: Sequence[int]) -> list[tuple[int, int, bytes]]:
    if len(fds) > MAX_FDS_PER_MESSAGE:
        raise FdPassError(f"{len(fds)} descriptors in one message (at most {MAX_FDS_PER_MESSAGE})")
    if not fds:
        return []
    return [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds).tobytes())]


def try_send_fds(sock: socket.socket, data: bytes, fds: Sequence[int] = ()) -> int:
    """One non-blocking sendmsg() of `data` with `fds` attached; the number of bytes sent.

    The descriptors go with the first byte, so a partial send has delivered them all: send
    the rest of `data` with plain send() calls. Raises BlockingIOError when the socket is
    full (nothing was sent then).
    """
    if not data:
        raise FdPassError("descriptors need at least one byte of data to travel with")
    return sock.sendmsg([data], _ancillary(fds), socket.MSG_DONTWAIT | socket.MSG_NOSIGNAL)


def send_fds(sock: socket.socket, data: bytes, fds: Sequence[int] = ()) -> None:
    """Send all of `data` with `fds` attached to its first byte, blocking as needed."""
    if not data:
        raise FdPassError("descriptors need at least one byte of data to travel with")
    sent = sock.sendmsg([data], _ancillary(fds), socket.MSG_NOSIGNAL)
    if sent < len(data):
        sock.sendall(data[sent:], socket.MSG_NOSIGNAL)


def _close_all(fds: Sequence[int]) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)


def _recv(sock: socket.socket, bufsize: int, maxfds: int, flags: int) -> tuple[bytes, list[int]]:
    if not 0 <= maxfds <= MAX_FDS_PER_MESSAGE:
        raise ValueError(f"maxfds must be between 0 and {MAX_FDS_PER_MESSAGE}")
    space = socket.CMSG_SPACE(maxfds * _INT_SIZE) if maxfds else 0
    data, ancdata, msg_flags, _ = sock.recvmsg(bufsize, space, flags | socket.MSG_CMSG_CLOEXEC)
    fds: list[int] = []
    for level, kind, cdata in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            usable = len(cdata) - len(cdata) % _INT_SIZE
            fds.extend(array.array("i", cdata[:usable]))
    if msg_flags & socket.MSG_CTRUNC:
        _close_all(fds)
        raise FdPassError(
            f"descriptors truncated: more than {maxfds} were sent with this message "
            f"(the {len(fds)} received were closed)"
        )
    return data, fds


def try_recv_fds(sock: socket.socket, bufsize: int, maxfds: int) -> tuple[bytes, list[int]]:
    """One non-blocking recvmsg(): up to `bufsize` bytes and up to `maxfds` descriptors,
    close-on-exec. b"" means EOF. Raises BlockingIOError when nothing is there yet, and
    FdPassError (after closing what arrived) when more than `maxfds` descriptors came."""
    return _recv(sock, bufsize, maxfds, socket.MSG_DONTWAIT)


def recv_fds(sock: socket.socket, bufsize: int, maxfds: int) -> tuple[bytes, list[int]]:
    """Like try_recv_fds, but waits for data (as the socket's own timeout allows)."""
    return _recv(sock, bufsize, maxfds, 0)


def check_socket(
    fd: int,
    *,
    kind: int = socket.SOCK_STREAM,
    family: int | None = None,
    listening: bool | None = None,
    address: object = None,
) -> socket.socket:
    """Adopt `fd` as a socket after checking it is what the sender said it is.

    Checks SO_TYPE, SO_DOMAIN (when `family` is given), SO_ACCEPTCONN (when `listening` is
    given) and getsockname() (when `address` is given). On any mismatch the descriptor is
    closed and FdPassError names what was wrong; on success the caller owns the socket.
    """
    try:
        sock = socket.socket(fileno=fd)
    except OSError as error:
        _close_all([fd])
        raise FdPassError(f"descriptor {fd} is not a socket ({error.strerror})") from None
    try:
        problem = _socket_problem(sock, kind, family, listening, address)
    except OSError as error:
        problem = f"cannot be inspected ({error.strerror})"
    if problem:
        sock.close()
        raise FdPassError(f"descriptor {fd}: {problem}")
    return sock


def _socket_problem(
    sock: socket.socket, kind: int, family: int | None, listening: bool | None, address: object
) -> str | None:
    got_kind = sock.getsockopt(socket.SOL_SOCKET, socket.SO_TYPE)
    if got_kind != kind:
        return f"socket of type {got_kind}, expected {kind}"
    if family is not None:
        got_family = sock.getsockopt(socket.SOL_SOCKET, socket.SO_DOMAIN)
        if got_family != family:
            return f"socket of family {got_family}, expected {family}"
    if listening is not None:
        accepting = bool(sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN))
        if accepting != listening:
            return "socket is not listening" if listening else "socket is listening"
    if address is not None:
        name = sock.getsockname()
        if name != address:
            return f"socket bound to {name!r}, expected {address!r}"
    return None
