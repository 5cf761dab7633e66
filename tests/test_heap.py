"""The bot's collector settings (bot/heap.py); their effect is measured by bench/probes.py and bench/clicks.py."""

from __future__ import annotations

import gc

from bot.heap import YOUNG_THRESHOLD, settle_heap


def test_settle_heap_freezes_what_is_loaded_and_collects_the_young_less_often() -> None:
    before = gc.get_threshold()
    loaded = [object(), {"kept": [1, 2]}]  # tracked containers alive at start-up
    try:
        gc.set_threshold(700, before[1], before[2])
        gc.unfreeze()
        settle_heap()
        assert gc.get_threshold() == (YOUNG_THRESHOLD, before[1], before[2])
        assert gc.get_freeze_count() >= len(loaded)
        assert not any(obj is loaded[1] for obj in gc.get_objects())  # frozen: no pass scans it
    finally:
        gc.set_threshold(*before)
