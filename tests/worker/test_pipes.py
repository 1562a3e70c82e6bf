"""worker.pipes: bounded, reused only when empty, counted for `show info`, no fd left behind."""

from __future__ import annotations

import array
import errno
import fcntl
import os
import termios

import pytest

from tests.worker.links import open_fds
from worker.pipes import Pipe, PipePool, default_maxpipes


def bytes_inside(pipe: Pipe) -> int:
    count = array.array("i", [0])
    fcntl.ioctl(pipe.read_fd, termios.FIONREAD, count)
    return count[0]


def is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError as error:
        assert error.errno == errno.EBADF
        return False
    return True


def test_pipes_are_non_blocking_close_on_exec_and_sized() -> None:
    pool = PipePool(4)
    pipe = pool.acquire()
    assert pipe is not None
    for fd in (pipe.read_fd, pipe.write_fd):
        assert os.get_blocking(fd) is False
        assert os.get_inheritable(fd) is False
    assert pipe.size == fcntl.fcntl(pipe.write_fd, fcntl.F_GETPIPE_SZ)
    assert pipe.pending == 0
    pool.release(pipe)
    pool.close()


def test_the_pool_is_bounded_by_maxpipes_and_counts() -> None:
    pool = PipePool(2)
    first, second = pool.acquire(), pool.acquire()
    assert first is not None and second is not None
    assert pool.acquire() is None  # exhausted: the caller copies instead
    assert (pool.in_use, pool.free, pool.created, pool.failed) == (2, 0, 2, 0)
    assert pool.info() == {"Maxpipes": 2, "PipesUsed": 2, "PipesFree": 0}
    pool.release(first)
    assert pool.info() == {"Maxpipes": 2, "PipesUsed": 1, "PipesFree": 1}
    pool.release(second)
    assert (pool.in_use, pool.free) == (0, 2)
    pool.close()


def test_an_empty_pipe_is_reused() -> None:
    pool = PipePool(1)
    pipe = pool.acquire()
    assert pipe is not None
    fds = (pipe.read_fd, pipe.write_fd)
    pool.release(pipe)
    again = pool.acquire()
    assert again is pipe and (again.read_fd, again.write_fd) == fds
    assert pool.created == 1
    pool.release(again)
    pool.close()


def test_a_pipe_with_bytes_stuck_inside_is_closed_not_reused() -> None:
    pool = PipePool(2)
    pipe = pool.acquire()
    assert pipe is not None
    os.write(pipe.write_fd, b"left over")
    pipe.pending = 9
    read_fd, write_fd = pipe.read_fd, pipe.write_fd
    pool.release(pipe)
    assert not is_open(read_fd) and not is_open(write_fd)
    assert (pool.in_use, pool.free) == (0, 0)
    fresh = pool.acquire()
    assert fresh is not None and fresh is not pipe
    assert bytes_inside(fresh) == 0
    assert pool.created == 2
    pool.release(fresh)
    pool.close()


def test_a_pipe_coming_back_to_a_full_pool_is_closed() -> None:
    pool = PipePool(2)
    first, second = pool.acquire(), pool.acquire()
    assert first is not None and second is not None
    pool.maxpipes = 1  # lowered while both were out: in use plus free may not exceed it
    pool.release(first)
    assert pool.free == 0 and not is_open(first.read_fd)
    pool.release(second)
    assert pool.free == 1 and is_open(second.read_fd)
    pool.close()


def test_pipe_size_is_applied_when_the_kernel_allows_it() -> None:
    pool = PipePool(1, pipe_size=131072)
    pipe = pool.acquire()
    assert pipe is not None
    assert pipe.size == fcntl.fcntl(pipe.write_fd, fcntl.F_GETPIPE_SZ) == 131072
    pool.release(pipe)
    pool.close()


def test_a_refused_pipe_size_is_skipped_silently(monkeypatch: pytest.MonkeyPatch) -> None:
    real_fcntl = fcntl.fcntl

    def refuse_resizing(fd: int, command: int, *args: int) -> int:
        if command == fcntl.F_SETPIPE_SZ:
            raise PermissionError(errno.EPERM, "above fs.pipe-max-size")
        return real_fcntl(fd, command, *args)

    monkeypatch.setattr(fcntl, "fcntl", refuse_resizing)
    pool = PipePool(1, pipe_size=1 << 20)
    pipe = pool.acquire()
    assert pipe is not None
    assert pipe.size == real_fcntl(pipe.write_fd, fcntl.F_GETPIPE_SZ)
    assert (pool.created, pool.failed) == (1, 0)
    pool.release(pipe)
    pool.close()


def test_a_pipe_the_kernel_refuses_counts_as_failed(monkeypatch: pytest.MonkeyPatch) -> None:
    def out_of_fds(flags: int) -> tuple[int, int]:
        raise OSError(errno.EMFILE, "Too many open files")

    monkeypatch.setattr(os, "pipe2", out_of_fds)
    pool = PipePool(4)
    assert pool.acquire() is None
    assert (pool.in_use, pool.created, pool.failed) == (0, 0, 1)


def test_close_closes_free_pipes_now_and_borrowed_ones_on_return() -> None:
    before = open_fds()
    pool = PipePool(4)
    pipes = [pool.acquire() for _ in range(3)]
    assert all(pipes)
    pool.release(pipes[0])  # type: ignore[arg-type]
    pool.close()
    assert not is_open(pipes[0].read_fd)  # type: ignore[union-attr]
    assert is_open(pipes[1].read_fd)  # type: ignore[union-attr]  # still borrowed: left alone
    assert pool.acquire() is None
    for pipe in pipes[1:]:
        pool.release(pipe)  # type: ignore[arg-type]
    assert (pool.in_use, pool.free) == (0, 0)
    assert open_fds() == before


def test_default_maxpipes_is_a_quarter_of_maxconn() -> None:
    assert default_maxpipes(4000) == 1000
    assert PipePool.from_settings(maxpipes=None, maxconn=100).maxpipes == 25
    assert PipePool.from_settings(maxpipes=7, maxconn=100).maxpipes == 7
    assert PipePool(0).acquire() is None
    with pytest.raises(ValueError, match="maxpipes"):
        PipePool(-1)
