"""The one small interface every paging provider implements, and the values it passes around."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal, Protocol, Self, get_args

import httpx

from bot.paging.retry import Delivery

logger = logging.getLogger("bot.paging")

Severity = Literal["critical", "error", "warning", "info"]
SEVERITIES: frozenset[str] = frozenset(get_args(Severity))

DEDUP_KEY_MAX = 255  # PagerDuty's limit; Opsgenie allows 512, so this fits both
ELLIPSIS = "…"
_EXCERPT_CHARS = 500


@dataclass(frozen=True)
class Link:
    href: str
    text: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"href": self.href, "text": self.text}


@dataclass(frozen=True)
class PageRequest:
    dedup_key: str
    summary: str
    severity: Severity
    source: str
    timestamp: datetime
    component: str = ""
    group: str = ""
    custom_details: Mapping[str, Any] = field(default_factory=dict)
    links: tuple[Link, ...] = ()
    oncall_user: str | None = None

    def __post_init__(self) -> None:
        if not self.dedup_key or len(self.dedup_key) > DEDUP_KEY_MAX:
            raise ValueError(f"dedup_key must be 1..{DEDUP_KEY_MAX} chars, got {len(self.dedup_key)}")
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {sorted(SEVERITIES)}, got {self.severity!r}")
        if self.timestamp.tzinfo is None:
            raise ValueError("timestamp must be timezone-aware")


@dataclass(frozen=True)
class PageResult:
    provider: str
    ok: bool
    status_code: int | None = None
    retryable_failure: bool = False
    error: str = ""
    attempts: int = 0
    response: Mapping[str, Any] = field(default_factory=dict)


class Pager(Protocol):
    """A paging provider. Implementations never raise for HTTP or network failures: they report them."""

    name: str

    def trigger(self, req: PageRequest) -> PageResult: ...

    def acknowledge(self, dedup_key: str) -> PageResult: ...

    def resolve(self, dedup_key: str) -> PageResult: ...

    def change_event(
        self,
        summary: str,
        source: str,
        timestamp: datetime,
        links: Sequence[Link] = (),
        custom_details: Mapping[str, Any] | None = None,
    ) -> PageResult: ...


def dedup_key_for(run_id: int | str, rule: str) -> str:
    """One alert per run and rule, e.g. "deploybot-run-12-error_rate"."""
    return truncate(f"deploybot-run-{run_id}-{rule}", DEDUP_KEY_MAX, ellipsis="")


def json_default(value: object) -> str:
    """Details carry datetimes (since, window ends) and the odd Decimal; send ISO 8601 or text."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def json_bytes(body: Mapping[str, Any]) -> bytes:
    return json.dumps(body, default=json_default, separators=(",", ":")).encode("utf-8")


def truncate(text: str, limit: int, *, ellipsis: str = ELLIPSIS) -> str:
    if len(text) <= limit:
        return text
    return text[: limit - len(ellipsis)] + ellipsis


def redact(text: str, secrets: Iterable[str]) -> str:
    """Belt and braces: a provider's error text must never carry its own key into logs or Slack."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return text


def response_excerpt(response: httpx.Response) -> dict[str, Any]:
    """The response body as a small dict, for the audit trail; never the whole body."""
    try:
        data = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return {"body": response.text[:_EXCERPT_CHARS]} if response.content else {}
    if not isinstance(data, dict):
        return {"body": json.dumps(data)[:_EXCERPT_CHARS]}
    out: dict[str, Any] = {}
    for key, value in list(data.items())[:10]:
        if isinstance(value, str | int | float | bool) or value is None:
            out[str(key)] = value[:_EXCERPT_CHARS] if isinstance(value, str) else value
        else:
            out[str(key)] = json.dumps(value)[:_EXCERPT_CHARS]
    return out


def error_text(response: httpx.Response) -> str:
    """The provider's own explanation of a refusal: message plus errors, or the raw body."""
    try:
        data = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return response.text[:_EXCERPT_CHARS] or f"HTTP {response.status_code}"
    if not isinstance(data, dict):
        return json.dumps(data)[:_EXCERPT_CHARS]
    parts = [str(data["message"])] if data.get("message") else []
    errors = data.get("errors")
    if isinstance(errors, list):
        parts.extend(str(e) for e in errors)
    elif isinstance(errors, dict):
        parts.extend(f"{k}: {v}" for k, v in errors.items())
    text = "; ".join(parts) or json.dumps(data)
    return text[:_EXCERPT_CHARS]


