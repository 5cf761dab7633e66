"""PagerDuty Events API v2: trigger / acknowledge / resolve alerts, and change events for deploys."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import httpx

from bot.paging.base import (
    HttpProvider,
    Link,
    PageRequest,
    PageResult,
    json_bytes,
    result_from_delivery,
    truncate,
)
from bot.paging.retry import RetryPolicy, send_with_retry

DEFAULT_BASE_URL = "https://events.pagerduty.com"
SUMMARY_MAX = 1024


class PagerDutyPager(HttpProvider):
    name = "pagerduty"

    def __init__(
        self,
        routing_key: str,
        *,
        client: httpx.Client | None = None,
        base_url: str = DEFAULT_BASE_URL,
        policy: RetryPolicy | None = None,
        timeout: float = 10.0,
        client_name: str = "Deploy Bot",
        client_url: str | None = None,
        event_class: str = "deploy-verification",
    ) -> None:
        if not routing_key:
            raise ValueError("PagerDuty routing key is empty")
        super().__init__(client, timeout)
        self._routing_key = routing_key
        self._base = base_url.rstrip("/")
        self._policy = policy or RetryPolicy()
        self._client_name = client_name
        self._client_url = client_url
        self._event_class = event_class

    def trigger(self, req: PageRequest) -> PageResult:
        payload: dict[str, Any] = {
            "summary": truncate(req.summary, SUMMARY_MAX),
            "source": req.source,
            "severity": req.severity,
            "timestamp": req.timestamp.isoformat(),
            "class": self._event_class,
            "custom_details": dict(req.custom_details),
        }
        if req.component:
            payload["component"] = req.component
        if req.group:
            payload["group"] = req.group
        body: dict[str, Any] = {
            "routing_key": self._routing_key,
            "event_action": "trigger",
            "dedup_key": req.dedup_key,
            "payload": payload,
            "links": [link.to_dict() for link in req.links],
            "client": self._client_name,
        }
        if self._client_url:
            body["client_url"] = self._client_url
        return self._send("/v2/enqueue", body, "trigger", req.dedup_key)

    def acknowledge(self, dedup_key: str) -> PageResult:
        return self._state_change("acknowledge", dedup_key)

    def resolve(self, dedup_key: str) -> PageResult:
        return self._state_change("resolve", dedup_key)

    def change_event(
        self,
        summary: str,
        source: str,
        timestamp: datetime,
        links: Sequence[Link] = (),
        custom_details: Mapping[str, Any] | None = None,
    ) -> PageResult:
        body = {
            "routing_key": self._routing_key,
            "payload": {
                "summary": truncate(summary, SUMMARY_MAX),
                "timestamp": timestamp.isoformat(),
                "source": source,
                "custom_details": dict(custom_details or {}),
            },
            "links": [link.to_dict() for link in links],
        }
        return self._send("/v2/change/enqueue", body, "change", source)

    def _state_change(self, action: str, dedup_key: str) -> PageResult:
        body = {"routing_key": self._routing_key, "event_action": action, "dedup_key": dedup_key}
        return self._send("/v2/enqueue", body, action, dedup_key)

    def _send(self, path: str, body: dict[str, Any], action: str, key: str) -> PageResult:
        url = self._base + path
        content = json_bytes(body)
        headers = {"Content-Type": "application/json"}
        delivery = send_with_retry(
            lambda: self._client.post(url, content=content, headers=headers),
            self._policy,
            label=f"pagerduty {action} key={key}",
        )
        return result_from_delivery(self.name, action, key, delivery, secrets=(self._routing_key,))
