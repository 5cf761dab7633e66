"""Paging providers against loopback fakes of PagerDuty, Opsgenie and a signed-webhook receiver."""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from bot.clock import ManualClock
from bot.paging import (
    Link,
    OpsgeniePager,
    Pager,
    PagerDutyPager,
    PageRequest,
    PageResult,
    PagingChain,
    RetryPolicy,
    WebhookPager,
    dedup_key_for,
)
from bot.paging.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign, verify
from tests.fakes.paging import FakeOpsgenie, FakePagerDuty, FakeServer, FakeWebhookReceiver, closed_port_url

ROUTING_KEY = "R0UT1NGKEYR0UT1NGKEYR0UT1NGKEY01"  # 32 chars, like the real format
GENIE_KEY = "0b1c2d3e-genie-key-secret-4f5a6b7c"
HOOK_SECRET = "whsec-very-secret-value"
NOW = datetime(2026, 3, 4, 10, 30, tzinfo=UTC)


def make_request(key: str = "deploybot-run-12-error_rate", **overrides: Any) -> PageRequest:
    fields: dict[str, Any] = {
        "dedup_key": key,
        "summary": "lamsa-api error rate 7.5% > 2% since deploy v1.4.2",
        "severity": "critical",
        "source": "lamsa-api",
        "timestamp": NOW,
        "component": "http",
        "group": "production",
        "custom_details": {
            "value": 0.075,
            "threshold": 0.02,
            "baseline": 0.004,
            "samples": 30,
            "window": "5m",
            "since": NOW - timedelta(minutes=5),
        },
        "links": (Link("https://example.slack.com/archives/C1/p123", "Deploy run #12"),),
        "oncall_user": "U0ONCALL",
    }
    fields.update(overrides)
    return PageRequest(**fields)


