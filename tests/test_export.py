"""Exporting a run to Markdown: against the real database, re-parsed with the template parser, and via the CLI."""

from __future__ import annotations

import re
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.checklist import Template, load_named_template, parse_template
from bot.cli import main
from bot.export import display_name, export_filename, export_run, format_detail, render_export
from bot.sandbox import SlackEmulator
from bot.services.audit import entries
from bot.services.checklist import set_item
from bot.services.runs import abort_run, get_run, mark_deployed, settle_readiness, start_run
from bot.services.signoffs import revoke, sign
from bot.store.db import Database
from bot.store.models import AuditEntry, Deployment, Source

T0 = datetime(2026, 1, 1, 14, 0, tzinfo=UTC)
NAMES = {"U0ALICE": "alice", "U0BOB": "bob", "U0CAROL": "carol", "U0DAVE": "dave", "U0ERIN": "erin"}
REDIS = "pre-deployment-security-requirements.redis-implementation-for-token-blacklisting"
ENV_VALIDATION = "pre-deployment-security-requirements.environment-variable-validation"
AUDIT_PASSED = "pre-deployment-security-requirements.security-audit-passed"
NA_REASON = "Vault is not used here; CI injects the env"


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


@pytest.fixture
def template() -> Template:
    return load_named_template("lamsa-production")


def start(database: Database, template: Template) -> int:
    with database.write() as s:
        run = start_run(
            s,
            template=template,
            service="payments-api",
            version="1.4.2",
            environment="production",
            channel_id="C0DEPLOY",
            started_by="U0LEAD",
            now=T0,
        )
        return run.id


def seed_partial(database: Database, template: Template) -> int:
    """Some items ticked (one N/A, one by a probe), sign-offs signed, made stale, renewed, revoked, refused."""
    run_id = start(database, template)
    with database.write() as s:
        set_item(s, run_id=run_id, state="done", actor="U0ALICE", now=at(2), key=REDIS)
    with database.write() as s:
        set_item(s, run_id=run_id, state="na", actor="U0BOB", now=at(3), key=ENV_VALIDATION, reason=NA_REASON)
    with database.write() as s:
        set_item(
            s,
            run_id=run_id,
            state="done",
            actor="probe:security-scan",
            now=at(4),
            key=AUDIT_PASSED,
            source=Source.PROBE,
            evidence={"summary": "0 critical findings", "findings": []},
        )
    for minute, role, user, comment in (
        (5, "security-team", "U0ALICE", "Looks good | ship it"),
        (6, "devops-team", "U0BOB", None),
        (7, "lead-developer", "U0CAROL", "ok"),
    ):
        with database.write() as s:
            assert (
                sign(
                    s, run_id=run_id, role_key=role, actor=user, now=at(minute), approver=True, comment=comment
                ).refused
                is None
            )
    with database.write() as s:  # un-ticking a required item makes every signature stale
        changed = set_item(s, run_id=run_id, state="open", actor="U0DAVE", now=at(8), key=REDIS)
        assert "stale" in changed.notes
    with database.write() as s:
        sign(
            s,
            run_id=run_id,
            role_key="security-team",
            actor="U0ALICE",
            now=at(10),
            approver=True,
            comment="Renewed",
        )
    with database.write() as s:
        assert revoke(s, run_id=run_id, role_key="lead-developer", actor="U0CAROL", now=at(11)).refused is None
    with database.write() as s:  # separation of duties: alice already signed Security Team
        refused = sign(s, run_id=run_id, role_key="product-manager", actor="U0ALICE", now=at(12), approver=True)
        assert refused.refused is not None
    return run_id


def checklist_lines(markdown: str) -> list[str]:
    """The item lines of the checklist sections (everything before the contacts)."""
    body = markdown.split("## 📞 Emergency Contacts")[0]
    return [line for line in body.splitlines() if line.startswith(("- [ ] ", "- [x] "))]


def line_title(line: str) -> str:
    match = re.match(r"- \[[ x]\] \*\*(?:~~)?(.+?)(?:~~)?\*\*", line)
    assert match, line
    return match.group(1)


