"""Who is in which Slack user group, answered from memory so permission checks can run before ack().

usergroups.users.list is Tier 2 and the gateway's retries sleep (Retry-After), so a request must not wait on
it: members are fetched at start-up and refreshed in the background once they are older than the TTL, and
the last known members answer meanwhile. Only a group never fetched is looked up in the request, once and
without retries; if Slack cannot answer at once, the person is asked to try again.
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
    def usergroup_members(self, group_id: str, *, retry: bool = True) -> frozenset[str]: ...


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
            fetching = group_id in self._refreshing
        if known is not None:
            if self._monotonic() - known[0] >= self._ttl_s:
                self._refresh_later(group_id)
            return known[1]
        if fetching:  # Slack already failed us once: wait for the background fetch, do not ask again
            raise _not_now(group_id)
        try:
            users = self._lookup.usergroup_members(group_id, retry=False)
        except Exception as exc:  # noqa: BLE001 - rate limited, down or unreachable: all mean "not now"
            log.warning("usergroup %s: lookup failed (%s); fetching in the background", group_id, exc)
            self._refresh_later(group_id)
            raise _not_now(group_id) from exc
        self._store(group_id, users)
        return users

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


def _not_now(group_id: str) -> Unavailable:
    return Unavailable(
        f"I could not check who is in <!subteam^{group_id}> with Slack just now; please try again in a few seconds."
    )
