"""worker/gc_tuning.py: a worker's start-up objects are frozen out of the collector's scans.

settle_gc() changes the whole process, so it runs in a child interpreter here; serve() called
in-process by tests (isolation=False) must leave the test process's collector alone.
"""

from __future__ import annotations

import gc
import json
import subprocess
import sys
from pathlib import Path

from tests.helpers import free_port
from tests.worker.test_serve import config_text, running
from worker.gc_tuning import GEN0_THRESHOLD

_CHILD = """
import gc, json
from worker.gc_tuning import settle_gc
garbage = []
garbage.append(garbage)  # a cycle only the collector can reclaim
del garbage
kept = [{"i": i} for i in range(5000)]  # long-lived, as a worker's loaded state
before = (gc.get_freeze_count(), gc.get_threshold())
settle_gc()
young = len(gc.get_objects())
print(json.dumps({"before": before, "frozen": gc.get_freeze_count(),
                  "threshold": gc.get_threshold(), "young": young, "enabled": gc.isenabled()}))
"""


def test_settle_gc_freezes_what_is_loaded_and_spaces_young_collections() -> None:
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", _CHILD], capture_output=True, text=True, check=True, cwd=root
    )
    result = json.loads(done.stdout)
    frozen_before, threshold_before = result["before"]
    assert frozen_before == 0
    assert threshold_before[0] == 700  # Python's default, so the change below is ours
    assert result["frozen"] > 5000  # the loaded objects (and modules) are frozen
    assert result["young"] < 1000  # what a full collection still walks
    assert result["threshold"] == [GEN0_THRESHOLD, threshold_before[1], threshold_before[2]]
    assert result["enabled"] is True  # cycles are still collected


async def test_serve_in_a_test_process_leaves_the_collector_alone(tmp_path: Path) -> None:
    before = (gc.get_freeze_count(), gc.get_threshold())
    text = config_text(f"listen app\n    bind 127.0.0.1:{free_port()}\n    server s1 127.0.0.1:9\n")
    async with running(tmp_path, text):
        assert (gc.get_freeze_count(), gc.get_threshold()) == before
