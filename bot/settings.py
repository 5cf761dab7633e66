"""Environment + YAML -> one frozen, typed Settings object. Every problem is reported at once.

Secrets come from the environment only and are held as SecretStr, so repr() never shows them.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

from pydantic import SecretStr, ValidationError

from bot.config.crosscheck import config_problems, paging_problems, raw_service_problems
from bot.config.env import EnvValues, database_password, read_env
from bot.config.errors import SettingsError
from bot.config.problems import validation_problems
from bot.config.schema import (
    PROVIDER_ORDER,
    Audience,
    DeployConfig,
    Escalation,
    Paging,
    Permissions,
    Prometheus,
    Provider,
    Schedule,
    Service,
)
from bot.config.yaml_source import YamlDocument, parse_yaml

__all__ = ["Settings", "SettingsError", "build_settings", "load_settings"]


class _TemplateLike(Protocol):
    """What template_problems needs from bot.checklist.Template."""

    @property
    def signoff_roles(self) -> Any: ...

    @property
    def oncall_slots(self) -> Any: ...


@dataclass(frozen=True)
class Settings:
    config: DeployConfig
    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: str | None = None  # Web API base URL, always with a trailing slash
    database_url: str = field(default="", repr=False)  # may carry a password
    api_token: SecretStr | None = None  # bearer token for the CI HTTP API
    pagerduty_routing_key: SecretStr | None = None
    opsgenie_api_key: SecretStr | None = None
    paging_webhook_secret: SecretStr | None = None
    pagerduty_webhook_secret: SecretStr | None = None
    rollback_webhook_secret: SecretStr | None = None
    host: str = "127.0.0.1"
    port: int = 3000
    config_path: str | None = None  # the YAML file read; None when running on defaults

    # --- typed accessors -------------------------------------------------------------------------
    @property
    def channel(self) -> str | None:
        return self.config.channel

    @property
    def template(self) -> str:
        return self.config.template

    @property
    def permissions(self) -> Permissions:
        return self.config.permissions

    @property
    def separation_of_duties(self) -> bool:
        return self.config.separation_of_duties

    @property
    def escalation(self) -> Escalation:
        return self.config.escalation

    @property
    def services(self) -> Mapping[str, Service]:
        return self.config.services

    @property
    def prometheus(self) -> Prometheus | None:
        return self.config.prometheus

    @property
    def schedule(self) -> Schedule:
        return self.config.schedule

    @property
    def paging(self) -> Paging:
        return self.config.paging

    @property
    def socket_mode(self) -> bool:
        return self.slack_app_token is not None

    def service(self, name: str) -> Service:
        try:
            return self.config.services[name]
        except KeyError:
            known = ", ".join(self.config.services) or "none configured"
            raise KeyError(f"unknown service {name!r} (services: {known})") from None

    def approvers_for(self, role_key: str) -> Audience:
        """Who may sign a role. A role not listed: anyone (separation of duties still applies)."""
        return self.config.approvers.get(role_key, Audience())

    def oncall_user(self, slot: str) -> str | None:
        return self.config.oncall.get(slot)

    @property
    def paging_providers(self) -> tuple[Provider, ...]:
        """Providers in the order to try; Slack is always last, as the fallback."""
        chosen: list[Provider]
        if self.config.paging.providers is not None:
            chosen = [p for p in self.config.paging.providers if p != "slack"]
        else:
            configured = {
                "pagerduty": self.pagerduty_routing_key is not None,
                "opsgenie": self.opsgenie_api_key is not None,
                "webhook": self.config.paging.webhook is not None,
            }
            chosen = [p for p in PROVIDER_ORDER if configured.get(p)]
        return (*chosen, "slack")

    def secret_values(self) -> list[str]:
        """Every configured secret string, for the log redaction filter."""
        secrets = [
            s.get_secret_value()
            for s in (
                self.slack_bot_token,
                self.slack_signing_secret,
                self.slack_app_token,
                self.api_token,
                self.pagerduty_routing_key,
                self.opsgenie_api_key,
                self.paging_webhook_secret,
                self.pagerduty_webhook_secret,
                self.rollback_webhook_secret,
            )
            if s is not None
        ]
        password = database_password(self.database_url)
        if password:
            secrets += [password, quote(password, safe="")]
        return list(dict.fromkeys(s for s in secrets if s))

    def open_roles(self, template: _TemplateLike) -> list[str]:
        """The template's sign-off roles with no `approvers` entry: anyone may sign them."""
        return [r.key for r in template.signoff_roles if r.key not in self.config.approvers]

    def template_problems(self, template: _TemplateLike) -> list[str]:
        """Approver and on-call keys that the checklist template does not define (likely typos)."""
        roles = {r.key for r in template.signoff_roles}
        slots = {c.slot for c in template.oncall_slots}
        out = [
            f"approvers.{key}: not a sign-off role of the template (roles: {', '.join(sorted(roles))})"
            for key in self.config.approvers
            if key not in roles
        ]
        out += [
            f"oncall.{key}: not an on-call slot of the template (slots: {', '.join(sorted(slots))})"
            for key in self.config.oncall
            if key not in slots
        ]
        return out


