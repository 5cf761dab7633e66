"""The sandbox's demo workspace: people, their sign-off roles and on-call slots, and the bot config dict."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

CHANNEL_ID = "C0DEPLOY"
CHANNEL_NAME = "deployments"
SERVICE = "demo-api"
# Sandbox-only constants: the emulator and the bot share them; they guard nothing real.
SIGNING_SECRET = "sandbox-signing-secret"
BOT_TOKEN = "xoxb-sandbox-token"


@dataclass(frozen=True)
class Person:
    user_id: str
    name: str
    real_name: str
    role: str  # shown in the page's user switcher


PEOPLE: tuple[Person, ...] = (
    Person("U0RITA", "rita", "Rita Release", "Release manager: starts runs"),
    Person("U0SAM", "sam", "Sam Security", "Security Team sign-off"),
    Person("U0OLGA", "olga", "Olga Ops", "DevOps Team sign-off, primary on-call"),
    Person("U0LEE", "lee", "Lee Lead", "Lead Developer sign-off, secondary on-call"),
    Person("U0PAT", "pat", "Pat Product", "Product Manager sign-off and on-call"),
    Person("U0BEA", "bea", "Bea Business", "Business Owner sign-off"),
    Person("U0DAN", "dan", "Dan Deploy", "Deployment Manager: final authorisation, marks deployed"),
    Person("U0XAVIER", "xavier", "Xavier Visitor", "No role"),
)

# role key (slug of the template's sign-off role) -> who signs it
APPROVERS: dict[str, str] = {
    "security-team": "U0SAM",
    "devops-team": "U0OLGA",
    "lead-developer": "U0LEE",
    "product-manager": "U0PAT",
    "business-owner": "U0BEA",
    "deployment-manager": "U0DAN",
}

ONCALL: dict[str, str] = {
    "primary-engineer": "U0OLGA",
    "secondary-engineer": "U0LEE",
    "devops-lead": "U0DAN",
    "product-manager": "U0PAT",
}


def sandbox_config(demo_url: str) -> dict[str, Any]:
    """The bot's YAML config, as a dict, for a sandbox whose demo service listens on `demo_url`."""
    return {
        "channel": CHANNEL_ID,
        "template": "lamsa-production",
        "permissions": {
            "start": {"users": ["U0RITA", "U0DAN", "U0OLGA"]},
            "abort": {"users": ["U0RITA", "U0DAN", "U0OLGA"]},
            "deploy": {"users": ["U0DAN", "U0OLGA"]},
            "incident": {},
        },
        "separation_of_duties": True,
        "approvers": {role: {"users": [user]} for role, user in APPROVERS.items()},
        "oncall": dict(ONCALL),
        "escalation": {"ack_timeout_minutes": 10, "repeat": False},
        "services": {
            SERVICE: {
                "base_url": demo_url,
                "previous_version": "0.9.0",
                "probes": [
                    {"name": "health", "type": "http", "url": "/healthz", "expect_status": 200, "timeout_s": 5},
                    {
                        "name": "smoke",
                        "type": "smoke",
                        "timeout_s": 5,
                        "checks": [
                            {"name": "API smoke tests", "url": "/smoke/api", "critical": True},
                            {"name": "Authentication flow", "url": "/smoke/auth", "critical": True},
                            {"name": "Payment processing", "url": "/smoke/payments", "expect_status": 200},
                            {"name": "Mobile app smoke tests", "url": "/smoke/mobile", "critical": False},
                        ],
                    },
                ],
                "rules": [
                    {"name": "health", "probe": "health", "consecutive_failures": 2, "critical": True},
                    {"name": "smoke", "probe": "smoke", "critical": True},
                ],
                "rollback_instructions": "1. Redeploy the previous version: `deploy demo-api 0.9.0`\n",
            }
        },
        "update_coalesce_seconds": 0.3,
    }
