"""Garbage-collector settings for the long-running bot process (called once the app is built)."""

from __future__ import annotations

import gc

# Young-generation threshold (CPython's default is 700).
YOUNG_THRESHOLD = 10_000


def settle_heap() -> None:
    """Freeze what start-up loaded, and collect the young generation less often.

    Start-up objects (modules, templates, the app) live as long as the process: frozen, the collector's full
    passes skip them (one took 77 ms in the middle of a click burst). A probe round or a click burst keeps
    thousands of objects in flight for a few hundred ms: at 700 they outlive a dozen young collections, are
    promoted, and set off a full pass every other probe round (30-90 ms, collecting nothing; bench/probes.py).
    """
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