class Sleeps:
    """The injected sleep: records durations and moves the manual clock instead of waiting."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.durations: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.durations.append(seconds)
        self.clock.advance(seconds=seconds)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW)


@pytest.fixture
def sleeps(clock: ManualClock) -> Sleeps:
    return Sleeps(clock)


@pytest.fixture
def policy(sleeps: Sleeps) -> RetryPolicy:
    return RetryPolicy(max_attempts=4, base_delay=0.5, max_delay=8.0, retry_after_cap=30.0, sleep=sleeps)


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=2.0) as c:
        yield c


@pytest.fixture
def pd() -> Iterator[FakePagerDuty]:
    with FakePagerDuty() as fake:
        yield fake


@pytest.fixture
def og() -> Iterator[FakeOpsgenie]:
    with FakeOpsgenie(GENIE_KEY) as fake:
        yield fake


@pytest.fixture
def hook(clock: ManualClock) -> Iterator[FakeWebhookReceiver]:
    with FakeWebhookReceiver(HOOK_SECRET, clock) as fake:
        yield fake


# Building any provider against any fake, for the behaviour all three must share.
ProviderFactory = Callable[[str], Pager]
Case = tuple[FakeServer, ProviderFactory]


@pytest.fixture(params=["pagerduty", "opsgenie", "webhook"])
def provider_case(
    request: pytest.FixtureRequest,
    client: httpx.Client,
    policy: RetryPolicy,
    clock: ManualClock,
) -> Iterator[Case]:
    name = request.param
    fake: FakeServer
    factory: ProviderFactory
    if name == "pagerduty":
        fake = FakePagerDuty()

        def factory(base: str) -> Pager:
            return PagerDutyPager(ROUTING_KEY, client=client, base_url=base, policy=policy)
    elif name == "opsgenie":
        fake = FakeOpsgenie(GENIE_KEY)

        def factory(base: str) -> Pager:
            return OpsgeniePager(GENIE_KEY, client=client, base_url=base, policy=policy)
    else:
        fake = FakeWebhookReceiver(HOOK_SECRET, clock)

        def factory(base: str) -> Pager:
            return WebhookPager(base + "/hooks/deploybot", HOOK_SECRET, client=client, policy=policy, clock=clock)

    with fake:
        yield fake, factory


# --- PagerDuty -----------------------------------------------------------------------------------


def test_pagerduty_trigger_sends_events_v2_shape(pd: FakePagerDuty, client: httpx.Client, policy: RetryPolicy) -> None:
    pager = PagerDutyPager(ROUTING_KEY, client=client, base_url=pd.base_url, policy=policy, client_url="https://bot")
    result = pager.trigger(make_request())

    assert result.ok and result.status_code == 202 and result.attempts == 1
    assert result.response["dedup_key"] == "deploybot-run-12-error_rate"
    [rec] = pd.requests
    assert rec.path == "/v2/enqueue"
    body = rec.json
    assert body["routing_key"] == ROUTING_KEY
    assert body["event_action"] == "trigger"
    assert body["dedup_key"] == "deploybot-run-12-error_rate"
    assert body["links"] == [{"href": "https://example.slack.com/archives/C1/p123", "text": "Deploy run #12"}]
    assert body["client"] == "Deploy Bot" and body["client_url"] == "https://bot"
    payload = body["payload"]
    assert payload["summary"].startswith("lamsa-api error rate")
    assert (payload["source"], payload["severity"], payload["component"], payload["group"]) == (
        "lamsa-api",
        "critical",
        "http",
        "production",
    )
    assert datetime.fromisoformat(payload["timestamp"]) == NOW
    assert payload["custom_details"]["threshold"] == 0.02
    assert payload["custom_details"]["since"] == "2026-03-04T10:25:00+00:00"
    assert pd.incident("deploybot-run-12-error_rate") is not None


def test_pagerduty_acknowledge_and_resolve_send_only_the_key(
    pd: FakePagerDuty, client: httpx.Client, policy: RetryPolicy
) -> None:
    pager = PagerDutyPager(ROUTING_KEY, client=client, base_url=pd.base_url, policy=policy)
    key = "deploybot-run-12-error_rate"
    assert pager.trigger(make_request(key)).ok

    assert pager.acknowledge(key).ok
    incident = pd.incident(key)
    assert incident is not None and incident.state == "acknowledged"
    assert pager.resolve(key).ok
    assert incident.state == "resolved"

    for rec, action in zip(pd.requests[1:], ["acknowledge", "resolve"], strict=True):
        assert rec.json == {"routing_key": ROUTING_KEY, "event_action": action, "dedup_key": key}


def test_pagerduty_same_dedup_key_is_one_incident_until_resolved(
    pd: FakePagerDuty, client: httpx.Client, policy: RetryPolicy
) -> None:
    pager = PagerDutyPager(ROUTING_KEY, client=client, base_url=pd.base_url, policy=policy)
    key = dedup_key_for(12, "error_rate")
    assert pager.trigger(make_request(key)).ok
    assert pager.trigger(make_request(key, summary="still failing")).ok
    assert len(pd.incidents) == 1 and len(pd.incidents[0].events) == 2

    assert pager.resolve(key).ok
    assert pager.trigger(make_request(key)).ok
    assert len(pd.incidents) == 2 and pd.incidents[1].state == "triggered"


def test_pagerduty_long_summary_is_truncated_with_ellipsis(
    pd: FakePagerDuty, client: httpx.Client, policy: RetryPolicy
) -> None:
    pager = PagerDutyPager(ROUTING_KEY, client=client, base_url=pd.base_url, policy=policy)
    result = pager.trigger(make_request(summary="x" * 2000))
    assert result.ok  # the fake rejects summaries over 1024 chars
    summary = pd.requests[0].json["payload"]["summary"]
    assert len(summary) == 1024 and summary.endswith("…")


def test_pagerduty_change_event(pd: FakePagerDuty, client: httpx.Client, policy: RetryPolicy) -> None:
    pager = PagerDutyPager(ROUTING_KEY, client=client, base_url=pd.base_url, policy=policy)
    result = pager.change_event(
        "Deployed lamsa-api v1.4.2 to production",
        "lamsa-api",
        NOW,
        links=[Link("https://example.slack.com/archives/C1/p123", "run #12")],
        custom_details={"version": "v1.4.2", "previous_version": "v1.4.1"},
    )
    assert result.ok and result.status_code == 202
    [rec] = pd.requests
    assert rec.path == "/v2/change/enqueue"
    assert rec.json["routing_key"] == ROUTING_KEY
    assert rec.json["payload"]["summary"] == "Deployed lamsa-api v1.4.2 to production"
    assert rec.json["payload"]["custom_details"]["version"] == "v1.4.2"
    assert rec.json["links"][0]["text"] == "run #12"
    assert len(pd.change_events) == 1 and pd.incidents == []  # records the deploy, pages no one


def test_pagerduty_invalid_routing_key_is_reported_not_retried(
    client: httpx.Client, policy: RetryPolicy, sleeps: Sleeps
) -> None:
    with FakePagerDuty(routing_key="the-right-key") as strict:
        pager = PagerDutyPager(ROUTING_KEY, client=client, base_url=strict.base_url, policy=policy)
        result = pager.trigger(make_request())
    assert not result.ok and result.status_code == 400 and not result.retryable_failure
    assert result.attempts == 1 and sleeps.durations == []
    assert "Invalid routing key" in result.error and "Event object is invalid" in result.error
    assert ROUTING_KEY not in result.error


# --- behaviour every provider shares ---------------------------------------------------------------


def test_429_honours_retry_after(provider_case: Case, sleeps: Sleeps) -> None:
    fake, factory = provider_case
    fake.fail_next(429, retry_after=7)
    result = factory(fake.base_url).trigger(make_request())
    assert result.ok and result.attempts == 2
    assert sleeps.durations == [7.0]
    assert [r.status for r in fake.requests] == [429, 200 if isinstance(fake, FakeWebhookReceiver) else 202]


def test_retry_after_is_capped(provider_case: Case, sleeps: Sleeps) -> None:
    fake, factory = provider_case
    fake.fail_next(429, retry_after=600)
    assert factory(fake.base_url).trigger(make_request()).ok
    assert sleeps.durations == [30.0]


def test_429_without_retry_after_backs_off(provider_case: Case, sleeps: Sleeps) -> None:
    fake, factory = provider_case
    fake.fail_next(429, count=2)
    assert factory(fake.base_url).trigger(make_request()).ok
    assert sleeps.durations == [0.5, 1.0]


def test_500_then_success(provider_case: Case, sleeps: Sleeps) -> None:
    fake, factory = provider_case
    fake.fail_next(500, count=2)
    result = factory(fake.base_url).acknowledge("deploybot-run-12-error_rate")
    assert result.ok and result.attempts == 3
    assert sleeps.durations == [0.5, 1.0]
    assert len(fake.requests) == 3


def test_persistent_5xx_gives_up_after_max_attempts(provider_case: Case, sleeps: Sleeps) -> None:
    fake, factory = provider_case
    fake.fail_next(503, count=10)
    result = factory(fake.base_url).trigger(make_request())
    assert not result.ok and result.retryable_failure
    assert result.status_code == 503 and result.attempts == 4
    assert sleeps.durations == [0.5, 1.0, 2.0]
    assert len(fake.requests) == 4


def test_400_is_not_retried_and_reported(provider_case: Case, sleeps: Sleeps) -> None:
    fake, factory = provider_case
    fake.reject_next("Bad payload", ["summary is weird"])
    result = factory(fake.base_url).trigger(make_request())
    assert not result.ok and not result.retryable_failure
    assert result.status_code == 400 and result.attempts == 1
    assert "Bad payload" in result.error and "summary is weird" in result.error
    assert sleeps.durations == [] and len(fake.requests) == 1


def test_connection_refused_is_retried_then_fails(provider_case: Case, sleeps: Sleeps) -> None:
    _, factory = provider_case
    result = factory(closed_port_url()).trigger(make_request())
    assert not result.ok and result.retryable_failure
    assert result.status_code is None and result.attempts == 4
    assert "ConnectError" in result.error
    assert sleeps.durations == [0.5, 1.0, 2.0]


def test_timeout_is_retried(pd: FakePagerDuty, policy: RetryPolicy, sleeps: Sleeps) -> None:
    pd.delay_next(0.3)
    with httpx.Client(timeout=0.1) as quick:
        pager = PagerDutyPager(ROUTING_KEY, client=quick, base_url=pd.base_url, policy=policy)
        result = pager.trigger(make_request())
    assert result.ok and result.attempts == 2 and sleeps.durations == [0.5]


def test_owned_client_is_closed(pd: FakePagerDuty, policy: RetryPolicy) -> None:
    with PagerDutyPager(ROUTING_KEY, base_url=pd.base_url, policy=policy, timeout=1.0) as pager:
        assert pager.resolve("deploybot-run-1-x").ok
    assert pager._client.is_closed


def test_secrets_never_logged_or_in_reprs(
    caplog: pytest.LogCaptureFixture,
    pd: FakePagerDuty,
    og: FakeOpsgenie,
    hook: FakeWebhookReceiver,
    client: httpx.Client,
    policy: RetryPolicy,
    clock: ManualClock,
) -> None:
    caplog.set_level(logging.DEBUG)
    pagers: list[Pager] = [
        PagerDutyPager(ROUTING_KEY, client=client, base_url=pd.base_url, policy=policy),
        OpsgeniePager(GENIE_KEY, client=client, base_url=og.base_url, policy=policy),
        WebhookPager(hook.url, HOOK_SECRET, client=client, policy=policy, clock=clock),
    ]
    results: list[PageResult] = []
    # A provider that echoes its own key back in an error must not get it into our logs.
    for fake, secret in ((pd, ROUTING_KEY), (og, GENIE_KEY), (hook, HOOK_SECRET)):
        fake.fail_next(429, retry_after=1)
        fake.fail_next(500)
        fake.reject_next(f"echoing {secret}")
    for pager in pagers:
        results.append(pager.trigger(make_request()))  # 429, 500, then the 400
        results.append(pager.trigger(make_request()))
        results.append(pager.resolve("deploybot-run-12-error_rate"))
    unreachable = PagerDutyPager(ROUTING_KEY, client=client, base_url=closed_port_url(), policy=policy)
    results.append(unreachable.trigger(make_request()))
    wrong_key = OpsgeniePager("wrong-" + GENIE_KEY, client=client, base_url=og.base_url, policy=policy)
    results.append(wrong_key.trigger(make_request()))

    assert [r.ok for r in results] == [False, True, True] * 3 + [False, False]
    assert results[-1].status_code == 401 and "Could not authenticate" in results[-1].error
    exposed = caplog.text + repr(pagers) + repr(results)
    for secret in (ROUTING_KEY, GENIE_KEY, HOOK_SECRET):
        assert secret not in exposed
    assert [results[i].error for i in (0, 3, 6)] == ["echoing [redacted]; echoing [redacted]"] * 3
    # what the logs do say: provider, action, dedup key and status
    assert "paging pagerduty trigger key=deploybot-run-12-error_rate status=202" in caplog.text
    assert "opsgenie trigger refused key=deploybot-run-12-error_rate status=400" in caplog.text


# --- Opsgenie ------------------------------------------------------------------------------------


def test_opsgenie_trigger_shape(og: FakeOpsgenie, client: httpx.Client, policy: RetryPolicy) -> None:
    pager = OpsgeniePager(
        GENIE_KEY,
        client=client,
        base_url=og.base_url,
        policy=policy,
        responders=[{"type": "team", "name": "platform"}],
        slack_to_opsgenie_user={"U0ONCALL": "ana@example.com"},
    )
    result = pager.trigger(make_request(summary="y" * 300))
    assert result.ok and result.status_code == 202
    assert result.response["result"] == "Request will be processed"
    [rec] = og.requests
    assert rec.path == "/v2/alerts"
    assert rec.headers["authorization"] == f"GenieKey {GENIE_KEY}"
    body = rec.json
    assert len(body["message"]) == 130 and body["message"].endswith("…")
    assert body["description"].startswith("y" * 300)  # the full text is kept in the description
    assert body["alias"] == "deploybot-run-12-error_rate"
    assert body["priority"] == "P1"
    assert body["source"] == "lamsa-api" and body["entity"] == "http"
    assert set(body["tags"]) == {"deploybot", "critical", "production"}
    assert body["details"]["threshold"] == "0.02" and body["details"]["samples"] == "30"
    assert body["details"]["since"] == "2026-03-04T10:25:00+00:00"
    assert "https://example.slack.com/archives/C1/p123" in body["details"]["links"]
    assert body["responders"] == [
        {"type": "team", "name": "platform"},
        {"type": "user", "username": "ana@example.com"},
    ]


@pytest.mark.parametrize(
    ("severity", "priority"), [("critical", "P1"), ("error", "P2"), ("warning", "P3"), ("info", "P5")]
)
def test_opsgenie_priority_from_severity(
    og: FakeOpsgenie, client: httpx.Client, policy: RetryPolicy, severity: str, priority: str
) -> None:
    pager = OpsgeniePager(GENIE_KEY, client=client, base_url=og.base_url, policy=policy)
    assert pager.trigger(make_request(severity=severity)).ok
    alert = og.alert("deploybot-run-12-error_rate")
    assert alert is not None and alert.priority == priority


def test_opsgenie_dedup_ack_and_close_by_encoded_alias(
    og: FakeOpsgenie, client: httpx.Client, policy: RetryPolicy
) -> None:
    pager = OpsgeniePager(GENIE_KEY, client=client, base_url=og.base_url, policy=policy)
    alias = "deploybot-run-12-p95 latency/checkout?x=1"
    assert pager.trigger(make_request(alias)).ok
    assert pager.trigger(make_request(alias)).ok
    assert len(og.alerts) == 1 and og.alerts[0].count == 2

    assert pager.acknowledge(alias).ok
    assert og.alerts[0].acknowledged and og.alerts[0].status == "open"
    assert pager.resolve(alias).ok
    assert og.alerts[0].status == "closed"

    ack, close = og.requests[2:]
    assert ack.path == "/v2/alerts/deploybot-run-12-p95%20latency%2Fcheckout%3Fx%3D1/acknowledge"
    assert close.path.endswith("/close") and close.query == {"identifierType": ["alias"]}
    assert close.headers["authorization"] == f"GenieKey {GENIE_KEY}"


def test_opsgenie_change_event_is_a_no_op(og: FakeOpsgenie, client: httpx.Client, policy: RetryPolicy) -> None:
    pager = OpsgeniePager(GENIE_KEY, client=client, base_url=og.base_url, policy=policy)
    result = pager.change_event("Deployed", "lamsa-api", NOW)
    assert result.ok and result.attempts == 0 and og.requests == []


# --- signed webhook ------------------------------------------------------------------------------


def test_webhook_trigger_is_signed_and_verified(
    hook: FakeWebhookReceiver, client: httpx.Client, policy: RetryPolicy, clock: ManualClock
) -> None:
    pager = WebhookPager(hook.url, HOOK_SECRET, client=client, policy=policy, clock=clock)
    result = pager.trigger(make_request())
    assert result.ok and result.status_code == 200

    [rec] = hook.requests
    assert rec.headers[TIMESTAMP_HEADER.lower()] == str(int(NOW.timestamp()))
    expected = hmac.new(HOOK_SECRET.encode(), f"{int(NOW.timestamp())}.".encode() + rec.body, hashlib.sha256)
    assert rec.headers[SIGNATURE_HEADER.lower()] == "v1=" + expected.hexdigest()
    [body] = hook.deliveries
    assert body["event"] == "trigger" and body["dedup_key"] == "deploybot-run-12-error_rate"
    assert body["severity"] == "critical" and body["summary"].startswith("lamsa-api error rate")
    assert body["details"]["value"] == 0.075 and body["details"]["group"] == "production"
    assert body["details"]["since"] == "2026-03-04T10:25:00+00:00"
    assert body["links"] == [{"href": "https://example.slack.com/archives/C1/p123", "text": "Deploy run #12"}]
    assert datetime.fromisoformat(body["sent_at"]) == NOW

    assert pager.acknowledge("deploybot-run-12-error_rate").ok
    assert pager.resolve("deploybot-run-12-error_rate").ok
    assert [d["event"] for d in hook.deliveries] == ["trigger", "acknowledge", "resolve"]


def test_webhook_wrong_secret_is_rejected_and_not_retried(
    hook: FakeWebhookReceiver, client: httpx.Client, policy: RetryPolicy, clock: ManualClock, sleeps: Sleeps
) -> None:
    pager = WebhookPager(hook.url, "not-the-secret", client=client, policy=policy, clock=clock)
    result = pager.trigger(make_request())
    assert not result.ok and result.status_code == 401 and result.attempts == 1
    assert "invalid signature" in result.error and sleeps.durations == []
    assert hook.deliveries == []


def test_webhook_resigns_each_retry_with_a_fresh_timestamp(
    client: httpx.Client, policy: RetryPolicy, clock: ManualClock
) -> None:
    # The receiver rejects anything older than 20 s; a 25 s Retry-After would make a reused stamp stale.
    with FakeWebhookReceiver(HOOK_SECRET, clock, tolerance_s=20) as strict:
        strict.fail_next(429, retry_after=25)
        pager = WebhookPager(strict.url, HOOK_SECRET, client=client, policy=policy, clock=clock)
        assert pager.trigger(make_request()).ok
        stamps = [int(r.headers[TIMESTAMP_HEADER.lower()]) for r in strict.requests]
    assert stamps[1] - stamps[0] == 25


def test_webhook_stale_delivery_is_rejected(client: httpx.Client, policy: RetryPolicy, clock: ManualClock) -> None:
    receiver_clock = ManualClock(NOW + timedelta(minutes=10))
    with FakeWebhookReceiver(HOOK_SECRET, receiver_clock) as receiver:
        pager = WebhookPager(receiver.url, HOOK_SECRET, client=client, policy=policy, clock=clock)
        result = pager.trigger(make_request())
    assert not result.ok and result.status_code == 401


# --- signing -------------------------------------------------------------------------------------


def test_sign_and_verify() -> None:
    body = b'{"event":"trigger"}'
    ts = int(NOW.timestamp())
    sig = sign("s3cret", ts, body)
    assert sig.startswith("v1=") and len(sig) == 3 + 64
    assert sig == sign("s3cret", str(ts), body.decode())
    assert verify("s3cret", str(ts), body, sig, now=NOW)
    assert verify("s3cret", ts, body, sig, now=NOW + timedelta(seconds=300))
    assert not verify("s3cret", ts, body, sig, now=NOW + timedelta(seconds=301))
    assert not verify("s3cret", ts, body, sig, now=NOW - timedelta(seconds=301))
    assert not verify("s3cret", ts, body + b" ", sig, now=NOW)
    assert not verify("s3cret", ts + 1, body, sig, now=NOW)
    assert not verify("other", ts, body, sig, now=NOW)
    assert not verify("", ts, body, sign("", ts, body), now=NOW)
    assert not verify("s3cret", "soon", body, sig, now=NOW)
    assert not verify("s3cret", ts, body, sig.replace("v1=", "v0="), now=NOW)


# --- request values and the chain ----------------------------------------------------------------


def test_dedup_key_and_request_validation() -> None:
    assert dedup_key_for(12, "error_rate") == "deploybot-run-12-error_rate"
    assert len(dedup_key_for(12, "r" * 400)) == 255
    with pytest.raises(ValueError, match="dedup_key"):
        make_request("k" * 256)
    with pytest.raises(ValueError, match="severity"):
        make_request(severity="sev1")
    with pytest.raises(ValueError, match="timezone"):
        make_request(timestamp=datetime(2026, 1, 1))


class RecordingPager:
    """A stand-in provider (e.g. the future Slack mention fallback) implementing the Pager protocol."""

    def __init__(self, name: str, ok: bool = True, explode: bool = False) -> None:
        self.name = name
        self.ok = ok
        self.explode = explode
        self.calls: list[tuple[str, str]] = []

    def _result(self, action: str, key: str) -> PageResult:
        self.calls.append((action, key))
        if self.explode:
            raise RuntimeError("provider bug")
        return PageResult(provider=self.name, ok=self.ok, attempts=1)

    def trigger(self, req: PageRequest) -> PageResult:
        return self._result("trigger", req.dedup_key)

    def acknowledge(self, dedup_key: str) -> PageResult:
        return self._result("acknowledge", dedup_key)

    def resolve(self, dedup_key: str) -> PageResult:
        return self._result("resolve", dedup_key)

    def change_event(
        self,
        summary: str,
        source: str,
        timestamp: datetime,
        links: Sequence[Link] = (),
        custom_details: Mapping[str, Any] | None = None,
    ) -> PageResult:
        return self._result("change", source)


def test_chain_pages_every_provider_and_skips_fallback_when_one_works(
    pd: FakePagerDuty, og: FakeOpsgenie, client: httpx.Client, policy: RetryPolicy
) -> None:
    og.reject_next("nope")
    slack = RecordingPager("slack")
    chain = PagingChain(
        [
            PagerDutyPager(ROUTING_KEY, client=client, base_url=pd.base_url, policy=policy),
            OpsgeniePager(GENIE_KEY, client=client, base_url=og.base_url, policy=policy),
        ],
        fallback=slack,
    )
    outcome = chain.trigger(make_request())
    assert [(r.provider, r.ok) for r in outcome.results] == [("pagerduty", True), ("opsgenie", False)]
    assert outcome.any_ok and not outcome.used_fallback and slack.calls == []
    assert outcome.errors() == ["opsgenie: nope; nope"]


def test_chain_falls_back_when_all_fail_and_survives_a_crashing_provider(
    client: httpx.Client, policy: RetryPolicy, caplog: pytest.LogCaptureFixture
) -> None:
    crashing = RecordingPager("buggy", explode=True)
    unreachable = PagerDutyPager(ROUTING_KEY, client=client, base_url=closed_port_url(), policy=policy)
    slack = RecordingPager("slack")
    chain = PagingChain([crashing, unreachable], fallback=slack)

    outcome = chain.trigger(make_request())
    assert [(r.provider, r.ok) for r in outcome.results] == [
        ("buggy", False),
        ("pagerduty", False),
        ("slack", True),
    ]
    assert outcome.used_fallback and outcome.any_ok
    assert outcome.results[0].error == "RuntimeError in provider"
    assert slack.calls == [("trigger", "deploybot-run-12-error_rate")]

    assert chain.resolve("deploybot-run-12-error_rate").used_fallback
    change = chain.change_event("Deployed", "lamsa-api", NOW)
    assert not change.used_fallback and [c for c in slack.calls if c[0] == "change"] == []


def test_chain_with_no_providers_uses_fallback() -> None:
    slack = RecordingPager("slack")
    outcome = PagingChain([], fallback=slack).trigger(make_request())
    assert outcome.used_fallback and outcome.any_ok and len(outcome.results) == 1
    assert not PagingChain([]).trigger(make_request()).any_ok