def _validate(data: Any, env: EnvValues, doc: YamlDocument | None) -> tuple[DeployConfig | None, list[str]]:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        return None, ["(top level): the YAML file must be a mapping of keys (channel: ..., services: ...)"]
    try:
        return DeployConfig.model_validate(data), []
    except ValidationError as exc:
        problems = validation_problems(exc, DeployConfig, doc)
    # The whole file failed: still check the references between probes and rules of each service.
    services = data.get("services")
    if isinstance(services, dict):
        has_prometheus = isinstance(data.get("prometheus"), dict)
        for name, raw in services.items():
            problems += raw_service_problems(str(name), raw, has_prometheus=has_prometheus, doc=doc)
    with contextlib.suppress(ValidationError):  # an invalid paging section is already reported
        problems += paging_problems(Paging.model_validate(data.get("paging") or {}), env, doc=doc)
    return None, problems


def build_settings(
    data: Any,
    env: Mapping[str, str] | None = None,
    *,
    require_slack: bool = True,
    config_path: str | None = None,
    doc: YamlDocument | None = None,
) -> Settings:
    """Settings from already-parsed YAML data (tests build configs as dicts this way)."""
    env_values, problems = read_env(os.environ if env is None else env, require_slack=require_slack)
    yaml_problems = list(doc.problems) if doc is not None else []
    config, schema_problems = _validate(data, env_values, doc)
    all_problems = yaml_problems + schema_problems
    if config is not None:
        all_problems += config_problems(config, env_values, require_slack=require_slack, doc=doc)
    elif require_slack and not (isinstance(data, Mapping) and data.get("channel")):
        all_problems.append("channel: missing; set the deployment channel id (C...) in the YAML file")
    all_problems += problems
    if all_problems:
        raise SettingsError(all_problems, source=config_path)
    assert config is not None
    return _assemble(config, env_values, config_path)


def _assemble(config: DeployConfig, env: EnvValues, config_path: str | None) -> Settings:
    return Settings(
        config=config,
        slack_bot_token=env.slack_bot_token,
        slack_signing_secret=env.slack_signing_secret,
        slack_app_token=env.slack_app_token,
        slack_api_url=env.slack_api_url,
        database_url=env.database_url,
        api_token=env.api_token,
        pagerduty_routing_key=env.pagerduty_routing_key,
        opsgenie_api_key=env.opsgenie_api_key,
        paging_webhook_secret=env.paging_webhook_secret,
        pagerduty_webhook_secret=env.pagerduty_webhook_secret,
        rollback_webhook_secret=env.rollback_webhook_secret,
        host=env.host,
        port=env.port,
        config_path=config_path,
    )


def load_settings(
    env: Mapping[str, str] | None = None, config_path: str | None = None, *, require_slack: bool = True
) -> Settings:
    """Read the environment (default os.environ) and the YAML file.

    The file is `config_path`, else DEPLOYBOT_CONFIG, else ./deploybot.yaml. A missing default file means
    all defaults; a missing file that was asked for explicitly is an error.
    """
    env = os.environ if env is None else env
    explicit = config_path is not None or bool(env.get("DEPLOYBOT_CONFIG", "").strip())
    path = Path(config_path or env.get("DEPLOYBOT_CONFIG", "").strip() or "deploybot.yaml")
    try:
        text: str | None = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = None
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError([f"{path}: cannot read ({type(exc).__name__})"], source=str(path)) from None
    if text is None:
        if explicit:
            # Report the environment's problems too, so one run shows everything.
            _, env_problems = read_env(env, require_slack=require_slack)
            label = "DEPLOYBOT_CONFIG: file" if config_path is None else "config file"
            raise SettingsError([f"{label} {str(path)!r} not found", *env_problems], source=str(path))
        return build_settings({}, env, require_slack=require_slack)
    doc = parse_yaml(text)
    return build_settings(doc.data, env, require_slack=require_slack, config_path=str(path), doc=doc)
