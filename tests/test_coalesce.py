"""The per-key coalescer behind settling runs: nothing submitted is lost, bursts run `work` a few times."""

from __future__ import annotations

import threading

import pytest

from bot.coalesce import Coalescer


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, set[int]]] = []
        self.entered = threading.Event()
        self.release = threading.Event()
        self.fail_on: int | None = None

    def work(self, key: str, items: set[int]) -> None:
        self.calls.append((key, set(items)))
        if len(self.calls) == 1:
            self.entered.set()
            assert self.release.wait(5)
        if self.fail_on is not None and self.fail_on in items:
            raise RuntimeError(f"failed on {self.fail_on}")


def test_submits_during_work_return_at_once_and_are_done_in_one_more_run() -> None:
    rec = Recorder()
    co: Coalescer[str, int] = Coalescer(rec.work)
    first = threading.Thread(target=co.submit, args=("run1", [1]))
    first.start()
    assert rec.entered.wait(5)
    for n in (2, 3, 4):
        co.submit("run1", [n])  # returns while the first call is still working
    co.submit("run2", [9])  # another key is not held up by run1
    rec.release.set()
    first.join(5)
    assert not first.is_alive()
    assert rec.calls == [("run1", {1}), ("run2", {9}), ("run1", {2, 3, 4})]


def test_an_error_is_raised_to_its_caller_after_the_others_items_are_done() -> None:
    rec = Recorder()
    rec.fail_on = 1
    co: Coalescer[str, int] = Coalescer(rec.work)
    errors: list[BaseException] = []

    def first() -> None:
        try:
            co.submit("run", [1])
        except RuntimeError as exc:
            errors.append(exc)

    t = threading.Thread(target=first)
    t.start()
    assert rec.entered.wait(5)
    co.submit("run", [2])
    rec.release.set()
    t.join(5)
    assert [str(e) for e in errors] == ["failed on 1"]
    assert rec.calls == [("run", {1}), ("run", {2})]
    # The key is free again: the next submit works on its own.
    co.submit("run", [3])
    assert rec.calls[-1] == ("run", {3})


def test_a_lone_submit_runs_work_once_and_raises_its_error() -> None:
    rec = Recorder()
    rec.release.set()
    rec.fail_on = 5
    co: Coalescer[str, int] = Coalescer(rec.work)
    with pytest.raises(RuntimeError, match="failed on 5"):
        co.submit("k", [5])
    assert rec.calls == [("k", {5})]


def test_wait_idle_waits_for_work_on_any_thread() -> None:
    rec = Recorder()
    co: Coalescer[str, int] = Coalescer(rec.work)
    t = threading.Thread(target=co.submit, args=("run", [1]))
    t.start()
    assert rec.entered.wait(5)
    co.submit("run", [2])  # coalesced: returns while the work for it is still to come
    assert not co.wait_idle(0.05)
    rec.release.set()
    assert co.wait_idle(5)
    assert rec.calls == [("run", {1}), ("run", {2})]
    t.join(5)
