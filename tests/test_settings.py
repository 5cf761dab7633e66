"""Settings: env + YAML -> one frozen object; every problem reported at once; secrets never shown."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, get_args

import pytest
import yaml
from pydantic import BaseModel

from bot.checklist.loader import load_template
from bot.checklist.model import Contact, SignoffRole, Template
from bot.config.problems import SECRET_ENV_NAMES
from bot.config.schema import DeployConfig, HttpProbe, PrometheusProbe, SmokeProbe
from bot.settings import Settings, SettingsError, build_settings, load_settings

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "deploybot.example.yaml"
BOT_TOKEN = "xoxb-1111-2222-SeCrEtBoTtOkEn"
SIGNING = "8f742231b10e8888abcd99yyyzzz85a5"
APP_TOKEN = "xapp-1-A0-777-SeCrEtApPtOkEn"
ROUTING_KEY = "R0UTINGKEYsecret0123456789abcdef"
GENIE_KEY = "0f0e0d0c-geniekey-secret"
DB_PASSWORD = "pg-PaSsWoRd-42"
SLACK_ENV = {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING}


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "deploybot.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def problems_of(exc: pytest.ExceptionInfo[SettingsError]) -> list[str]:
    return str(exc.value).splitlines()[1:]


def minimal(**extra: Any) -> dict[str, Any]:
    return {"channel": "C0123456789", **extra}


# --- loading ---------------------------------------------------------------------------------------


def test_example_file_validates_and_matches_the_default_template() -> None:
    env = {**SLACK_ENV, "PAGERDUTY_ROUTING_KEY": ROUTING_KEY, "OPSGENIE_API_KEY": GENIE_KEY}
    settings = load_settings(env, str(EXAMPLE))
    assert settings.channel == "C0123456789"
    assert settings.config_path == str(EXAMPLE)
    payments = settings.service("payments-api")
    assert [p.name for p in payments.probes] == ["health", "smoke", "error_rate", "latency_p95", "throughput"]
    assert payments.rules[0].max == 0.05 and payments.rules[0].consecutive_failures == 3
    assert payments.url_for("/healthz") == "http://127.0.0.1:8080/healthz"
    assert settings.paging_providers == ("pagerduty", "opsgenie", "webhook", "slack")
    template = load_template(ROOT / "templates" / "checklists" / "lamsa-production.md")
    assert settings.template_problems(template) == []


def schema_keys(model: type[BaseModel]) -> set[str]:
    keys: set[str] = set()
    stack: list[Any] = [model, HttpProbe, SmokeProbe, PrometheusProbe]
    while stack:
        tp = stack.pop()
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            for name, field in tp.model_fields.items():
                keys.add(name)
                stack.append(field.annotation)
        else:
            stack.extend(get_args(tp))
    return keys


def test_docs_and_example_cover_every_key_and_variable() -> None:
    docs = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    example = EXAMPLE.read_text(encoding="utf-8")
    keys = schema_keys(DeployConfig)
    assert {"channel", "max_ratio_to_baseline", "checks", "report_after_s", "webhook_url"} <= keys
    for key in keys:
        assert f"`{key}" in docs or f".{key}`" in docs, key
        assert f"{key}:" in example, key
    for name in (*SECRET_ENV_NAMES, "SLACK_API_URL", "HOST", "PORT", "DEPLOYBOT_CONFIG"):
        assert f"| `{name}` |" in docs, name


def test_missing_default_file_means_all_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings({}, require_slack=False)
    assert settings.config_path is None
    assert settings.channel is None
    assert settings.template == "lamsa-production"
    assert settings.separation_of_duties is True
    assert settings.escalation.ack_timeout_minutes == 10
    assert settings.schedule.first_hour.metrics_every_s == 60
    assert settings.schedule.first_week.report_after_s == 604800
    assert settings.config.probe_concurrency == 50
    assert settings.config.update_coalesce_seconds == 1.0
    assert settings.host == "127.0.0.1" and settings.port == 3000
    assert settings.database_url == f"sqlite:///{tmp_path / 'deploybot.db'}"
    assert settings.paging_providers == ("slack",)
    assert settings.permissions.start.everyone


def test_default_file_is_read_from_the_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "deploybot.yaml").write_text("channel: C0DEFAULT1\n", encoding="utf-8")
    assert load_settings(SLACK_ENV).channel == "C0DEFAULT1"


def test_deploybot_config_env_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "channel: C0FROMENV1\ntemplate: other-list\n")
    settings = load_settings({**SLACK_ENV, "DEPLOYBOT_CONFIG": path})
    assert (settings.channel, settings.template) == ("C0FROMENV1", "other-list")


def test_missing_explicit_file_is_an_error_alongside_env_problems(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.yaml")
    with pytest.raises(SettingsError) as exc:
        load_settings({"DEPLOYBOT_CONFIG": missing, "PORT": "x"})
    lines = problems_of(exc)
    assert lines[0] == f"- DEPLOYBOT_CONFIG: file {missing!r} not found"
    assert any(line.startswith("- SLACK_BOT_TOKEN: missing") for line in lines)
    assert any(line.startswith("- PORT:") for line in lines)
    with pytest.raises(SettingsError, match="config file .* not found"):
        load_settings(SLACK_ENV, missing)


def test_environment_values() -> None:
    env = {
        **SLACK_ENV,
        "SLACK_APP_TOKEN": APP_TOKEN,
        "SLACK_API_URL": "http://127.0.0.1:4567/api",
        "DATABASE_URL": f"postgresql+psycopg://bot:{DB_PASSWORD}@127.0.0.1/deploybot",
        "DEPLOYBOT_API_TOKEN": "ci-bearer-token",
        "HOST": "0.0.0.0",
        "PORT": "0",
    }
    settings = build_settings(minimal(), env)
    assert settings.slack_api_url == "http://127.0.0.1:4567/api/"
    assert settings.socket_mode
    assert settings.port == 0 and settings.host == "0.0.0.0"
    assert settings.database_url.endswith("@127.0.0.1/deploybot")
    assert settings.slack_bot_token is not None and settings.slack_bot_token.get_secret_value() == BOT_TOKEN
    assert settings.api_token is not None and settings.api_token.get_secret_value() == "ci-bearer-token"
    assert set(settings.secret_values()) >= {BOT_TOKEN, SIGNING, APP_TOKEN, "ci-bearer-token", DB_PASSWORD}


def test_socket_mode_needs_no_signing_secret() -> None:
    settings = build_settings(minimal(), {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_APP_TOKEN": APP_TOKEN})
    assert settings.slack_signing_secret is None and settings.socket_mode


def test_without_require_slack_nothing_slack_is_needed() -> None:
    settings = build_settings({}, {}, require_slack=False)
    assert settings.slack_bot_token is None and settings.channel is None


def test_settings_is_frozen() -> None:
    settings = build_settings(minimal(), SLACK_ENV)
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.port = 1  # type: ignore[misc]
    with pytest.raises(Exception, match="frozen"):
        settings.config.escalation.repeat = True


# --- secrets never shown -----------------------------------------------------------------------------


def test_repr_and_str_never_show_secrets() -> None:
    env = {
        **SLACK_ENV,
        "SLACK_APP_TOKEN": APP_TOKEN,
        "PAGERDUTY_ROUTING_KEY": ROUTING_KEY,
        "OPSGENIE_API_KEY": GENIE_KEY,
        "PAGING_WEBHOOK_SECRET": "paging-hook-secret",
        "ROLLBACK_WEBHOOK_SECRET": "rollback-hook-secret",
        "DEPLOYBOT_API_TOKEN": "ci-bearer-token",
        "DATABASE_URL": f"postgresql://bot:{DB_PASSWORD}@db/deploybot",
    }
    settings = build_settings(minimal(), env)
    for text in (repr(settings), str(settings)):
        for secret in (*settings.secret_values(), "paging-hook-secret", "rollback-hook-secret"):
            assert secret not in text
    assert "**********" in repr(settings)
    assert len(settings.secret_values()) == 9


def test_errors_never_quote_secret_values(tmp_path: Path) -> None:
    # A secret pasted into the YAML, a malformed token and a DB URL with a password in it.
    path = write(tmp_path, f"channel: C0123\nslack_bot_token: {BOT_TOKEN}\noncall:\n  primary: {ROUTING_KEY}\n")
    env = {
        "SLACK_BOT_TOKEN": "xoxp-" + SIGNING,
        "SLACK_APP_TOKEN": "nota-" + GENIE_KEY,
        "DATABASE_URL": f"nonsense {DB_PASSWORD}",
    }
    with pytest.raises(SettingsError) as exc:
        load_settings(env, path)
    text = str(exc.value)
    for secret in (BOT_TOKEN, ROUTING_KEY, SIGNING, GENIE_KEY, DB_PASSWORD):
        assert secret not in text
    assert "slack_bot_token: unknown key; this comes from the environment only: set SLACK_BOT_TOKEN" in text
    assert "SLACK_BOT_TOKEN: not a bot token (must start with xoxb-)" in text
    assert "SLACK_APP_TOKEN: not an app-level token (must start with xapp-)" in text
    assert "DATABASE_URL: not a database URL" in text
    assert "oncall.primary: not a Slack user id (U... or W...) (line 4)" in text


# --- every problem at once ------------------------------------------------------------------------------

BROKEN = """\
channel: C0123456789
servics: {}
services:
  payments-api:
    base_url: http://127.0.0.1:8080
    probes:
      - {name: health, type: http, url: /healthz}
      - {name: health, type: htp, url: /healthz}
      - {name: err, type: prometheus, query: up}
    rules:
      - {name: error_rate, probe: error_rat, mx: 0.05}
      - {name: bounds, probe: health, min: 3, max: 1}
  web:
    base_url: ftp://example
