"""Coalesces message updates: a burst of clicks becomes about one chat.update per message per second.

Services mark messages dirty in their transaction; listeners hand the ids here after ack(). A single worker
thread renders from the database at send time, so the last update always matches the database.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable

from bot.slack.publisher import Publisher

log = logging.getLogger(__name__)


class MessageUpdater:
    def __init__(
        self,
        publisher: Publisher,
        *,
        interval_s: float = 1.0,
        sweep_s: float = 5.0,
        monotonic: Callable[[], float] = time.monotonic,
        before_send: Callable[[], object] = lambda: None,
    ) -> None:
        self.publisher = publisher
        self._before_send = before_send  # e.g. Foreground.let_requests_pass: renders wait for acks
        self.interval_s = interval_s
        self.sweep_s = sweep_s
        self._monotonic = monotonic
        self._due: dict[int, float] = {}  # message id -> earliest send time
        self._last_sent: dict[int, float] = {}
        self._busy = 0
        self._cond = threading.Condition()
        self._stop = False
        self._thread: threading.Thread | None = None
        self._next_sweep = 0.0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="message-updater", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        if self._thread:
            self._thread.join(timeout=10)

    def notify(self, message_ids: Iterable[int]) -> None:
        now = self._monotonic()
        with self._cond:
            for mid in message_ids:
                earliest = max(now, self._last_sent.get(mid, -1e9) + self.interval_s)
                self._due[mid] = min(self._due.get(mid, earliest), earliest)
            self._cond.notify_all()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until nothing is due or in flight (tests and shutdown)."""
        deadline = self._monotonic() + timeout
        with self._cond:
            while self._due or self._busy:
                left = deadline - self._monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.05))
        return True

    def _loop(self) -> None:
        while True:
            with self._cond:
                if self._stop:
                    return
                now = self._monotonic()
                if self.sweep_s and now >= self._next_sweep:
                    self._next_sweep = now + self.sweep_s
                    sweep = True
                else:
                    sweep = False
                ready = []
                for m, t in list(self._due.items()):
                    # Due, and a full interval after its last send actually went out (not just began).
                    earliest = max(t, self._last_sent.get(m, -1e9) + self.interval_s)
                    if earliest <= now:
                        ready.append(m)
                    else:
                        self._due[m] = earliest
                if not ready and not sweep:
                    wake = min([*self._due.values(), self._next_sweep]) if self.sweep_s else None
                    if wake is None and self._due:
                        wake = min(self._due.values())
                    self._cond.wait(None if wake is None else max(0.0, wake - now))
                    continue
                for m in ready:
                    del self._due[m]
                    self._last_sent[m] = now  # a change arriving mid-send waits a full interval
                self._busy += 1
            try:
                if sweep:
                    self._sweep()
                for mid in sorted(ready):
                    self._send(mid)
            finally:
                with self._cond:
                    self._busy -= 1
                    self._cond.notify_all()

    def _send(self, mid: int) -> None:
        with self._cond:  # sends of one batch go out one after another: the interval counts from this one
            self._last_sent[mid] = self._monotonic()
        try:
            self._before_send()
            done = self.publisher.publish(mid)
        except Exception:  # keep the worker alive; the sweep retries
            log.exception("updating message %s failed", mid)
            done = False
        now = self._monotonic()
        with self._cond:
            if not done:
                self._due.setdefault(mid, now + max(self.interval_s, 1.0))

    def _sweep(self) -> None:
        try:
            self.publisher.db.checkpoint()
            missed = self.publisher.pending()
        except Exception:
            log.exception("sweep failed")
            return
        if missed:
            self.notify(missed)
