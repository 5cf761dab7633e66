"""Opsgenie Alert API v2: create (deduplicated by alias), acknowledge and close alerts."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any
from urllib.parse import quote

import httpx

from bot.paging.base import (
    HttpProvider,
    Link,
    PageRequest,
    PageResult,
    json_bytes,
    json_default,
    noop_result,
    result_from_delivery,
    truncate,
)
from bot.paging.retry import RetryPolicy, send_with_retry

DEFAULT_BASE_URL = "https://api.opsgenie.com"  # EU accounts use https://api.eu.opsgenie.com
MESSAGE_MAX = 130
DESCRIPTION_MAX = 15000
PRIORITY = {"critical": "P1", "error": "P2", "warning": "P3", "info": "P5"}


def details_as_strings(details: Mapping[str, Any]) -> dict[str, str]:
    """Opsgenie rejects non-string detail values; numbers and lists become their JSON text."""
    out: dict[str, str] = {}
    for key, value in details.items():
        if isinstance(value, str | datetime | date):
            out[str(key)] = value if isinstance(value, str) else value.isoformat()
        else:
            out[str(key)] = json.dumps(value, default=json_default)
    return out


class OpsgeniePager(HttpProvider):
    name = "opsgenie"

    def __init__(
        self,
        api_key: str,
        *,
        client: httpx.Client | None = None,
        base_url: str = DEFAULT_BASE_URL,
        policy: RetryPolicy | None = None,
        timeout: float = 10.0,
        responders: Sequence[Mapping[str, str]] = (),
        slack_to_opsgenie_user: Mapping[str, str] | None = None,
        tags: Sequence[str] = ("deploybot",),
    ) -> None:
        """`responders` are always paged (e.g. a team); `slack_to_opsgenie_user` maps the on-call Slack
        user id of a request to an Opsgenie username, added as a user responder."""
        if not api_key:
            raise ValueError("Opsgenie API key is empty")
        super().__init__(client, timeout)
        self._api_key = api_key
        self._base = base_url.rstrip("/")
        self._policy = policy or RetryPolicy()
        self._responders = [dict(r) for r in responders]
        self._user_map = dict(slack_to_opsgenie_user or {})
        self._tags = list(tags)

    def trigger(self, req: PageRequest) -> PageResult:
        details = dict(req.custom_details)
        description = req.summary
        if req.links:
            links = "\n".join(f"{ln.text}: {ln.href}" if ln.text else ln.href for ln in req.links)
            details["links"] = links
            description += "\n\n" + links
        body: dict[str, Any] = {
            "message": truncate(req.summary, MESSAGE_MAX),
            "alias": req.dedup_key,
            "description": truncate(description, DESCRIPTION_MAX),
            "priority": PRIORITY[req.severity],
            "details": details_as_strings(details),
            "source": req.source,
            "tags": [*self._tags, req.severity] + ([req.group] if req.group else []),
        }
        if req.component:
            body["entity"] = req.component
        responders = list(self._responders)
        username = self._user_map.get(req.oncall_user or "")
        if username:
            responders.append({"type": "user", "username": username})
        if responders:
            body["responders"] = responders
        return self._send("/v2/alerts", body, "trigger", req.dedup_key)

    def acknowledge(self, dedup_key: str) -> PageResult:
        return self._alert_action("acknowledge", dedup_key)

    def resolve(self, dedup_key: str) -> PageResult:
        return self._alert_action("close", dedup_key)

    def change_event(
        self,
        summary: str,
        source: str,
        timestamp: datetime,
        links: Sequence[Link] = (),
        custom_details: Mapping[str, Any] | None = None,
    ) -> PageResult:
        return noop_result(self.name)

    def _alert_action(self, action: str, alias: str) -> PageResult:
        path = f"/v2/alerts/{quote(alias, safe='')}/{action}"
        body = {"source": "deploybot", "note": f"{action} by Deploy Bot"}
        return self._send(path, body, action, alias, params={"identifierType": "alias"})

    def _send(
        self, path: str, body: dict[str, Any], action: str, key: str, params: dict[str, str] | None = None
    ) -> PageResult:
        url = self._base + path
        headers = {"Authorization": f"GenieKey {self._api_key}", "Content-Type": "application/json"}
        content = json_bytes(body)
        delivery = send_with_retry(
            lambda: self._client.post(url, content=content, headers=headers, params=params),
            self._policy,
            label=f"opsgenie {action} key={key}",
        )
        return result_from_delivery(self.name, action, key, delivery, secrets=(self._api_key,))
