"""A generic signed webhook, for teams whose alerting is neither PagerDuty nor Opsgenie."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import httpx

from bot.clock import Clock, SystemClock
from bot.paging.base import (
    HttpProvider,
    Link,
    PageRequest,
    PageResult,
    json_default,
    noop_result,
    result_from_delivery,
)
from bot.paging.retry import Delivery, RetryPolicy, send_with_retry
from bot.paging.signing import signed_headers


def post_signed(
    client: httpx.Client,
    url: str,
    secret: str,
    payload: Mapping[str, Any],
    *,
    clock: Clock,
    policy: RetryPolicy,
    label: str,
) -> Delivery:
    """POST `payload` as JSON, signed over the exact bytes sent. Shared with the rollback action."""
    body = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=json_default).encode("utf-8")

    def send() -> httpx.Response:
        # Re-sign each attempt: a retry after a long Retry-After must not carry a stale timestamp.
        timestamp = int(clock.now().timestamp())
        return client.post(url, content=body, headers=signed_headers(secret, timestamp, body))

    return send_with_retry(send, policy, label=label)


class WebhookPager(HttpProvider):
    name = "webhook"

    def __init__(
        self,
        url: str,
        secret: str,
        *,
        client: httpx.Client | None = None,
        policy: RetryPolicy | None = None,
        clock: Clock | None = None,
        timeout: float = 10.0,
    ) -> None:
        if not secret:
            raise ValueError("webhook secret is empty")
        super().__init__(client, timeout)
        self._url = url
        self._secret = secret
        self._policy = policy or RetryPolicy()
        self._clock = clock or SystemClock()

    def trigger(self, req: PageRequest) -> PageResult:
        return self._send(
            "trigger",
            req.dedup_key,
            summary=req.summary,
            severity=req.severity,
            details={
                **dict(req.custom_details),
                "source": req.source,
                "component": req.component,
                "group": req.group,
                "oncall_user": req.oncall_user,
                "timestamp": req.timestamp.isoformat(),
            },
            links=[link.to_dict() for link in req.links],
        )

    def acknowledge(self, dedup_key: str) -> PageResult:
        return self._send("acknowledge", dedup_key)

    def resolve(self, dedup_key: str) -> PageResult:
        return self._send("resolve", dedup_key)

    def change_event(
        self,
        summary: str,
        source: str,
        timestamp: datetime,
        links: Sequence[Link] = (),
        custom_details: Mapping[str, Any] | None = None,
    ) -> PageResult:
        return noop_result(self.name)

    def _send(
        self,
        event: str,
        dedup_key: str,
        *,
        summary: str = "",
        severity: str | None = None,
        details: Mapping[str, Any] | None = None,
        links: list[dict[str, str]] | None = None,
    ) -> PageResult:
        payload = {
            "event": event,
            "dedup_key": dedup_key,
            "summary": summary,
            "severity": severity,
            "details": dict(details or {}),
            "links": links or [],
            "sent_at": self._clock.now().isoformat(),
        }
        delivery = post_signed(
            self._client,
            self._url,
            self._secret,
            payload,
            clock=self._clock,
            policy=self._policy,
            label=f"webhook {event} key={dedup_key}",
        )
        # The URL may embed a token (many receivers work that way), so it counts as a secret too.
        return result_from_delivery(self.name, event, dedup_key, delivery, secrets=(self._secret, self._url))
