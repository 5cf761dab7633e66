"""Who is in which Slack user group, answered from memory so permission checks can run before ack().

usergroups.users.list is Tier 2 and the gateway's retries sleep (Retry-After), so a request never calls it:
members are fetched at start-up and refreshed in the background once they are older than the TTL, and the
last known members answer meanwhile. A group not fetched yet (Slack failed at start-up) is fetched in the
background, and the person is asked to try again in a few seconds.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Protocol

from bot.errors import Unavailable

log = logging.getLogger(__name__)

TTL_S = 300.0

Submit = Callable[[Callable[[], None]], object]


class MemberLookup(Protocol):
    def usergroup_members(self, group_id: str) -> frozenset[str]: ...


class UsergroupDirectory:
    def __init__(
        self,
        lookup: MemberLookup,
        submit: Submit,
        *,
        ttl_s: float = TTL_S,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lookup = lookup
        self._submit = submit
        self._ttl_s = ttl_s
        self._monotonic = monotonic
        self._members: dict[str, tuple[float, frozenset[str]]] = {}
        self._refreshing: set[str] = set()
        self._lock = threading.Lock()

    def warm(self, groups: Iterable[str]) -> None:
        """Fetch these groups in the background (at start-up, so the first click finds them in memory)."""
        for group in groups:
            self._refresh_later(group)

    def members(self, group_id: str) -> frozenset[str]:
        with self._lock:
            known = self._members.get(group_id)
        if known is None:
            self._refresh_later(group_id)
            raise Unavailable(
                f"I could not check who is in <!subteam^{group_id}> with Slack yet; please try again in a few seconds."
            )
        if self._monotonic() - known[0] >= self._ttl_s:
            self._refresh_later(group_id)
        return known[1]

    def _store(self, group_id: str, users: frozenset[str]) -> None:
        with self._lock:
            self._members[group_id] = (self._monotonic(), users)

    def _refresh_later(self, group_id: str) -> None:
        with self._lock:
            if group_id in self._refreshing:
                return
            self._refreshing.add(group_id)
        try:
            self._submit(lambda: self._refresh(group_id))
        except RuntimeError:  # the pool is shutting down
            with self._lock:
                self._refreshing.discard(group_id)

    def _refresh(self, group_id: str) -> None:
        try:
            self._store(group_id, self._lookup.usergroup_members(group_id))
        except Exception as exc:  # noqa: BLE001 - keep answering with what we knew; the next check tries again
            log.warning("usergroup %s: fetching its members failed: %s", group_id, exc)
        finally:
            with self._lock:
                self._refreshing.discard(group_id)
