"""A deployment run exported back to Markdown, in its template's own shape, with who/when and the audit trail.

Rendering is pure (run, template, audit, names and `now` in; text out). Layout lives in
templates/messages/export.md.j2; this module only prepares plain view rows for it.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from bot.checklist.model import Template
from bot.errors import NotFound, UserError
from bot.services.audit import entries
from bot.services.readiness import compute_readiness
from bot.services.runs import get_run, parse_run_ref
from bot.store.db import Database
from bot.store.migrate import SchemaError, check_schema, database_url
from bot.store.models import AuditEntry, ChecklistItem, Deployment, ItemState, RunState, Signoff, SignoffState

# From this file, not bot.__file__: via the editable install `bot` can load as a namespace package (no __file__).
TEMPLATE_DIR = Path(__file__).resolve().parents[1] / "templates" / "messages"
EXPORT_TEMPLATE = "export.md.j2"
SYSTEM_ACTORS = ("template", "deploybot", "system")
SYSTEM_PREFIXES = ("probe:", "api:", "system:")
CONTACT_GROUPS = (("oncall", "On-Call Team"), ("external", "External Services"))
# Audit detail keys that could carry credentials: never exported, whatever a writer put there.
_SECRET_KEY = re.compile(r"token|secret|password|passwd|authorization|api_?key|routing_?key|signature", re.I)
_SLACK_USER = re.compile(r"[UW][A-Z0-9]+")
_UNSAFE_FILENAME = re.compile(r"[^A-Za-z0-9._-]+")
_STATE_LABEL: dict[str, str] = {
    RunState.OPEN: "🟡 OPEN",
    RunState.DEPLOYED: "🚀 DEPLOYED",
    RunState.ABORTED: "⛔ ABORTED",
    RunState.ROLLED_BACK: "⏪ ROLLED BACK",
    RunState.CLOSED: "🏁 CLOSED",
}


@dataclass(frozen=True)
class ItemView:
    title: str
    description: str
    optional: bool
    state: str  # open, done, na
    who: str
    when: str
    reason: str  # N/A reason
    summary: str  # probe evidence summary


@dataclass(frozen=True)
class GroupView:
    title: str
    items: tuple[ItemView, ...]


@dataclass(frozen=True)
class SectionView:
    title: str
    groups: tuple[GroupView, ...]


@dataclass(frozen=True)
class RoleView:
    label: str  # "Security Team Approval"
    state: str  # pending, signed, stale, revoked
    who: str
    when: str
    comment: str


@dataclass(frozen=True)
class AuditRow:
    when: str
    who: str
    source: str
    what: str
    change: str
    detail: str


def utc(when: datetime | None) -> str:
    """`YYYY-MM-DD HH:MM UTC`; naive values are taken as UTC (the store always returns aware ones)."""
    if when is None:
        return "—"
    aware = when if when.tzinfo is not None else when.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def one_line(text: str | None) -> str:
    """User text on one line, so a reason cannot start a new list item or heading."""
    return " ".join((text or "").split())


def table_cell(text: str | None) -> str:
    return one_line(text).replace("|", "\\|") or " "


def display_name(actor: str | None, names: Mapping[str, str]) -> str:
    """Slack ids as @name (or @U123 when unknown); system actors like `probe:smoke` as they are."""
    if not actor:
        return "—"
    if actor in names:
        return f"@{names[actor]}"
    if actor in SYSTEM_ACTORS or actor.startswith(SYSTEM_PREFIXES):
        return actor
    return f"@{actor}"


@cache
def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        autoescape=False,
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )
    env.filters["utc"] = utc
    env.filters["inline"] = one_line
    return env


_Who = Callable[[str | None], str]


def _item_view(item_title: str, description: str, required: bool, row: ChecklistItem | None, who: _Who) -> ItemView:
    state = row.state if row is not None else ItemState.OPEN
    evidence = (row.evidence if row is not None else None) or {}
    summary = evidence.get("summary") if isinstance(evidence, dict) else None
    return ItemView(
        title=one_line(item_title),
        description=one_line(description),
        optional=not required,
        state=str(state),
        who=who(row.changed_by) if row is not None else "—",
        when=utc(row.changed_at) if row is not None else "—",
        reason=one_line(row.na_reason) if row is not None else "",
        summary=one_line(str(summary)) if summary else "",
    )


def _sections(template: Template, run: Deployment, who: _Who) -> list[SectionView]:
    rows = {row.key: row for row in run.items}
    return [
        SectionView(
            title=section.title,
            groups=tuple(
                GroupView(
                    title=group.title,
                    items=tuple(
                        _item_view(i.title, i.description, i.required, rows.get(i.key), who) for i in group.items
                    ),
                )
                for group in section.groups
            ),
        )
        for section in template.sections
    ]


def _role_label(title: str, final: bool) -> str:
    return title if final else f"{title} Approval"


def _signoff_groups(template: Template, run: Deployment, who: _Who) -> list[tuple[str, list[RoleView]]]:
    rows: dict[str, Signoff] = {s.role_key: s for s in run.signoffs}
    groups: dict[str, list[RoleView]] = {}
    for role in template.signoff_roles:
        row = rows.get(role.key)
        groups.setdefault(role.group_title, []).append(
            RoleView(
                label=_role_label(role.title, role.final),
                state=str(row.state) if row is not None else SignoffState.PENDING,
                who=who(row.user_id) if row is not None and row.user_id else "—",
                when=utc(row.signed_at) if row is not None else "—",
                comment=one_line(row.comment) if row is not None else "",
            )
        )
    return list(groups.items())


def _subject_label(entry: AuditEntry, template: Template, roles: Mapping[str, str]) -> str:
    if entry.subject is None:
        return ""
    if entry.kind == "item":
        try:
            return template.item(entry.subject).title
        except KeyError:
            return entry.subject
    if entry.kind.startswith("signoff"):
        return roles.get(entry.subject, entry.subject)
    return entry.subject


def _detail_value(key: str, value: Any, template: Template, who: _Who) -> str:
    if key == "evidence" and isinstance(value, dict):
        summary = value.get("summary")
        return str(summary) if summary else json.dumps(value, sort_keys=True, default=str)
    if key in ("signed_by", "user", "target", "by") and isinstance(value, str):
        return who(value)
    if key == "because" and isinstance(value, str):
        try:
            return template.item(value).title
        except KeyError:
            return value
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, default=str)
    return str(value)


def format_detail(detail: Mapping[str, Any] | None, template: Template, who: _Who) -> str:
    """`reason: ...; comment: ...` from an audit entry's detail, keys that look like credentials left out."""
    if not detail:
        return ""
    parts = []
    for key, value in detail.items():
        if value is None or value == "" or _SECRET_KEY.search(key):
            continue
        parts.append(f"{key.replace('_', ' ')}: {_detail_value(key, value, template, who)}")
    return "; ".join(parts)


