"""hub.heap: the collector settings `vigie-hub serve` applies once started."""

from __future__ import annotations

import subprocess
import sys

from hub.heap import MIDDLE_THRESHOLD, OLD_THRESHOLD, YOUNG_THRESHOLD
from tests.hubserver import subprocess_env

# In a fresh interpreter: freezing this test process's heap would outlive the test.
SETTLE_AND_REPORT = (
    "import gc, hub.app; from hub.heap import settle_heap; settle_heap(); "
    "print(gc.get_freeze_count(), *gc.get_threshold(), sum(gc.get_count()))"
)


def test_settle_heap_freezes_start_up_objects_and_widens_the_generations() -> None:
    result = subprocess.run(
        [sys.executable, "-c", SETTLE_AND_REPORT],
        env=subprocess_env({}),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    frozen, young, middle, old, pending = map(int, result.stdout.split())
    # The hub's modules leave over 100,000 objects; all of them are now out of every collection.
    assert frozen > 100_000
    assert pending < 100
    assert (young, middle, old) == (YOUNG_THRESHOLD, MIDDLE_THRESHOLD, OLD_THRESHOLD)