permissions:
  start: {users: [U1], usergroup: [S1]}
escalation: {ack_timeout_minutes: 0}
probe_concurrency: lots
paging:
  providers: [pagerduty, webhook]
"""


def test_every_problem_is_listed_at_once(tmp_path: Path) -> None:
    path = write(tmp_path, BROKEN)
    with pytest.raises(SettingsError) as exc:
        load_settings({"SLACK_BOT_TOKEN": BOT_TOKEN, "PORT": "http", "SLACK_API_URL": "slack.com/api"}, path)
    lines = problems_of(exc)
    expected = [
        "- services.payments-api.probes[1]: unknown type 'htp' (did you mean 'http'?) (line 8)",
        "- services.payments-api.rules[0].mx: unknown key (did you mean 'max'?) (line 11)",
        "- services.payments-api.rules[1]: min is greater than max (line 12)",
        "- services.web.base_url: not an absolute http(s) URL (e.g. http://127.0.0.1:8080) (line 14)",
        "- permissions.start.usergroup: unknown key (did you mean 'usergroups'?) (line 16)",
        "- escalation.ack_timeout_minutes: Input should be greater than 0 (line 17)",
        "- servics: unknown key (did you mean 'services'?) (line 2)",
        "- services.payments-api.probes[1].name: probe name 'health' used twice (line 8)",
        "- services.payments-api.probes[2].type: a prometheus probe needs the top-level prometheus.url (line 9)",
        "- services.payments-api.rules[0].probe: unknown probe 'error_rat' (probes: health, err) (line 11)",
        "- PAGERDUTY_ROUTING_KEY: missing; paging.providers lists pagerduty (line 20)",
        "- paging.webhook.url: missing; paging.providers lists webhook (line 20)",
        "- SLACK_SIGNING_SECRET: missing; copy the Signing Secret from your Slack app's Basic Information page "
        "(or set SLACK_APP_TOKEN to use Socket Mode)",
        "- SLACK_API_URL: not an absolute http(s) URL (e.g. http://127.0.0.1:8080); e.g. https://slack.com/api/",
        "- PORT: 'http' is not a port number (0-65535)",
    ]
    for line in expected:
        assert line in lines
    assert any(line.startswith("- probe_concurrency: Input should be a valid integer") for line in lines)
    assert len(lines) == len(expected) + 1
    assert str(exc.value).splitlines()[0] == f"Deploy Bot configuration ({path}) has 16 problems:"


def test_missing_slack_secrets_and_channel_say_what_to_do() -> None:
    with pytest.raises(SettingsError) as exc:
        build_settings({}, {})
    assert problems_of(exc) == [
        "- channel: missing; set the deployment channel id (C...) in the YAML file",
        "- SLACK_BOT_TOKEN: missing; create a Slack app from app_manifest.yaml and copy the Bot User OAuth "
        "Token (xoxb-...)",
        "- SLACK_SIGNING_SECRET: missing; copy the Signing Secret from your Slack app's Basic Information page "
        "(or set SLACK_APP_TOKEN to use Socket Mode)",
    ]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("channel: C01\nservices: {a: [1\n", "- YAML syntax error at line 3, column 1:"),
        ("channel: C01\n  bad: indent\n", "- YAML syntax error at line 2, column 6: mapping values are not allowed"),
        ("- a\n- b\n", "- (top level): the YAML file must be a mapping"),
        ("channel: C01\nchannel: C02\n", "- channel: duplicate key (line 2)"),
        ("# only a comment\n", "- channel: missing; set the deployment channel id"),
    ],
)
def test_bad_yaml_names_the_line(tmp_path: Path, text: str, problem: str) -> None:
    with pytest.raises(SettingsError) as exc:
        load_settings(SLACK_ENV, write(tmp_path, text))
    assert any(line.startswith(problem) for line in problems_of(exc)), problems_of(exc)


def test_yaml_syntax_error_does_not_echo_the_source_line(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as exc:
        load_settings(SLACK_ENV, write(tmp_path, f"channel: C01\n  token: {BOT_TOKEN}\n"))
    assert BOT_TOKEN not in str(exc.value)


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({"channel": "general"}, "- channel: not a Slack channel id (C... or G...)"),
        ({"services": {"Payments API": {"base_url": "http://x"}}}, "- services.Payments API: bad name: not a key"),
        ({"services": {"a": {}}}, "- services.a.base_url: missing (required)"),
        (
            {"services": {"a": {"base_url": "http://x", "probes": [{"name": "h", "url": "/"}]}}},
            "- services.a.probes[0]: missing 'type' (one of: http, smoke, prometheus)",
        ),
        (
            {"services": {"a": {"base_url": "http://x", "probes": [{"name": "s", "type": "smoke", "checks": []}]}}},
            "- services.a.probes[0].checks: needs at least 1 item",
        ),
        (
            {"services": {"a": {"base_url": "http://x", "probes": [{"name": "h", "type": "http", "url": "healthz"}]}}},
            "- services.a.probes[0].url: not a path starting with '/' or an absolute http(s) URL",
        ),
        ({"approvers": {"security-team": {"usergroups": ["U1"]}}}, "- approvers.security-team.usergroups[0]: not a"),
        ({"paging": {"providers": ["pagerduty", "pagerduty"]}}, "- paging: providers lists a provider twice"),
        ({"paging": {"providers": ["sms"]}}, "- paging.providers[0]: Input should be 'pagerduty'"),
        ({"schedule": {"first_hour": {"metrics_every": 5}}}, "did you mean 'metrics_every_s'?"),
        ({"services": {"a": 5}}, "- services.a: should be a mapping (key: value lines or {key: value})"),
        ({"paging": {"providers": "pagerduty"}}, "- paging.providers: should be a list (- item lines or [a, b])"),
    ],
)
def test_schema_problems(data: dict[str, Any], problem: str) -> None:
    with pytest.raises(SettingsError) as exc:
        build_settings({"channel": "C0123456789", **data}, SLACK_ENV)
    assert any(problem in line for line in problems_of(exc)), problems_of(exc)


def test_build_settings_accepts_the_yaml_shapes_from_the_brief() -> None:
    data = yaml.safe_load(
        """
        channel: C0123456789
        permissions: {start: {users: [U1], usergroups: [S1]}}
        approvers: {security-team: {users: [U1], usergroups: [S1]}}
        oncall: {primary-engineer: U1}
        services:
          payments-api:
            base_url: http://127.0.0.1:8080/v1/
            probes:
              - {name: health, type: http, url: /healthz, expect_status: 200, timeout_s: 5}
              - {name: smoke, type: smoke, checks: [{name: "API smoke tests", url: /smoke/api, critical: true}]}
              - {name: error_rate, type: prometheus, query: 'up'}
            rules:
              - {name: error_rate, probe: error_rate, max: 0.05, min_samples: 50, consecutive_failures: 3,
                 failure_limit: 5, consecutive_error_limit: 4, no_data: inconclusive, critical: false,
                 severity: critical}
        prometheus: {url: http://127.0.0.1:9090}
        paging: {webhook: {url: http://127.0.0.1:1/page}}
        """
    )
    settings = build_settings(data, {**SLACK_ENV, "OPSGENIE_API_KEY": GENIE_KEY})
    service = settings.service("payments-api")
    assert service.url_for("/healthz") == "http://127.0.0.1:8080/v1/healthz"
    assert service.url_for("http://other:1/x") == "http://other:1/x"
    assert service.probe("error_rate").type == "prometheus"
    # No providers listed: every configured one, in the fixed order, then Slack.
    assert settings.paging_providers == ("opsgenie", "webhook", "slack")
    assert settings.permissions.start.allows("U1")
    assert settings.permissions.start.allows("U9", member_of=["S1"])
    assert not settings.permissions.start.allows("U9", member_of=["S2"])
    assert settings.permissions.abort.allows("U9")  # not configured: everyone
    assert settings.approvers_for("security-team").users == ("U1",)
    assert settings.approvers_for("business-owner").everyone
    assert settings.oncall_user("primary-engineer") == "U1" and settings.oncall_user("devops-lead") is None
    with pytest.raises(KeyError, match="unknown service 'web'"):
        settings.service("web")


def test_template_problems_flag_unknown_roles_and_slots() -> None:
    template = Template(
        name="t",
        title="T",
        sections=(),
        signoff_roles=(SignoffRole("security-team", "Security Team", "Technical Review", False, 1),),
        contacts=(Contact("primary-engineer", "Primary Engineer", "", "oncall", 2),),
        content_hash="x",
    )
    settings: Settings = build_settings(
        minimal(approvers={"security-tem": {}}, oncall={"primary-engineer": "U1", "pager": "U2"}), SLACK_ENV
    )
    assert settings.template_problems(template) == [
        "approvers.security-tem: not a sign-off role of the template (roles: security-team)",
        "oncall.pager: not an on-call slot of the template (slots: primary-engineer)",
    ]
