"""After-ack work waits while Slack requests are being answered, but never longer than its bound."""

from __future__ import annotations

import threading
import time

from bot.foreground import Foreground


def test_background_work_waits_for_the_request_being_answered() -> None:
    gate = Foreground(max_wait_s=5)
    inside, release, passed = threading.Event(), threading.Event(), threading.Event()

    def request() -> None:
        with gate.answering():
            inside.set()
            assert release.wait(5)

    def background() -> None:
        assert gate.let_requests_pass()
        passed.set()

    answering = threading.Thread(target=request)
    answering.start()
    assert inside.wait(5)
    waiting = threading.Thread(target=background)
    waiting.start()
    assert not passed.wait(0.2), "background work ran while a request was being answered"
    release.set()
    assert passed.wait(5)
    answering.join(5)
    waiting.join(5)


def test_background_work_is_delayed_never_starved() -> None:
    gate = Foreground(max_wait_s=0.05)
    with gate.answering():
        started = time.monotonic()
        assert gate.let_requests_pass() is False
        assert 0.04 <= time.monotonic() - started < 1
    started = time.monotonic()
    assert gate.let_requests_pass() is True
    assert time.monotonic() - started < 0.04