def test_every_item_once_in_template_order_with_state(database: Database, template: Template) -> None:
    run_id = seed_partial(database, template)
    _, md = export_run(database, run_id, now=at(60), names=NAMES)

    lines = checklist_lines(md)
    assert len(lines) == 92
    assert [line_title(line) for line in lines] == [i.title for i in template.items]
    by_title = {line_title(line): line for line in lines}
    assert by_title["Console logging vulnerability fixed"] == (
        "- [x] **Console logging vulnerability fixed** - Payment data redaction implemented"
        " — ✅ template 2026-01-01 14:00 UTC"
    )
    assert by_title["Environment variable validation"] == (
        "- [x] **~~Environment variable validation~~** - All production secrets configured"
        f" — N/A (@bob, 2026-01-01 14:03 UTC): {NA_REASON}"
    )
    assert by_title["Security audit passed"] == (
        "- [x] **Security audit passed** - All HIGH/CRITICAL issues resolved"
        " — ✅ probe:security-scan 2026-01-01 14:04 UTC (evidence: 0 critical findings)"
    )
    # Ticked, then un-ticked: open again, with no stale who/when.
    assert by_title["Redis implementation for token blacklisting"] == (
        "- [ ] **Redis implementation for token blacklisting** - Required for production scaling"
    )
    assert by_title["Service mesh"] == (
        "- [ ] **Service mesh** - Istio/Linkerd configured (if applicable) _(optional)_"
    )
    assert sum(line.startswith("- [x] ") for line in lines) == 4
    assert sum(line.startswith("- [ ] ") for line in lines) == 88


def test_header_signoffs_status_and_contacts(database: Database, template: Template) -> None:
    run_id = seed_partial(database, template)
    _, md = export_run(database, run_id, now=at(60), names=NAMES)

    assert md.startswith("# Lamsa Production Deployment Checklist\n\n**Run:** #")
    for line in (
        "**Service:** payments-api  ",
        "**Version:** 1.4.2  ",
        "**Environment:** production  ",
        "**Date:** 2026-01-01 14:00 UTC  ",
        "**Started By:** @U0LEAD  ",  # not in `names`: shown as the raw id
        f"**Template:** lamsa-production (sha256 `{template.content_hash[:12]}`)  ",
        "**Exported:** 2026-01-01 15:00 UTC",
    ):
        assert line in md.splitlines(), line

    signoff = md.split("## ✅ Sign-off")[1].split("**Deployment Status:**")[0]
    assert signoff.splitlines() == [
        "",
        "",
        "### Technical Review",
        '- [x] **Security Team Approval:** @alice Date: 2026-01-01 14:10 UTC — "Renewed"',
        "- [ ] **DevOps Team Approval:** ____ Date: ____ (stale: signed by @bob, must be renewed)",
        "- [ ] **Lead Developer Approval:** ____ Date: ____ (revoked by @carol, must be signed again)",
        "",
        "### Business Review",
        "- [ ] **Product Manager Approval:** ____ Date: ____",
        "- [ ] **Business Owner Approval:** ____ Date: ____",
        "",
        "### Final Deployment Authorization",
        "- [ ] **Deployment Manager:** ____ Date: ____",
        "",
        "---",
        "",
    ]

    with database.read() as s:
        rows = get_run(s, run_id).items
        required_open = sum(1 for r in rows if r.phase == "pre" and r.required and r.state == "open")
    assert required_open > 0
    assert (
        f"**Deployment Status:** ❌ NOT READY ({required_open} required item(s) open; sign-off(s) missing: "
        "DevOps Team, Lead Developer, Product Manager, Business Owner, Deployment Manager)"
    ) in md.splitlines()
    assert "**Run State:**" not in md  # an open run has no outcome yet

    contacts = md.split("## 📞 Emergency Contacts")[1].split("---")[0]
    assert "### On-Call Team\n- **Primary Engineer:** [Name] - [Phone] - [Email]\n" in contacts
    assert "### External Services\n" in contacts
    assert "- **Payment Processor:** [Tap Payment support]" in contacts


def test_audit_trail_has_a_row_per_entry(database: Database, template: Template) -> None:
    run_id = seed_partial(database, template)
    _, md = export_run(database, run_id, now=at(60), names=NAMES)
    with database.read() as s:
        audit = entries(s, run_id)

    table = md.split("## Audit trail\n")[1].strip().splitlines()
    assert table[0] == "| Time | Who | Source | What | Change | Detail |"
    rows = table[2:]
    assert len(rows) == len(audit) >= 14
    assert rows[0] == (
        "| 2026-01-01 14:00 UTC | @U0LEAD | slack | run | — → open | service: payments-api; version: 1.4.2; "
        "environment: production; template: lamsa-production |"
    )
    assert (
        "| 2026-01-01 14:03 UTC | @bob | slack | item: Environment variable validation | open → na | "
        f"reason: {NA_REASON} |"
    ) in rows
    assert (
        "| 2026-01-01 14:04 UTC | probe:security-scan | probe | item: Security audit passed | open → done | "
        "evidence: 0 critical findings |"
    ) in rows
    # The pipe in the comment is escaped so the table keeps its columns.
    assert (
        "| 2026-01-01 14:05 UTC | @alice | slack | signoff: Security Team | pending → signed | "
        "comment: Looks good \\| ship it |"
    ) in rows
    assert (
        "| 2026-01-01 14:08 UTC | deploybot | system | signoff: DevOps Team | signed → stale | "
        "because: Redis implementation for token blacklisting; signed by: @bob |"
    ) in rows
    assert "| 2026-01-01 14:11 UTC | @carol | slack | signoff: Lead Developer | stale → revoked |   |" in rows
    refused = [r for r in rows if "signoff_refused: Product Manager" in r]
    assert len(refused) == 1
    assert "reason: You already signed Security Team; one person cannot sign two roles." in refused[0]
    assert all(r.count(" | ") == 5 for r in rows)


