"""The worker's cyclic garbage collector settings: what is loaded at start-up is never scanned.

A worker builds everything it will ever need before serving (configuration model, compiled
rules, maps, error pages, every module): tens of thousands of long-lived objects, often far
more with big maps. Python's collector walks all of them in each full (generation 2)
collection, which runs now and then under load and stops every session for as long as it
takes: a pause that lands straight in the latency tail. `settle_gc()` is called once, when
the worker is loaded and isolated, just before it serves:
- one full collection, so that start-up garbage is not kept forever, then `gc.freeze()`:
  the survivors move to the permanent generation, which collections never scan;
- generation 0's threshold raised from 700 to GEN0_THRESHOLD allocations: the objects of a
  request die by reference counting, so young collections find little garbage and mostly
  cost time; they now come ten times less often (each walks at most the young objects);
- the older generations keep Python's ratios.
Nothing here turns the collector off: reference cycles (exceptions with tracebacks, closures)
are still reclaimed.
"""

from __future__ import annotations

import gc

GEN0_THRESHOLD = 7000  # Python's default is 700


def settle_gc() -> None:
    """Collect once, freeze the survivors, and space out young collections."""
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GEN0_THRESHOLD, gen1, gen2)
