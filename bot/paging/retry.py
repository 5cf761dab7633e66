"""The one retry policy for outbound alert and rollback calls: back off on 429/5xx/network, never on 4xx."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception_type, retry_if_result, stop_after_attempt

logger = logging.getLogger("bot.paging.retry")

# Errors where the request may not have arrived, or the server may answer next time.
RETRYABLE_ERRORS: tuple[type[Exception], ...] = (
    httpx.TimeoutException,
    httpx.NetworkError,
    httpx.RemoteProtocolError,
    httpx.ProxyError,
)


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 8.0
    retry_after_cap: float = 30.0  # a provider asking for minutes must not stall the alert path
    sleep: Callable[[float], None] = time.sleep

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")

    def backoff(self, attempt: int) -> float:
        """Delay after failed attempt number `attempt` (1-based): base, 2*base, 4*base ... capped."""
        return float(min(self.max_delay, self.base_delay * 2 ** (attempt - 1)))


@dataclass(frozen=True)
class Delivery:
    """What happened on the wire: the last response (if any), or the last transport error."""

    response: httpx.Response | None
    error: str
    attempts: int
    retryable: bool

    @property
    def status_code(self) -> int | None:
        return self.response.status_code if self.response is not None else None


def is_retryable_status(status: int) -> bool:
    return status == 429 or status >= 500


def retry_after_seconds(response: httpx.Response) -> float | None:
    """Retry-After as seconds; HTTP-date forms are rare from these APIs, so they fall back to backoff."""
    raw = response.headers.get("Retry-After")
    if raw is None:
        return None
    try:
        value = float(raw.strip())
    except ValueError:
        return None
    return max(0.0, value)


def _should_retry_response(response: httpx.Response) -> bool:
    return is_retryable_status(response.status_code)


def send_with_retry(send: Callable[[], httpx.Response], policy: RetryPolicy, *, label: str) -> Delivery:
    """Call `send` until it gets a final answer or attempts run out. `label` is for logs: no URLs, no keys."""
    attempts = 0

    def attempt() -> httpx.Response:
        nonlocal attempts
        attempts += 1
        return send()

    def wait(state: RetryCallState) -> float:
        outcome = state.outcome
        if outcome is not None and not outcome.failed:
            response: httpx.Response = outcome.result()
            after = retry_after_seconds(response) if response.status_code == 429 else None
            if after is not None:
                return min(after, policy.retry_after_cap)
        return policy.backoff(state.attempt_number)

    def before_sleep(state: RetryCallState) -> None:
        # Logged here, not in wait(): tenacity computes the wait even for the final attempt.
        outcome = state.outcome
        delay = state.next_action.sleep if state.next_action is not None else 0.0
        if outcome is None:
            return
        failed = outcome.failed
        reason = type(outcome.exception()).__name__ if failed else f"HTTP {outcome.result().status_code}"
        logger.info("%s: %s, retry %d in %.2fs", label, reason, state.attempt_number, delay)

    retrying = Retrying(
        stop=stop_after_attempt(policy.max_attempts),
        wait=wait,
        retry=retry_if_exception_type(RETRYABLE_ERRORS) | retry_if_result(_should_retry_response),
        sleep=policy.sleep,
        before_sleep=before_sleep,
        reraise=True,
        retry_error_callback=lambda state: state.outcome.result() if state.outcome else None,
    )
    try:
        response = retrying(attempt)
    except RETRYABLE_ERRORS as exc:
        return Delivery(None, _describe(exc), attempts, retryable=True)
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        # Bad URL or unsupported scheme: configuration, not weather; retrying will not help.
        return Delivery(None, _describe(exc), attempts, retryable=False)
    if response is None:  # pragma: no cover - retry_error_callback always re-raises or returns a response
        return Delivery(None, "no response", attempts, retryable=True)
    return Delivery(response, "", attempts, retryable=is_retryable_status(response.status_code))


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"
