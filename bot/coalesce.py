"""Per-key coalescing of follow-up work: one thread at a time works for a key and takes in what others add."""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
T = TypeVar("T", bound=Hashable)


@dataclass
class _Pending(Generic[T]):
    items: set[T] = field(default_factory=set)
    again: bool = False


class Coalescer(Generic[K, T]):
    """`submit(key, items)` guarantees that `work(key, items')` starts after the call, with `items` in
    `items'`. If a thread is already working for the key, the call returns at once and that thread runs
    `work` once more for everything added meanwhile, so a burst costs a few runs of `work`, not one each,
    and callers never queue behind each other's locks."""

    def __init__(self, work: Callable[[K, set[T]], None]) -> None:
        self._work = work
        self._lock = threading.Condition()
        self._pending: dict[K, _Pending[T]] = {}

    def submit(self, key: K, items: Iterable[T]) -> None:
        with self._lock:
            entry = self._pending.get(key)
            if entry is not None:
                entry.items.update(items)
                entry.again = True
                return
            entry = self._pending[key] = _Pending(set(items))
        error: Exception | None = None
        while True:
            with self._lock:
                batch, entry.items, entry.again = entry.items, set(), False
            try:
                self._work(key, batch)
            except Exception as exc:  # others' items still get their run; the first error is raised after
                error = error or exc
            with self._lock:
                if not entry.again:
                    del self._pending[key]
                    self._lock.notify_all()
                    break
        if error is not None:
            raise error

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no key is being worked on (the work may run on threads nobody else tracks)."""
        with self._lock:
            return self._lock.wait_for(lambda: not self._pending, timeout)