def test_export_reparses_into_the_same_template_shape(database: Database, template: Template) -> None:
    run_id = seed_partial(database, template)
    _, md = export_run(database, run_id, now=at(60), names=NAMES)
    again = parse_template(md, name="export")

    def shape(t: Template) -> list[tuple[str, str, list[tuple[str, list[tuple[str, bool]]]]]]:
        return [
            (s.key, s.title, [(g.title, [(i.key, i.required) for i in g.items]) for g in s.groups]) for s in t.sections
        ]

    assert shape(again) == shape(template)
    assert [(r.key, r.group_title, r.final) for r in again.signoff_roles] == [
        (r.key, r.group_title, r.final) for r in template.signoff_roles
    ]
    assert [(c.slot, c.detail, c.kind) for c in again.contacts] == [
        (c.slot, c.detail, c.kind) for c in template.contacts
    ]
    resolved = {i.key for i in again.items if i.prechecked}
    assert resolved == {
        "pre-deployment-security-requirements.console-logging-vulnerability-fixed",
        "pre-deployment-security-requirements.jwt-token-expiration-reduced",
        ENV_VALIDATION,
        AUDIT_PASSED,
    }
    assert again.item(AUDIT_PASSED).description.startswith("All HIGH/CRITICAL issues resolved — ✅")


def test_ready_and_deployed_run(database: Database, template: Template) -> None:
    run_id = start(database, template)
    with database.write() as s:
        pending = [r.key for r in get_run(s, run_id).items if r.phase == "pre" and r.required and r.state == "open"]
        for key in pending:
            set_item(s, run_id=run_id, state="done", actor="U0ALICE", now=at(1), key=key)
    signers = ["U0ALICE", "U0BOB", "U0CAROL", "U0DAVE", "U0ERIN", "U0FRANK"]
    for n, role in enumerate(template.signoff_roles):
        with database.write() as s:
            assert (
                sign(s, run_id=run_id, role_key=role.key, actor=signers[n], now=at(2 + n), approver=True).refused
                is None
            )
    with database.write() as s:  # what the app does after each change commits (AppContext.after_change)
        assert settle_readiness(s, run_id, now=at(7)) is True
    with database.write() as s:
        mark_deployed(s, run_id=run_id, actor="U0ERIN", now=at(20))

    name, md = export_run(database, run_id, now=at(30), names=NAMES)
    assert name == f"deploy-run-{run_id}-payments-api-1.4.2.md"
    lines = md.splitlines()
    assert "**Deployment Status:** ✅ READY FOR DEPLOYMENT  " in lines
    assert "**Run State:** 🚀 DEPLOYED  " in lines
    assert "**Deployed:** 2026-01-01 14:20 UTC by @erin" in lines
    assert "- [x] **Deployment Manager:** @U0FRANK Date: 2026-01-01 14:07 UTC" in lines
    assert "| 2026-01-01 14:20 UTC | @erin | slack | run | open → deployed |   |" in lines
    assert "| 2026-01-01 14:07 UTC | deploybot | system | readiness | not_ready → ready |   |" in lines


def test_override_deploy_then_abort_shows_reasons(database: Database, template: Template) -> None:
    run_id = start(database, template)
    with database.write() as s:
        mark_deployed(s, run_id=run_id, actor="U0BOB", now=at(5), override_reason="Hotfix for\nincident 42")
    with database.write() as s:
        abort_run(s, run_id=run_id, actor="U0CAROL", reason="Error rate above 5%", now=at(9))

    _, md = export_run(database, run_id, now=at(30), names=NAMES)
    lines = md.splitlines()
    status = lines.index("**Run State:** ⛔ ABORTED  ")
    assert lines[status - 1].startswith("**Deployment Status:** ❌ NOT READY (")
    assert "**Deployed:** 2026-01-01 14:05 UTC by @bob  " in lines
    assert "**Override Reason:** Hotfix for incident 42  " in lines
    assert "**Ended:** 2026-01-01 14:09 UTC: Error rate above 5%" in lines
    assert (
        "| 2026-01-01 14:05 UTC | @bob | slack | run | open → deployed | override reason: Hotfix for incident 42 |"
    ) in lines
    assert (
        "| 2026-01-01 14:09 UTC | @carol | slack | run | deployed → aborted | reason: Error rate above 5% |"
    ) in lines


