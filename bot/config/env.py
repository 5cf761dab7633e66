"""Secrets and process settings from the environment. Problems never quote a secret's value."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import SecretStr
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from bot.config.schema import check_http_url

BOT_TOKEN_HELP = "create a Slack app from app_manifest.yaml and copy the Bot User OAuth Token (xoxb-...)"
SIGNING_HELP = (
    "copy the Signing Secret from your Slack app's Basic Information page (or set SLACK_APP_TOKEN to use Socket Mode)"
)
APP_TOKEN_HELP = "create an app-level token with connections:write under Basic Information (xapp-...)"


@dataclass(frozen=True)
class EnvValues:
    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: str | None = None
    database_url: str = field(default="", repr=False)  # may carry a password
    api_token: SecretStr | None = None
    pagerduty_routing_key: SecretStr | None = None
    opsgenie_api_key: SecretStr | None = None
    paging_webhook_secret: SecretStr | None = None
    pagerduty_webhook_secret: SecretStr | None = None  # verifies PagerDuty's V3 webhooks to us
    rollback_webhook_secret: SecretStr | None = None
    host: str = "127.0.0.1"
    port: int = 3000
    config_path: str = "deploybot.yaml"
    config_path_explicit: bool = False


def _secret(env: Mapping[str, str], name: str) -> SecretStr | None:
    value = env.get(name, "").strip()
    return SecretStr(value) if value else None


def default_database_url() -> str:
    return f"sqlite:///{Path.cwd() / 'deploybot.db'}"


def read_env(env: Mapping[str, str], *, require_slack: bool) -> tuple[EnvValues, list[str]]:
    problems: list[str] = []

    bot_token = _secret(env, "SLACK_BOT_TOKEN")
    signing = _secret(env, "SLACK_SIGNING_SECRET")
    app_token = _secret(env, "SLACK_APP_TOKEN")
    if bot_token is None:
        if require_slack:
            problems.append(f"SLACK_BOT_TOKEN: missing; {BOT_TOKEN_HELP}")
    elif not bot_token.get_secret_value().startswith("xoxb-"):
        problems.append(f"SLACK_BOT_TOKEN: not a bot token (must start with xoxb-); {BOT_TOKEN_HELP}")
    if app_token is not None and not app_token.get_secret_value().startswith("xapp-"):
        problems.append(f"SLACK_APP_TOKEN: not an app-level token (must start with xapp-); {APP_TOKEN_HELP}")
    if signing is None and app_token is None and require_slack:
        problems.append(f"SLACK_SIGNING_SECRET: missing; {SIGNING_HELP}")

    api_url = env.get("SLACK_API_URL", "").strip() or None
    if api_url is not None:
        try:
            check_http_url(api_url)
            api_url = api_url if api_url.endswith("/") else api_url + "/"
        except ValueError as exc:
            problems.append(f"SLACK_API_URL: {exc}; e.g. https://slack.com/api/")
            api_url = None

    database_url = env.get("DATABASE_URL", "").strip() or default_database_url()
    try:
        make_url(database_url)
    except (ArgumentError, ValueError):
        problems.append(
            "DATABASE_URL: not a database URL; e.g. postgresql+psycopg://user:password@host/db "
            "or sqlite:///path/deploybot.db"
        )

    host = env.get("HOST", "").strip() or "127.0.0.1"
    port_text = env.get("PORT", "").strip() or "3000"
    port = 3000
    if port_text.isdigit() and int(port_text) <= 65535:
        port = int(port_text)
    else:
        problems.append(f"PORT: {port_text!r} is not a port number (0-65535)")

    config_text = env.get("DEPLOYBOT_CONFIG", "").strip()
    values = EnvValues(
        slack_bot_token=bot_token,
        slack_signing_secret=signing,
        slack_app_token=app_token,
        slack_api_url=api_url,
        database_url=database_url,
        api_token=_secret(env, "DEPLOYBOT_API_TOKEN"),
        pagerduty_routing_key=_secret(env, "PAGERDUTY_ROUTING_KEY"),
        opsgenie_api_key=_secret(env, "OPSGENIE_API_KEY"),
        paging_webhook_secret=_secret(env, "PAGING_WEBHOOK_SECRET"),
        pagerduty_webhook_secret=_secret(env, "PAGERDUTY_WEBHOOK_SECRET"),
        rollback_webhook_secret=_secret(env, "ROLLBACK_WEBHOOK_SECRET"),
        host=host,
        port=port,
        config_path=config_text or "deploybot.yaml",
        config_path_explicit=bool(config_text),
    )
    return values, problems


def database_password(url: str) -> str | None:
    """The password inside a database URL, so the log filter can hide it."""
    try:
        return make_url(url).password or None
    except (ArgumentError, ValueError):
        return urlsplit(url).password if "://" in url else None
