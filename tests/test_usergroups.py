"""User group members are answered from memory, so a permission check never makes a click wait on Slack:
fetched at start-up, refreshed in the background when old, and never fetched in the request itself."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from bot.errors import Unavailable
from bot.sandbox import SlackEmulator
from bot.slack.gateway import Gateway
from bot.slack.usergroups import TTL_S, UsergroupDirectory


class Ticks:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def emu() -> Iterator[SlackEmulator]:
    with SlackEmulator(signing_secret="s") as emu:
        emu.add_usergroup("S1", "deployers", ["U1", "U2"])
        emu.add_usergroup("S2", "managers", ["U3"])
        yield emu


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(max_workers=2) as pool:
        yield pool


def lookups(emu: SlackEmulator) -> list[str | None]:
    return [c.fault for c in emu.calls_to("usergroups.users.list")]


def wait_for(check: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def known(groups: UsergroupDirectory, group_id: str) -> bool:
    try:
        groups.members(group_id)
    except Unavailable:
        return False
    return True


def directory(emu: SlackEmulator, pool: ThreadPoolExecutor, ticks: Ticks | None = None) -> UsergroupDirectory:
    gateway = Gateway(token="xoxb-test", base_url=emu.api_url)
    return UsergroupDirectory(gateway, pool.submit, monotonic=ticks or time.monotonic)


def test_warmed_groups_answer_without_asking_slack(emu: SlackEmulator, pool: ThreadPoolExecutor) -> None:
    groups = directory(emu, pool)
    groups.warm(["S1", "S2"])
    pool.shutdown(wait=True)
    for _ in range(3):
        assert groups.members("S1") == {"U1", "U2"}
        assert groups.members("S2") == {"U3"}
    assert len(lookups(emu)) == 2


def test_a_group_not_fetched_yet_is_fetched_in_the_background_never_in_the_request(
    emu: SlackEmulator, pool: ThreadPoolExecutor
) -> None:
    """Start-up could not fetch it (Slack rate limited): checks answer "try again" at once, without asking
    Slack, while one background fetch waits out Retry-After; then the group is known."""
    groups = directory(emu, pool)
    emu.fail_next("usergroups.users.list", status=429, retry_after=1, count=2)
    started = time.monotonic()
    for _ in range(5):
        with pytest.raises(Unavailable, match="try again in a few seconds"):
            groups.members("S1")
    assert time.monotonic() - started < 0.5, "a check waited for Slack"
    pool.shutdown(wait=True)
    assert lookups(emu) == ["429", "429", None]  # one fetch, retried by the gateway
    assert groups.members("S1") == {"U1", "U2"}
    assert groups.members("S1") == {"U1", "U2"}
    assert len(lookups(emu)) == 3


def test_old_members_answer_while_one_background_refresh_fetches_new_ones(
    emu: SlackEmulator, pool: ThreadPoolExecutor
) -> None:
    ticks = Ticks()
    groups = directory(emu, pool, ticks)
    groups.warm(["S1"])
    wait_for(lambda: known(groups, "S1"))
    assert groups.members("S1") == {"U1", "U2"}
    emu.add_usergroup("S1", "deployers", ["U2", "U9"])
    ticks.now += TTL_S - 1
    assert groups.members("S1") == {"U1", "U2"}
    assert len(lookups(emu)) == 1, "fresh members must not be fetched again"

    ticks.now += 2  # now older than the TTL
    emu.fail_next("usergroups.users.list", status=429, retry_after=1)  # the refresh has to wait
    assert groups.members("S1") == {"U1", "U2"}  # last known, at once
    assert groups.members("S1") == {"U1", "U2"}  # a second check does not start a second refresh
    wait_for(lambda: groups.members("S1") == {"U2", "U9"})
    assert lookups(emu) == [None, "429", None]
