"""The YAML configuration schema: small frozen pydantic models, unknown keys rejected.

Secrets never live here; they come from the environment (see bot/config/env.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator


def _pattern(regex: str, what: str) -> AfterValidator:
    compiled = re.compile(regex)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise ValueError(f"not {what}")
        return value

    return AfterValidator(check)


def check_http_url(value: str) -> str:
    """An absolute http(s) URL with a host; the value is kept exactly as written."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("not an absolute http(s) URL (e.g. http://127.0.0.1:8080)")
    return value


def _check_probe_url(value: str) -> str:
    if value.startswith("/"):
        return value
    try:
        return check_http_url(value)
    except ValueError:
        raise ValueError("not a path starting with '/' or an absolute http(s) URL") from None


UserId = Annotated[str, _pattern(r"[UW][A-Z0-9]+", "a Slack user id (U... or W...)")]
UsergroupId = Annotated[str, _pattern(r"S[A-Z0-9]+", "a Slack user group id (S...)")]
ChannelId = Annotated[str, _pattern(r"[CG][A-Z0-9]+", "a Slack channel id (C... or G...)")]
Slug = Annotated[str, _pattern(r"[a-z0-9][a-z0-9_-]*", "a key of lowercase letters, digits, '-' and '_'")]
Name = Annotated[str, _pattern(r"[A-Za-z0-9][A-Za-z0-9_.-]*", "a name of letters, digits, '.', '-' and '_'")]
HttpUrl = Annotated[str, AfterValidator(check_http_url)]
ProbeUrl = Annotated[str, AfterValidator(_check_probe_url)]
Seconds = Annotated[float, Field(gt=0)]
Status = Annotated[int, Field(ge=100, le=599)]
Method = Literal["GET", "HEAD", "POST"]
Severity = Literal["critical", "error", "warning", "info"]
Provider = Literal["pagerduty", "opsgenie", "webhook", "slack"]

PROVIDER_ORDER: tuple[Provider, ...] = ("pagerduty", "opsgenie", "webhook", "slack")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Audience(Strict):
    """A set of Slack users and user groups. Empty means everyone."""

    users: tuple[UserId, ...] = ()
    usergroups: tuple[UsergroupId, ...] = ()

    @property
    def everyone(self) -> bool:
        return not self.users and not self.usergroups

    def allows(self, user_id: str, member_of: Iterable[str] = ()) -> bool:
        """`member_of` is the user groups the user belongs to (resolved by the caller)."""
        if self.everyone or user_id in self.users:
            return True
        return any(group in self.usergroups for group in member_of)


class Permissions(Strict):
    start: Audience = Audience()
    abort: Audience = Audience()
    deploy: Audience = Audience()  # mark deployed
    incident: Audience = Audience()  # declare an incident


class Escalation(Strict):
    ack_timeout_minutes: Annotated[float, Field(gt=0)] = 10
    repeat: bool = False  # keep paging the next slot round after round until someone acknowledges
    auto_resolve: bool = True  # resolve an alert when its rule recovers (recovery_passes in a row)


class HttpProbe(Strict):
    name: Name
    type: Literal["http"]
    url: ProbeUrl
    method: Method = "GET"
    expect_status: Status = 200
    expect_body: str | None = None  # substring the body must contain
    timeout_s: Seconds = 5


class SmokeCheck(Strict):
    name: str = Field(min_length=1)
    url: ProbeUrl
    method: Method = "GET"
    expect_status: Status = 200
    critical: bool = True


class SmokeProbe(Strict):
    name: Name
    type: Literal["smoke"]
    checks: tuple[SmokeCheck, ...] = Field(min_length=1)
    timeout_s: Seconds = 5  # per check


class PrometheusProbe(Strict):
    name: Name
    type: Literal["prometheus"]
    query: str = Field(min_length=1)
    samples_query: str | None = None  # sample size (e.g. requests in the window) for rules' min_samples
    timeout_s: Seconds | None = None  # None: prometheus.timeout_s


Probe = Annotated[HttpProbe | SmokeProbe | PrometheusProbe, Field(discriminator="type")]


class Rule(Strict):
    """How one probe's samples become a verdict. No threshold: the probe's own pass/fail decides."""

    name: Name
    probe: Name
    max: float | None = None
    min: float | None = None
    max_ratio_to_baseline: Annotated[float, Field(gt=0)] | None = None
    min_samples: Annotated[int, Field(ge=0)] = 0
    consecutive_failures: Annotated[int, Field(ge=1)] = 1
    failure_limit: Annotated[int, Field(ge=1)] | None = None
    consecutive_error_limit: Annotated[int, Field(ge=1)] | None = None
    no_data: Literal["inconclusive", "pass", "fail"] = "inconclusive"
    critical: bool = False
    severity: Severity = "critical"

    @model_validator(mode="after")
    def _bounds_ordered(self) -> Rule:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("min is greater than max")
        return self


class Rollback(Strict):
    webhook_url: HttpUrl
    timeout_s: Seconds = 10


class Service(Strict):
    base_url: HttpUrl
    previous_version: str | None = None
    probes: tuple[Probe, ...] = ()
    rules: tuple[Rule, ...] = ()
    rollback: Rollback | None = None
    rollback_instructions: str | None = None

    def probe(self, name: str) -> HttpProbe | SmokeProbe | PrometheusProbe:
        for p in self.probes:
            if p.name == name:
                return p
        raise KeyError(name)

    def url_for(self, path_or_url: str) -> str:
        """A probe URL: paths are appended to base_url (its path prefix kept), absolute URLs pass through."""
        if not path_or_url.startswith("/"):
            return path_or_url
        return self.base_url.rstrip("/") + path_or_url


class Prometheus(Strict):
    url: HttpUrl
    timeout_s: Seconds = 5


class FirstHour(Strict):
    metrics_every_s: Seconds = 60
    smoke_every_s: Seconds = 300
    summary_after_s: Seconds = 3600


class FirstDay(Strict):
    trend_every_s: Seconds = 3600
    summary_after_s: Seconds = 86400


class FirstWeek(Strict):
    check_every_s: Seconds = 86400
    report_after_s: Seconds = 604800


class Schedule(Strict):
    first_hour: FirstHour = FirstHour()
    first_day: FirstDay = FirstDay()
    first_week: FirstWeek = FirstWeek()


class PagerDuty(Strict):
    url: HttpUrl = "https://events.pagerduty.com"


class Opsgenie(Strict):
    url: HttpUrl = "https://api.opsgenie.com"


class PagingWebhook(Strict):
    url: HttpUrl


class Paging(Strict):
    providers: tuple[Provider, ...] | None = None  # None: every provider whose secret/URL is configured
    pagerduty: PagerDuty = PagerDuty()
    opsgenie: Opsgenie = Opsgenie()
    webhook: PagingWebhook | None = None
    timeout_s: Seconds = 10

    @model_validator(mode="after")
    def _providers_unique(self) -> Paging:
        if self.providers is not None and len(set(self.providers)) != len(self.providers):
            raise ValueError("providers lists a provider twice")
        return self


class DeployConfig(Strict):
    """The whole YAML file. Every key is optional; `channel` is checked by the loader when Slack is needed."""

    channel: ChannelId | None = None
    template: Slug = "lamsa-production"
    timezone_label: str = "UTC"
    permissions: Permissions = Permissions()
    separation_of_duties: bool = True
    approvers: dict[Slug, Audience] = Field(default_factory=dict)  # sign-off role key -> approvers
    oncall: dict[Slug, UserId] = Field(default_factory=dict)  # roster slot key -> user id
    escalation: Escalation = Escalation()
    services: dict[Slug, Service] = Field(default_factory=dict)
    prometheus: Prometheus | None = None
    schedule: Schedule = Schedule()
    probe_concurrency: Annotated[int, Field(ge=1, le=1000)] = 50
    paging: Paging = Paging()
    update_coalesce_seconds: Annotated[float, Field(ge=0)] = 1.0
