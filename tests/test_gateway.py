"""The gateway against the Slack emulator: it retries 429 (honouring Retry-After), 5xx and dropped
connections, and gives up after max_retries."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from slack_sdk.errors import SlackApiError

from bot.sandbox import RESET, SlackEmulator
from bot.slack.gateway import Gateway

CHANNEL = "C0DEPLOY"


@pytest.fixture
def emu() -> Iterator[SlackEmulator]:
    with SlackEmulator(signing_secret="s") as emu:
        emu.add_user("U1", "alice")
        emu.add_usergroup("S1", "deployers", ["U1"])
        yield emu


@pytest.fixture
def gateway(emu: SlackEmulator) -> Gateway:
    return Gateway(token="xoxb-test", base_url=emu.api_url)


def faults(emu: SlackEmulator, method: str) -> list[str | None]:
    return [c.fault for c in emu.calls_to(method)]


def test_429_is_retried_after_the_time_slack_asked_for(emu: SlackEmulator, gateway: Gateway) -> None:
    emu.fail_next("chat.postMessage", status=429, retry_after=1)
    started = time.monotonic()
    ts = gateway.post(CHANNEL, "hello")
    waited = time.monotonic() - started
    assert emu.message(CHANNEL, ts) is not None
    assert faults(emu, "chat.postMessage") == ["429", None]
    assert waited >= 1.0, f"retried after {waited:.2f} s, before Retry-After: 1 ran out"


def test_server_errors_and_dropped_connections_are_retried(emu: SlackEmulator, gateway: Gateway) -> None:
    emu.fail_next("chat.postMessage", status=500)
    emu.fail_next("chat.postMessage", status=503)
    ts = gateway.post(CHANNEL, "after two server errors")
    assert emu.message(CHANNEL, ts) is not None
    emu.fail_next("usergroups.users.list", status=RESET)
    assert gateway.usergroup_members("S1") == {"U1"}
    assert faults(emu, "chat.postMessage") == ["500", "503", None]
    assert faults(emu, "usergroups.users.list") == ["reset", None]


def test_retries_give_up_after_max_retries(emu: SlackEmulator) -> None:
    gateway = Gateway(token="xoxb-test", base_url=emu.api_url, max_retries=1)
    emu.fail_next("chat.update", status=429, retry_after=0, count=2)
    with pytest.raises(SlackApiError) as caught:
        gateway.update(CHANNEL, "1.000100", "x", [])
    assert caught.value.response.status_code == 429
    assert faults(emu, "chat.update") == ["429", "429"]
