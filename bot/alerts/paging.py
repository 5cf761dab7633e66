"""The paging chain from settings: PagerDuty, Opsgenie, signed webhook, and Slack as the fallback."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import httpx
from slack_sdk.errors import SlackApiError

from bot.clock import Clock
from bot.paging.base import Link, Pager, PageRequest, PageResult, PagingChain, noop_result
from bot.paging.opsgenie import OpsgeniePager
from bot.paging.pagerduty import PagerDutyPager
from bot.paging.retry import RetryPolicy
from bot.paging.webhook import WebhookPager
from bot.settings import Settings
from bot.slack.gateway import Gateway

log = logging.getLogger(__name__)


class SlackPager:
    """The fallback: a DM to the on-call person and a mention in the deployment channel."""

    name = "slack"

    def __init__(self, gateway: Gateway, channel: str | None, thread_ts: str | None = None) -> None:
        self._gateway = gateway
        self._channel = channel
        self._thread_ts = thread_ts

    def trigger(self, req: PageRequest) -> PageResult:
        who = f"<@{req.oncall_user}>" if req.oncall_user else "on-call (nobody is configured in `oncall`)"
        link = next((ln.href for ln in req.links), "")
        sent = 0
        errors: list[str] = []
        try:
            if req.oncall_user:
                more = f"\n{link}" if link else ""
                self._gateway.dm(
                    req.oncall_user, f":rotating_light: You are paged ({req.severity}): {req.summary}{more}"
                )
                sent += 1
            if self._channel:
                self._gateway.post(
                    self._channel,
                    f":rotating_light: {who}: you are paged through Slack: {req.summary}",
                    thread_ts=self._thread_ts,
                )
                sent += 1
        except SlackApiError as exc:
            errors.append(str(exc.response.get("error")))
        ok = sent > 0 and not errors
        return PageResult(provider=self.name, ok=ok, error="; ".join(errors), attempts=1)

    def acknowledge(self, dedup_key: str) -> PageResult:
        return noop_result(self.name)  # the Slack alert message itself shows the acknowledgement

    def resolve(self, dedup_key: str) -> PageResult:
        return noop_result(self.name)

    def change_event(
        self,
        summary: str,
        source: str,
        timestamp: datetime,
        links: Sequence[Link] = (),
        custom_details: Mapping[str, Any] | None = None,
    ) -> PageResult:
        return noop_result(self.name)


def providers(settings: Settings, *, client: httpx.Client, policy: RetryPolicy, clock: Clock) -> list[Pager]:
    """The configured external providers, in settings order; a provider missing its secret is left out."""
    out: list[Pager] = []
    paging = settings.paging
    for name in settings.paging_providers:
        if name == "pagerduty" and settings.pagerduty_routing_key is not None:
            out.append(
                PagerDutyPager(
                    settings.pagerduty_routing_key.get_secret_value(),
                    client=client,
                    base_url=str(paging.pagerduty.url),
                    policy=policy,
                )
            )
        elif name == "opsgenie" and settings.opsgenie_api_key is not None:
            out.append(
                OpsgeniePager(
                    settings.opsgenie_api_key.get_secret_value(),
                    client=client,
                    base_url=str(paging.opsgenie.url),
                    policy=policy,
                )
            )
        elif name == "webhook" and paging.webhook is not None and settings.paging_webhook_secret is not None:
            out.append(
                WebhookPager(
                    str(paging.webhook.url),
                    settings.paging_webhook_secret.get_secret_value(),
                    client=client,
                    policy=policy,
                    clock=clock,
                )
            )
    return out


def build_chain(
    settings: Settings,
    gateway: Gateway,
    *,
    client: httpx.Client,
    policy: RetryPolicy,
    clock: Clock,
    channel: str | None,
    thread_ts: str | None = None,
) -> PagingChain:
    return PagingChain(
        providers(settings, client=client, policy=policy, clock=clock),
        fallback=SlackPager(gateway, channel, thread_ts),
    )
