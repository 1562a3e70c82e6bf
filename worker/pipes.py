"""The worker's pool of kernel pipes for splicing (`maxpipes`, `tune.pipesize`).

A relay borrows one pipe per direction only while bytes are in flight and gives it back as soon as
the pipe is drained, so the pool is sized for busy connections, not open ones. Rules of this file:
- plain Python, no trio: acquire() and release() never block and never raise;
- a pipe goes back to the free list only when it is empty (the borrower keeps `pending` exact);
  one returned with bytes stuck in it is closed, never handed out again;
- at most `maxpipes` pipes exist at once (in use plus free); when that many are in use, or the
  kernel refuses a new one, acquire() returns None and the caller copies through a buffer instead;
- every fd is O_NONBLOCK and O_CLOEXEC from birth (pipe2), so no child or re-exec inherits one.
"""

from __future__ import annotations

import contextlib
import fcntl
import os

# Linux's default pipe capacity, used if F_GETPIPE_SZ is unavailable.
_DEFAULT_PIPE_SIZE = 65536


def default_maxpipes(maxconn: int) -> int:
    """`maxpipes` when the configuration leaves it unset: a quarter of `maxconn`, as HAProxy."""
    return max(0, maxconn // 4)


class Pipe:
    """One pipe pair. `size` is its real capacity; `pending` counts the bytes inside it now."""

    __slots__ = ("pending", "read_fd", "size", "write_fd")

    def __init__(self, read_fd: int, write_fd: int, size: int) -> None:
        self.read_fd = read_fd
        self.write_fd = write_fd
        self.size = size
        self.pending = 0

    def close(self) -> None:
        for fd in (self.read_fd, self.write_fd):
            if fd >= 0:
                os.close(fd)
        self.read_fd = self.write_fd = -1


class PipePool:
    """Pipes for splicing, bounded by `maxpipes`; counters feed `show info`.

    `pipe_size` (tune.pipesize) is applied with F_SETPIPE_SZ when the kernel allows it and silently
    left at the default otherwise (an unprivileged process may not exceed fs.pipe-max-size).
    """

    __slots__ = ("_closed", "_free", "created", "failed", "in_use", "maxpipes", "pipe_size")

    def __init__(self, maxpipes: int, *, pipe_size: int | None = None) -> None:
        if maxpipes < 0:
            raise ValueError(f"maxpipes must be 0 or more, not {maxpipes}")
        self.maxpipes = maxpipes
        self.pipe_size = pipe_size
        self._free: list[Pipe] = []
        self._closed = False
        self.in_use = 0
        self.created = 0
        self.failed = 0

    @classmethod
    def from_settings(
        cls, *, maxpipes: int | None, maxconn: int, pipe_size: int | None = None
    ) -> PipePool:
        """The pool for the global section's `maxpipes` (default maxconn/4) and `tune.pipesize`."""
        count = default_maxpipes(maxconn) if maxpipes is None else maxpipes
        return cls(count, pipe_size=pipe_size)

    @property
    def free(self) -> int:
        return len(self._free)

    def info(self) -> dict[str, int]:
        """The `show info` fields this pool owns."""
        return {"Maxpipes": self.maxpipes, "PipesUsed": self.in_use, "PipesFree": len(self._free)}

    def acquire(self) -> Pipe | None:
        """An empty pipe, or None when the pool is exhausted, closed, or the kernel said no."""
        if self._closed or self.in_use >= self.maxpipes:
            return None
        if self._free:
            pipe = self._free.pop()  # LIFO: the most recently used pipe is the warmest
        else:
            pipe = self._create()
            if pipe is None:
                return None
        self.in_use += 1
        return pipe

    def release(self, pipe: Pipe) -> None:
        """Take a pipe back: kept if empty and there is room, closed otherwise."""
        self.in_use -= 1
        if pipe.pending or self._closed or self.in_use + len(self._free) >= self.maxpipes:
            # Bytes left in a pipe belong to a connection that is gone: never reuse it.
            pipe.close()
        else:
            self._free.append(pipe)

    def close(self) -> None:
        """Close the free pipes now; pipes still in use are closed when they come back.

        A pipe in use is never closed under its borrower: its fd numbers could be reused at once
        by another socket, and the borrower's next splice would then move someone else's bytes.
        """
        self._closed = True
        while self._free:
            self._free.pop().close()

    def _create(self) -> Pipe | None:
        try:
            read_fd, write_fd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:  # EMFILE/ENFILE: out of fds; the caller copies instead
            self.failed += 1
            return None
        if self.pipe_size:
            # EPERM above fs.pipe-max-size (unprivileged), ENOMEM...: keep the default size.
            with contextlib.suppress(OSError):
                fcntl.fcntl(write_fd, fcntl.F_SETPIPE_SZ, self.pipe_size)
        try:
            size = fcntl.fcntl(write_fd, fcntl.F_GETPIPE_SZ)
        except (OSError, AttributeError):
            size = _DEFAULT_PIPE_SIZE
        self.created += 1
        return Pipe(read_fd, write_fd, size)
