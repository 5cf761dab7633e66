"""`/deploy` subcommands over signed HTTP: replies, errors that say what to fix, never a stack trace."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from bot.store.models import AuditEntry, Deployment, RunState
from tests.e2e import CHANNEL, Bot, eventually, running_bot


@pytest.fixture
def bot(db_url: str) -> Iterator[Bot]:
    with running_bot(db_url) as b:
        yield b


def _reply(bot: Bot, text: str, user: str = "URM", channel: str = CHANNEL) -> str:
    resp = bot.emu.slash(user, "/deploy", text, channel)
    assert resp.status_code == 200
    return str(resp.json()["text"])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "/deploy start SERVICE VERSION"),
        ("help", "/deploy start SERVICE VERSION"),
        ("frobnicate", "Unknown command `frobnicate`"),
        ("start onlyservice", "Usage: `/deploy start SERVICE VERSION"),
        ("start a b c d", "Usage: `/deploy start SERVICE VERSION"),
        ("start api 1.0 --template", "`--template` needs a name"),
        ("start api 1.0 --colour red", "Unknown option `--colour`"),
        ("start api 1.0 --template no-such-template", "No checklist template named 'no-such-template' (available"),
        ('start "api 1.0', 'service `"api` may hold only letters, digits and'),
        ("start " + "s" * 81 + " 1.0", "service is at most 80 characters (got 81)."),
        ("start api 1.0 prod<uction>", "environment `prod<uction>` may hold only"),
        ("status 99999999999999999999", "There is no deployment run #999999999999…"),
        ("status #2147483648", "There is no deployment run #2147483648."),
        ("deployed --override", "Usage: `/deploy deployed [RUN] [--override REASON]`"),
        ("status", "No deployment run is open in this channel"),
        ("status abc", "Usage: `/deploy status [RUN]`"),
        ("status 999", "There is no deployment run #999"),
        ("abort", "Usage: `/deploy abort [RUN] REASON`"),
        ("list", "No deployment runs are open"),
    ],
)
def test_usage_and_errors(bot: Bot, text: str, expected: str) -> None:
    reply = _reply(bot, text)
    assert expected in reply
    assert "Traceback" not in reply


def test_status_list_and_abort(bot: Bot) -> None:
    run_id = bot.start_run("start payments-api 1.4.2 staging")
    assert f"|#{run_id}> payments-api 1.4.2 → staging" in _reply(bot, "list")
    status = _reply(bot, "status")
    assert "NOT READY" in status and "2/92 items resolved" in status
    # typed elsewhere: answers with a link to the run's message
    link = _permalink(bot, run_id)
    assert f"Run #{run_id} lives in <#{CHANNEL}>: <{link}|open it>." in _reply(
        bot, f"status {run_id}", channel="CELSEWHERE"
    )
    assert f"<{link}|#{run_id}>" in _reply(bot, "list", channel="CELSEWHERE")
    assert "lives in" not in _reply(bot, f"status {run_id}")
    second = bot.start_run("start web 2.0")
    assert "Several runs are open here" in _reply(bot, "status")
    assert "aborted" in _reply(bot, f"abort {second} wrong version")
    bot.settle()
    with bot.stack.ctx.db.read() as s:
        run = s.get(Deployment, second)
        assert run is not None and (run.state, run.end_reason) == (RunState.ABORTED, "wrong version")
        entry = s.scalars(select(AuditEntry).where(AuditEntry.deployment_id == second, AuditEntry.kind == "run")).all()
        assert [e.to_state for e in entry] == ["open", "aborted"]
    eventually(lambda: "ABORTED" in bot.parent(second)["text"])
    eventually(lambda: any("Run aborted by <@URM>" in m.get("text", "") for m in bot.thread(second)))


def _permalink(bot: Bot, run_id: int) -> str:
    """What Slack's chat.getPermalink says the run's parent message is."""
    from slack_sdk import WebClient

    client = WebClient(token="xoxb-test", base_url=bot.emu.api_url)
    return str(client.chat_getPermalink(channel=CHANNEL, message_ts=bot.parent(run_id)["ts"])["permalink"])


def test_a_run_started_from_another_channel_is_posted_in_the_deployment_channel_and_linked(bot: Bot) -> None:
    resp = bot.emu.slash("URM", "/deploy", "start web 2.0 --template lamsa-production", "CELSEWHERE")
    reply = resp.json()
    assert reply["response_type"] == "ephemeral"
    assert f"in <#{CHANNEL}>" in reply["text"]
    run_id = int(reply["text"].split("#")[1].split(":")[0])
    link = eventually(lambda: _permalink(bot, run_id))
    follow_up = bot.wait_ephemeral("URM", "lives in")
    assert follow_up == f"Run #{run_id} lives in <#{CHANNEL}>: <{link}|open it>."
    assert bot.emu.messages("CELSEWHERE") == []
    assert len(bot.thread(run_id)) == 9


def test_permissions_are_enforced(db_url: str) -> None:
    with running_bot(db_url, permissions={"start": {"users": ["URM"]}, "abort": {"usergroups": ["SDM"]}}) as bot:
        assert "not allowed to start" in _reply(bot, "start api 1.0", user="UX")
        run_id = bot.start_run("start api 1.0", user="URM")
        assert "not allowed to abort" in _reply(bot, f"abort {run_id} nope", user="URM")
        assert "aborted" in _reply(bot, f"abort {run_id} real reason", user="UDM")


def test_export_uploads_markdown_to_the_thread(bot: Bot) -> None:
    run_id = bot.start_run()
    bot.sign(run_id, "security-team", "USEC", comment="scan clean")
    assert "Exporting run" in _reply(bot, "export")
    uploads = bot.wait_calls("files.completeUploadExternal")
    assert len(uploads) == 1
    assert uploads[0].params.get("thread_ts") == bot.parent(run_id)["ts"]
    contents = [
        bot.emu.file_content(f["id"])
        for call in uploads
        for f in call.params["files"]  # type: ignore[union-attr]
    ]
    text = (contents[0] or b"").decode()
    assert text.startswith("# Lamsa Production Deployment Checklist")
    assert "**Deployment Status:** ❌ NOT READY" in text
    # people by the names Slack knows them by (users.info), not by their ids
    assert "**Security Team Approval:** @sam" in text and "scan clean" in text
    assert "@rita" in text and "@USEC" not in text and "@URM" not in text


def test_a_run_slack_refuses_to_post_is_explained_to_its_starter_and_not_retried_in_a_loop(db_url: str) -> None:
    """The configured channel does not exist (or the bot was never invited): Slack says channel_not_found."""
    with running_bot(db_url, channel="CGONE") as bot:
        assert "Started run #1" in _reply(bot, "start payments-api 1.4.2")
        dm = eventually(
            lambda: [
                c.params["text"]
                for c in bot.emu.calls_to("chat.postMessage")
                if str(c.params.get("channel", "")).startswith("D")
            ]
        )
        assert "could not post run #1 in <#CGONE>: Slack said `channel_not_found`" in dm[0]
        assert "Invite me to that channel" in dm[0]
        bot.settle()  # the thread messages wait for their parent; they do not keep the updater busy
        posts = len(bot.emu.calls_to("chat.postMessage"))
        time.sleep(1.5)  # more than the updater's retry interval
        assert len(bot.emu.calls_to("chat.postMessage")) == posts
        with bot.stack.ctx.db.read() as s:
            assert s.scalars(select(Deployment.state)).one() == RunState.OPEN  # the run itself is kept


def test_a_section_slack_refuses_is_explained_to_the_starter(bot: Bot) -> None:
    """Slack refuses the first section message (after the parent) with invalid_blocks: the items are recorded
    but not shown, so the starter is told, once, and pointed at the export."""
    bot.emu.fail_next("chat.postMessage", status=200, error="invalid_blocks", skip=1)
    resp = bot.emu.slash("URM", "/deploy", "start payments-api 1.4.2", CHANNEL)
    run_id = int(resp.json()["text"].split("#")[1].split(":")[0])
    bot.settle()
    dm = [
        str(c.params["text"])
        for c in bot.emu.calls_to("chat.postMessage")
        if str(c.params.get("channel", "")).startswith("D") and "refused part of run" in str(c.params["text"])
    ]
    assert dm == [
        f"Slack refused part of run #{run_id} (a section message): `invalid_blocks`, so some of its items are not "
        f"shown. Everything is recorded (`/deploy export {run_id}` lists it); please report this to the Deploy Bot "
        "maintainers with the template used."
    ]
    assert [c.fault for c in bot.emu.calls_to("chat.postMessage")][:2] == [None, "200"]