def _audit_rows(audit: Sequence[AuditEntry], template: Template, who: _Who) -> list[AuditRow]:
    roles = {r.key: r.title for r in template.signoff_roles}
    rows = []
    for entry in audit:
        subject = _subject_label(entry, template, roles)
        what = f"{entry.kind}: {subject}" if subject else entry.kind
        change = f"{entry.from_state or '—'} → {entry.to_state or '—'}" if entry.from_state or entry.to_state else ""
        rows.append(
            AuditRow(
                when=utc(entry.at),
                who=table_cell(who(entry.actor)),
                source=table_cell(entry.source),
                what=table_cell(what),
                change=table_cell(change),
                detail=table_cell(format_detail(entry.detail, template, who)),
            )
        )
    return rows


def _status(run: Deployment) -> str:
    readiness = compute_readiness(run.items, run.signoffs)
    if readiness.ready:
        return "✅ READY FOR DEPLOYMENT"
    why = []
    if readiness.required_open:
        why.append(f"{readiness.required_open} required item(s) open")
    if readiness.signoffs_missing:
        why.append("sign-off(s) missing: " + ", ".join(readiness.signoffs_missing))
    return "❌ NOT READY (" + "; ".join(why) + ")"


def _header(run: Deployment, now: datetime, who: _Who) -> list[tuple[str, str]]:
    lines = [
        ("Run", f"#{run.id}"),
        ("Service", one_line(run.service)),
        ("Version", one_line(run.version)),
    ]
    if run.previous_version:
        lines.append(("Previous Version", one_line(run.previous_version)))
    lines += [
        ("Environment", one_line(run.environment)),
        ("Date", utc(run.created_at)),
        ("Started By", who(run.started_by)),
        ("Template", f"{one_line(run.template_name)} (sha256 `{run.template_hash[:12]}`)"),
        ("Exported", utc(now)),
    ]
    return lines


def _outcome(run: Deployment, who: _Who) -> list[tuple[str, str]]:
    """What happened to the run after the checklist: deployed, aborted, rolled back, closed."""
    if run.state == RunState.OPEN:
        return []
    lines = [("Run State", _STATE_LABEL.get(run.state, run.state.upper()))]
    if run.deployed_at is not None:
        lines.append(("Deployed", f"{utc(run.deployed_at)} by {who(run.deployed_by)}"))
    if run.deploy_override_reason:
        lines.append(("Override Reason", one_line(run.deploy_override_reason)))
    if run.state in (RunState.ABORTED, RunState.ROLLED_BACK, RunState.CLOSED):
        ended = ": ".join(p for p in (utc(run.ended_at) if run.ended_at else "", one_line(run.end_reason)) if p)
        if ended:
            lines.append(("Ended", ended))
    return lines