def unsaved_run(template: Template) -> Deployment:
    return Deployment(
        id=7,
        service="payments api/../x",
        version="2.0 beta",
        environment="staging",
        template_name=template.name,
        template_hash=template.content_hash,
        template_snapshot=template.to_dict(),
        state="open",
        started_by="U0LEAD",
        created_at=T0,
        updated_at=T0,
        items=[],
        signoffs=[],
    )


def test_render_is_pure_and_keeps_credentials_out(template: Template) -> None:
    run = unsaved_run(template)
    alert = AuditEntry(
        at=at(90),
        actor="deploybot",
        source="system",
        kind="page",
        subject="error-rate",
        from_state=None,
        to_state="sent",
        detail={"provider": "pagerduty", "routing_key": "R0UTINGKEY123", "api_token": "xoxb-1", "target": "U0DAVE"},
    )
    md = render_export(run, template, [alert], names=NAMES, now=at(100))
    assert md == render_export(run, template, [alert], names=NAMES, now=at(100))
    assert "R0UTINGKEY123" not in md and "xoxb-1" not in md
    assert (
        "| 2026-01-01 15:30 UTC | deploybot | system | page: error-rate | — → sent | provider: pagerduty; "
        "target: @dave |" in md.splitlines()
    )
    # No rows: every item open, every role pending.
    assert len(checklist_lines(md)) == 92
    assert all(line.startswith("- [ ] ") for line in checklist_lines(md))
    assert md.endswith("target: @dave |\n")  # one trailing newline


def test_names_times_and_filenames(template: Template) -> None:
    assert display_name("U0ALICE", NAMES) == "@alice"
    assert display_name("U999", NAMES) == "@U999"
    for actor in ("template", "deploybot", "probe:smoke", "api:ci"):
        assert display_name(actor, NAMES) == actor
    assert export_filename(unsaved_run(template)) == "deploy-run-7-payments-api-..-x-2.0-beta.md"
    assert format_detail({"reason": "a\nb", "signed_by": "U0BOB", "webhook_secret": "s3"}, template, str) == (
        "reason: a\nb; signed by: U0BOB"
    )


def test_cli_prints_and_writes(
    database: Database,
    template: Template,
    db_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    run_id = seed_partial(database, template)
    monkeypatch.setenv("DATABASE_URL", db_url)
    _, expected = export_run(database, run_id, now=at(60))

    assert main(["export", f"#{run_id}"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert _without_export_time(out) == _without_export_time(expected)
    assert "**Started By:** @U0LEAD  " in out  # no SLACK_BOT_TOKEN: no names from Slack

    target = tmp_path / "run.md"
    assert main(["export", str(run_id), "-o", str(target)]) == 0
    out, err = capsys.readouterr()
    assert out == ""
    assert f"wrote run #{run_id} to {target}" in err
    assert _without_export_time(target.read_text(encoding="utf-8")) == _without_export_time(expected)


def test_cli_names_people_as_slack_does_when_it_has_a_bot_token(
    database: Database,
    template: Template,
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    run_id = seed_partial(database, template)
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-cli")
    with SlackEmulator(signing_secret="s") as emu:
        emu.add_user("U0LEAD", "lee")
        monkeypatch.setenv("SLACK_API_URL", emu.api_url)
        assert main(["export", str(run_id)]) == 0
        out, err = capsys.readouterr()
        assert "**Started By:** @lee  " in out and "@U0LEAD" not in out
        assert {c.params["user"] for c in emu.calls_to("users.info")} >= {"U0LEAD"}
    # Slack unreachable: the export still comes out, with ids, and says why
    assert main(["export", str(run_id)]) == 0
    out, err = capsys.readouterr()
    assert "**Started By:** @U0LEAD  " in out
    assert "could not look up names in Slack" in err and "xoxb-cli" not in err


def _without_export_time(markdown: str) -> str:
    return re.sub(r"\*\*Exported:\*\* .*", "", markdown)


def test_cli_unknown_run_and_bad_reference(
    database: Database, db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", db_url)
    assert main(["export", "999"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err == "deploybot export: there is no deployment run #999 in this database\n"

    assert main(["export", "twelve"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert "`twelve` is not a run number" in err


def test_cli_unmigrated_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    assert main(["export", "1"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err == ("deploybot export: the database has no Deploy Bot schema yet; run `deploybot db upgrade` first\n")


def test_cli_unreachable_database_names_it_without_the_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'no-such-dir' / 'x.db'}")
    assert main(["export", "1"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("deploybot export: cannot read the database at sqlite:///")
    assert "unable to open database file" in err

    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("DATABASE_URL", f"postgresql://deploy:Sup3rSecret@127.0.0.1:{port}/deploybot")
    assert main(["export", "1"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert f"cannot read the database at postgresql+psycopg://deploy:***@127.0.0.1:{port}/deploybot" in err
    assert "Sup3rSecret" not in err