def result_from_delivery(
    provider: str,
    action: str,
    key: str,
    delivery: Delivery,
    *,
    secrets: Iterable[str] = (),
) -> PageResult:
    """Turn what the wire did into a PageResult, and log it without secrets or URLs."""
    secrets = tuple(secrets)
    response = delivery.response
    if response is None:
        error = redact(delivery.error, secrets)
        logger.warning(
            "paging %s %s failed key=%s attempts=%d error=%s", provider, action, key, delivery.attempts, error
        )
        return PageResult(
            provider=provider,
            ok=False,
            retryable_failure=delivery.retryable,
            error=error,
            attempts=delivery.attempts,
        )
    ok = 200 <= response.status_code < 300
    excerpt = response_excerpt(response)
    if ok:
        logger.info(
            "paging %s %s key=%s status=%d attempts=%d",
            provider,
            action,
            key,
            response.status_code,
            delivery.attempts,
        )
        return PageResult(
            provider=provider,
            ok=True,
            status_code=response.status_code,
            attempts=delivery.attempts,
            response=excerpt,
        )
    error = redact(error_text(response), secrets)
    logger.warning(
        "paging %s %s refused key=%s status=%d attempts=%d error=%s",
        provider,
        action,
        key,
        response.status_code,
        delivery.attempts,
        error,
    )
    return PageResult(
        provider=provider,
        ok=False,
        status_code=response.status_code,
        retryable_failure=delivery.retryable,
        error=error,
        attempts=delivery.attempts,
        response={k: redact(v, secrets) if isinstance(v, str) else v for k, v in excerpt.items()},
    )


def noop_result(provider: str) -> PageResult:
    """For providers without change events: nothing to send, nothing failed."""
    return PageResult(provider=provider, ok=True, attempts=0)


class HttpProvider:
    """Holds the httpx client: uses the caller's, or owns one with a timeout and closes it."""

    name: str = "http"

    def __init__(self, client: httpx.Client | None, timeout: float) -> None:
        self._owns_client = client is None
        self._client = client if client is not None else httpx.Client(timeout=timeout)

    def close(self) -> None:
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        # Never the key: reprs end up in tracebacks and logs.
        return f"<{type(self).__name__} {self.name}>"


@dataclass(frozen=True)
class ChainResult:
    results: tuple[PageResult, ...]
    used_fallback: bool = False

    @property
    def any_ok(self) -> bool:
        return any(r.ok for r in self.results)

    def errors(self) -> list[str]:
        return [f"{r.provider}: {r.error or r.status_code}" for r in self.results if not r.ok]


class PagingChain:
    """Sends every event to every configured provider, in order (a page must reach someone, so one
    provider's success does not skip the rest). `fallback` (the Slack mention provider) runs only when
    every primary provider failed, or when none is configured."""

    def __init__(self, pagers: Sequence[Pager], *, fallback: Pager | None = None) -> None:
        self.pagers = tuple(pagers)
        self.fallback = fallback

    def trigger(self, req: PageRequest) -> ChainResult:
        return self._each(lambda p: p.trigger(req), "trigger")

    def acknowledge(self, dedup_key: str) -> ChainResult:
        return self._each(lambda p: p.acknowledge(dedup_key), "acknowledge")

    def resolve(self, dedup_key: str) -> ChainResult:
        return self._each(lambda p: p.resolve(dedup_key), "resolve")

    def change_event(
        self,
        summary: str,
        source: str,
        timestamp: datetime,
        links: Sequence[Link] = (),
        custom_details: Mapping[str, Any] | None = None,
    ) -> ChainResult:
        # A change event pages no one, so it never falls back to mentioning people in Slack.
        results = tuple(
            _guarded(p, lambda p: p.change_event(summary, source, timestamp, links, custom_details), "change")
            for p in self.pagers
        )
        return ChainResult(results)

    def _each(self, call: Callable[[Pager], PageResult], action: str) -> ChainResult:
        results = [_guarded(p, call, action) for p in self.pagers]
        if self.fallback is not None and not any(r.ok for r in results):
            results.append(_guarded(self.fallback, call, action))
            return ChainResult(tuple(results), used_fallback=True)
        return ChainResult(tuple(results))


def _guarded(pager: Pager, call: Callable[[Pager], PageResult], action: str) -> PageResult:
    """A provider bug must not stop the next provider from paging."""
    try:
        return call(pager)
    except Exception as exc:  # noqa: BLE001 - the boundary between independent providers
        logger.exception("paging %s %s raised %s", pager.name, action, type(exc).__name__)
        return PageResult(provider=pager.name, ok=False, error=f"{type(exc).__name__} in provider")