def render_export(
    run: Deployment,
    template: Template,
    audit: Sequence[AuditEntry],
    *,
    names: Mapping[str, str] | None = None,
    now: datetime,
) -> str:
    known = dict(names or {})

    def who(actor: str | None) -> str:
        return display_name(actor, known)

    return (
        _environment()
        .get_template(EXPORT_TEMPLATE)
        .render(
            title=one_line(template.title),
            header=_header(run, now, who),
            status=[("Deployment Status", _status(run)), *_outcome(run, who)],
            sections=_sections(template, run, who),
            contact_groups=[
                (title, [c for c in template.contacts if c.kind == kind])
                for kind, title in CONTACT_GROUPS
                if any(c.kind == kind for c in template.contacts)
            ],
            signoff_groups=_signoff_groups(template, run, who),
            audit_rows=_audit_rows(audit, template, who),
        )
    )


def export_filename(run: Deployment) -> str:
    """`deploy-run-12-payments-api-1.4.2.md`: safe on every file system and as a Slack upload name."""
    parts = [str(run.id), run.service, run.version]
    safe = [_UNSAFE_FILENAME.sub("-", p).strip("-.") or "x" for p in parts]
    return "deploy-run-" + "-".join(safe) + ".md"


def people_in(db: Database, run_id: int) -> set[str]:
    """The Slack user ids an export of the run names (to look up their names first)."""
    with db.read() as session:
        run = get_run(session, run_id)
        actors = {run.started_by, run.deployed_by, *(i.changed_by for i in run.items)}
        actors |= {s.user_id for s in run.signoffs} | {e.actor for e in entries(session, run_id)}
    return {a for a in actors if a and _SLACK_USER.fullmatch(a)}


def export_run(db: Database, run_id: int, *, now: datetime, names: Mapping[str, str] | None = None) -> tuple[str, str]:
    """(file name, Markdown) for a run, rendered against the template snapshot the run was started from.
    `names` maps Slack user ids to names (see people_in); others show as @U123.

    Raises NotFound for an unknown run.
    """
    with db.read() as session:
        run = get_run(session, run_id)
        audit = entries(session, run_id)
        template = Template.from_dict(run.template_snapshot)
        return export_filename(run), render_export(run, template, audit, names=names, now=now)


def _slack_names(db: Database, run_id: int) -> dict[str, str]:
    """People's names from Slack when SLACK_BOT_TOKEN is set (as for the bot); without it, or when Slack
    cannot be reached, the export shows their ids."""
    token = os.environ.get("SLACK_BOT_TOKEN", "").strip()
    if not token:
        return {}
    from bot.slack.gateway import Gateway

    gateway = Gateway(token=token, base_url=os.environ.get("SLACK_API_URL") or None, timeout=5, max_retries=1)
    try:
        return gateway.user_names(people_in(db, run_id))
    except Exception as exc:  # noqa: BLE001 - names are a nicety; the export itself must not fail
        print(
            f"deploybot export: could not look up names in Slack ({type(exc).__name__}); showing ids", file=sys.stderr
        )
        return {}


def export_command(run: str, output: str | None) -> int:
    """`deploybot export RUN [-o FILE]`: 0 with the Markdown on stdout (or in FILE), 1 with a message."""
    url = database_url()
    try:
        run_id = parse_run_ref(run)
    except UserError as exc:
        print(f"deploybot export: {exc.message}", file=sys.stderr)
        return 1
    db = Database(url)
    try:
        check_schema(db.engine)
        _, markdown = export_run(db, run_id, now=datetime.now(UTC), names=_slack_names(db, run_id))
    except SchemaError as exc:
        print(f"deploybot export: {exc}", file=sys.stderr)
        return 1
    except NotFound:
        print(f"deploybot export: there is no deployment run #{run_id} in this database", file=sys.stderr)
        return 1
    except OperationalError as exc:
        parsed = make_url(db.url)
        reason = str(exc.orig)
        if parsed.password:
            reason = reason.replace(str(parsed.password), "***")
        where = parsed.render_as_string(hide_password=True)
        print(f"deploybot export: cannot read the database at {where}: {reason}", file=sys.stderr)
        return 1
    finally:
        db.dispose()
    if output is None:
        sys.stdout.write(markdown)
        return 0
    try:
        Path(output).write_text(markdown, encoding="utf-8")
    except OSError as exc:
        print(f"deploybot export: cannot write {output}: {exc.strerror}", file=sys.stderr)
        return 1
    print(f"wrote run #{run_id} to {output}", file=sys.stderr)
    return 0
