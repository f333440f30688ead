"""Python's garbage collector tuned for a long-running hub: fewer and shorter pauses.

A full collection walks every object the process holds, and every thread stands still meanwhile:
80 to 200 ms in a hub serving 1,000 WebSocket clients, which made the p99 of both the stream and
the spatial queries (docs/performance.md). Two causes, two remedies:
- the objects start-up leaves (modules, models, routes: about 155,000) live as long as the process,
  so they are frozen out of every collection;
- CPython collects the youngest objects every 700 allocations, hundreds of times a second at that
  load, so objects living a few milliseconds (a frame being sent, a batch being stored) reach the
  oldest generation and bring on full collections; the young generation is made larger.
"""

from __future__ import annotations

import gc

# Allocations between two collections of the youngest generation (CPython: 700), and how many
# collections of each generation trigger one of the next (CPython: 10 and 10).
YOUNG_THRESHOLD = 10_000
MIDDLE_THRESHOLD = 20
OLD_THRESHOLD = 100


def settle_heap() -> None:
    """Collect once, freeze what is left out of later collections, and widen the generations."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, MIDDLE_THRESHOLD, OLD_THRESHOLD)
