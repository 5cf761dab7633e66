"""Paging providers behind one small interface: PagerDuty, Opsgenie, a signed webhook, Slack fallback."""

from bot.paging.base import (
    ChainResult,
    Link,
    Pager,
    PageRequest,
    PageResult,
    PagingChain,
    Severity,
    dedup_key_for,
)
from bot.paging.opsgenie import OpsgeniePager
from bot.paging.pagerduty import PagerDutyPager
from bot.paging.retry import Delivery, RetryPolicy, send_with_retry
from bot.paging.webhook import WebhookPager

__all__ = [
    "ChainResult",
    "Delivery",
    "Link",
    "OpsgeniePager",
    "PageRequest",
    "PageResult",
    "Pager",
    "PagerDutyPager",
    "PagingChain",
    "RetryPolicy",
    "Severity",
    "WebhookPager",
    "dedup_key_for",
    "send_with_retry",
]
