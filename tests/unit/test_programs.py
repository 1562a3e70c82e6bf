"""`program` sections: specs from the configuration, HAProxy's refusals, the reload plan."""

from __future__ import annotations

from pathlib import Path

import trio

from master.programs import (
    ProgramProcess,
    ProgramSpec,
    plan_reload,
    program_problems,
    program_specs,
)
from tests.helpers import load_text

TEXT = """program a
    command sleep 10
program b
    command sh -c "sleep 300"
    no option start-on-reload
    user nobody
program c
    user nobody
"""


def test_specs_and_problems(tmp_path: Path) -> None:
    config = load_text(tmp_path, TEXT).config
    assert config is not None
    assert program_specs(config) == [
        ProgramSpec("a", ("sleep", "10")),
        ProgramSpec("b", ("sh", "-c", "sleep 300"), "nobody", None, False),
    ]
    assert program_problems(config, master_worker=False) == [
        "config : Can't use a 'program' section without master worker mode."
    ]
    assert program_problems(config, master_worker=True) == [
        "config : The program section 'c' lacks a command to launch."
    ]


def test_no_program_no_problem(tmp_path: Path) -> None:
    config = load_text(tmp_path, "global\n    nbthread 1\n").config
    assert config is not None
    assert program_problems(config, master_worker=False) == []
    assert program_specs(config) == []


def _running(spec: ProgramSpec, pid: int, old: bool = False) -> ProgramProcess:
    return ProgramProcess(spec, pid, -1, 0.0, old=old, exited=trio.Event())


def test_reload_plan() -> None:
    a = ProgramSpec("a", ("sleep", "1"))
    keep = ProgramSpec("k", ("sleep", "2"), start_on_reload=False)
    gone = ProgramSpec("g", ("sleep", "3"), start_on_reload=False)
    leaving = ProgramSpec("a", ("sleep", "1"))
    running = [_running(a, 1), _running(keep, 2), _running(gone, 3), _running(leaving, 4, True)]
    changed = ProgramSpec("k", ("sleep", "20"), start_on_reload=False)
    new = ProgramSpec("n", ("sleep", "5"))
    kept, stopped, start = plan_reload(running, [a, keep, new])
    assert [p.pid for p in kept] == [2]  # no option start-on-reload, unchanged
    assert sorted(p.pid for p in stopped) == [1, 3]  # restarted, and removed from the config
    assert start == [a, new]
    kept, stopped, start = plan_reload(running, [changed])  # a changed command restarts
    assert kept == [] and start == [changed]
    assert sorted(p.pid for p in stopped) == [1, 2, 3]
