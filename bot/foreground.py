"""Requests waiting for their answer go first: background work (settling a run, re-rendering its messages)
waits while Slack requests are being answered, so a burst of clicks is acknowledged before the bookkeeping
it caused takes the interpreter's lock. The wait is bounded: background work is delayed, never starved."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

MAX_WAIT_S = 0.1  # updates are coalesced to one a second per message anyway


class Foreground:
    def __init__(self, max_wait_s: float = MAX_WAIT_S) -> None:
        self.max_wait_s = max_wait_s
        self._answering = 0
        self._cond = threading.Condition()

    @property
    def in_flight(self) -> int:
        """How many requests are being answered now."""
        return self._answering

    @contextmanager
    def answering(self) -> Iterator[None]:
        """Around a request Slack waits on (its listener records, acks and returns)."""
        with self._cond:
            self._answering += 1
        try:
            yield
        finally:
            with self._cond:
                self._answering -= 1
                if not self._answering:
                    self._cond.notify_all()

    def let_requests_pass(self) -> bool:
        """Wait until no request is being answered, at most max_wait_s; False when the wait ran out."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._answering, self.max_wait_s)
