"""The rollback action: a signed webhook to a loopback receiver, or instructions when none is configured."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest

from bot.clock import ManualClock
from bot.paging.retry import RetryPolicy
from bot.paging.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from bot.rollback_action import RollbackAction, RollbackOutcome, run_rollback
from tests.fakes.paging import FakeWebhookReceiver, closed_port_url

SECRET = "rollback-signing-secret-42"
NOW = datetime(2026, 3, 4, 11, 0, tzinfo=UTC)
INSTRUCTIONS = "Run `make rollback VERSION=<previous>` from the deploy host, then post in #deploys."


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW)


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def policy(sleeps: list[float]) -> RetryPolicy:
    return RetryPolicy(max_attempts=3, base_delay=0.25, sleep=sleeps.append)


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=2.0) as c:
        yield c


@pytest.fixture
def receiver(clock: ManualClock) -> Iterator[FakeWebhookReceiver]:
    with FakeWebhookReceiver(SECRET, clock) as fake:
        yield fake


def rollback(action: RollbackAction, client: httpx.Client, clock: ManualClock, policy: RetryPolicy) -> RollbackOutcome:
    return run_rollback(
        action,
        run_id=12,
        service="lamsa-api",
        version="v1.4.2",
        previous_version="v1.4.1",
        environment="production",
        requested_by="U0ANA",
        client=client,
        clock=clock,
        policy=policy,
    )


def test_rollback_webhook_is_signed_and_verified(
    receiver: FakeWebhookReceiver, client: httpx.Client, clock: ManualClock, policy: RetryPolicy
) -> None:
    action = RollbackAction(receiver.url, SECRET, INSTRUCTIONS)
    outcome = rollback(action, client, clock, policy)

    assert outcome.ok and outcome.status_code == 200 and not outcome.instructions_only
    assert outcome.attempts == 1
    [body] = receiver.deliveries
    assert body == {
        "action": "rollback",
        "run_id": 12,
        "service": "lamsa-api",
        "version": "v1.4.2",
        "previous_version": "v1.4.1",
        "environment": "production",
        "requested_by": "U0ANA",
        "requested_at": NOW.isoformat(),
    }
    [rec] = receiver.requests
    assert rec.path == "/hooks/deploybot"
    ts, sig = rec.headers[TIMESTAMP_HEADER.lower()], rec.headers[SIGNATURE_HEADER.lower()]
    assert verify(SECRET, ts, rec.body, sig, now=NOW)
    assert not verify("another-secret", ts, rec.body, sig, now=NOW)


def test_without_webhook_only_instructions_are_returned(clock: ManualClock, policy: RetryPolicy) -> None:
    sent: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200)

    with httpx.Client(transport=httpx.MockTransport(record)) as client:
        outcome = rollback(RollbackAction(None, instructions=INSTRUCTIONS), client, clock, policy)
    assert outcome.instructions_only and not outcome.ok
    assert outcome.detail == INSTRUCTIONS and outcome.status_code is None
    assert sent == []


def test_5xx_is_retried_then_accepted(
    receiver: FakeWebhookReceiver,
    client: httpx.Client,
    clock: ManualClock,
    policy: RetryPolicy,
    sleeps: list[float],
) -> None:
    receiver.fail_next(502)
    outcome = rollback(RollbackAction(receiver.url, SECRET, INSTRUCTIONS), client, clock, policy)
    assert outcome.ok and outcome.attempts == 2 and sleeps == [0.25]
    assert len(receiver.deliveries) == 1


def test_4xx_is_not_retried_and_explained(
    receiver: FakeWebhookReceiver,
    client: httpx.Client,
    clock: ManualClock,
    policy: RetryPolicy,
    sleeps: list[float],
) -> None:
    outcome = rollback(RollbackAction(receiver.url, "wrong-secret", INSTRUCTIONS), client, clock, policy)
    assert not outcome.ok and outcome.status_code == 401 and outcome.attempts == 1
    assert "invalid signature" in outcome.detail and sleeps == []
    assert receiver.deliveries == []


def test_unreachable_deploy_system_fails_after_retries(
    client: httpx.Client, clock: ManualClock, policy: RetryPolicy, sleeps: list[float]
) -> None:
    outcome = rollback(RollbackAction(closed_port_url() + "/rollback", SECRET), client, clock, policy)
    assert not outcome.ok and outcome.status_code is None and outcome.attempts == 3
    assert "ConnectError" in outcome.detail and sleeps == [0.25, 0.5]


def test_secret_required_and_never_shown(
    receiver: FakeWebhookReceiver,
    client: httpx.Client,
    clock: ManualClock,
    policy: RetryPolicy,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with pytest.raises(ValueError, match="secret"):
        RollbackAction("https://deploy.example/rollback")
    caplog.set_level(logging.DEBUG)
    action = RollbackAction(receiver.url, SECRET, INSTRUCTIONS)
    receiver.fail_next(500)
    receiver.reject_next(f"bad request, secret was {SECRET}")
    outcome = rollback(action, client, clock, policy)
    assert not outcome.ok and outcome.status_code == 400
    assert outcome.detail == "bad request, secret was [redacted]; bad request, secret was [redacted]"
    assert SECRET not in caplog.text + repr(action) + repr(outcome)
    assert "rollback run=12 status=400 attempts=2" in caplog.text
