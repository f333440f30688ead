"""Login rate limiting: failed attempts counted per (username, client address) in a time window.

It lives in the hub process's memory, which is right for one replica; several replicas each keep
their own count, so the effective limit is multiplied by the number of replicas.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable

# Keys tracked at most: the least recently failing ones are forgotten first, bounding memory.
MAX_TRACKED_KEYS = 10_000

ThrottleKey = tuple[str, str]


class LoginThrottle:
    """Refuses a key's attempts once it failed max_failures times within window_s seconds."""

    def __init__(
        self,
        max_failures: int,
        window_s: float,
        max_tracked: int = MAX_TRACKED_KEYS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._max_failures = max_failures
        self._window_s = window_s
        self._max_tracked = max_tracked
        self._clock = clock
        self._failures: OrderedDict[ThrottleKey, deque[float]] = OrderedDict()
        # Login requests run on the server's worker threads.
        self._lock = threading.Lock()

    def retry_after(self, key: ThrottleKey) -> float:
        """Seconds until `key` may try again; 0 when it may try now."""
        with self._lock:
            failures = self._failures.get(key)
            if failures is None:
                return 0.0
            now = self._clock()
            while failures and failures[0] <= now - self._window_s:
                failures.popleft()
            if len(failures) < self._max_failures:
                return 0.0
            return failures[0] + self._window_s - now

    def record_failure(self, key: ThrottleKey) -> None:
        """Count one failed attempt of `key`."""
        with self._lock:
            failures = self._failures.pop(key, None) or deque(maxlen=self._max_failures)
            failures.append(self._clock())
            self._failures[key] = failures
            while len(self._failures) > self._max_tracked:
                self._failures.popitem(last=False)

    def reset(self, key: ThrottleKey) -> None:
        """Forget `key`'s failures (after a successful login)."""
        with self._lock:
            self._failures.pop(key, None)
