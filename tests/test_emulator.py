"""The Slack emulator through real clients: slack_sdk's WebClient for the Web API, and a Bolt app behind
Flask + waitress receiving the driver's signed slash commands, clicks and view submissions."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.error import URLError

import httpx
import pytest
from flask import Flask, request
from flask.typing import ResponseReturnValue
from slack_bolt import Ack, App, Respond
from slack_bolt.adapter.flask import SlackRequestHandler
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator
from waitress import wasyncore
from waitress.server import TcpWSGIServer, create_server

from bot.clock import ManualClock
from bot.sandbox import RESET, NotOnScreen, SlackEmulator, request_headers, sign

SECRET = "test-signing-secret"
TOKEN = "xoxb-test"
CHANNEL = "C0DEPLOY"


def section(text: str, block_id: str | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "section", "text": {"type": "mrkdwn", "text": text}}
    if block_id:
        block["block_id"] = block_id
    return block


def modal(**extra: Any) -> dict[str, Any]:
    return {"type": "modal", "title": {"type": "plain_text", "text": "Sign off"}, "blocks": [section("x")], **extra}


@pytest.fixture(autouse=True)
def no_slack_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("SLACK_"):
            monkeypatch.delenv(key)


@pytest.fixture
def emu() -> Iterator[SlackEmulator]:
    with SlackEmulator(signing_secret=SECRET) as emulator:
        emulator.add_user("U1", "alice", "Alice A")
        emulator.add_user("U2", "bob", "Bob B")
        emulator.add_usergroup("S1", "release-managers", ["U1", "U2"])
        yield emulator


@pytest.fixture
def client(emu: SlackEmulator) -> WebClient:
    return WebClient(base_url=emu.api_url, token=TOKEN, retry_handlers=[])


# --- Web API ------------------------------------------------------------------------------------------


def test_auth_test_shape(client: WebClient, emu: SlackEmulator) -> None:
    resp = client.auth_test()
    assert resp["ok"] is True
    assert {resp["team_id"], resp["user_id"], resp["bot_id"]} == {"T0DEPLOY", "U0BOT", "B0BOT"}
    assert resp["url"].startswith(emu.base_url)
    assert resp["team"] and resp["user"] == "deploybot"


def test_auth_errors(emu: SlackEmulator) -> None:
    with pytest.raises(SlackApiError) as missing:
        WebClient(base_url=emu.api_url, token=None).auth_test()
    assert missing.value.response["error"] == "not_authed"
    with pytest.raises(SlackApiError) as wrong:
        WebClient(base_url=emu.api_url, token="xoxp-user").auth_test()
    assert wrong.value.response["error"] == "invalid_auth"
    emu.valid_tokens = {"xoxb-only-this"}
    with pytest.raises(SlackApiError) as other:
        WebClient(base_url=emu.api_url, token=TOKEN).auth_test()
    assert other.value.response["error"] == "invalid_auth"
    assert WebClient(base_url=emu.api_url, token="xoxb-only-this").auth_test()["ok"]


def test_post_message_threads_and_history(client: WebClient, emu: SlackEmulator) -> None:
    first = client.chat_postMessage(channel=CHANNEL, text="one", blocks=[section("*one*")])
    second = client.chat_postMessage(channel="#deployments", text="two")
    assert second["channel"] == CHANNEL
    assert float(second["ts"]) > float(first["ts"])
    assert first["message"]["blocks"][0]["text"]["text"] == "*one*"
    assert first["message"]["blocks"][0]["block_id"]  # Slack fills in missing block ids
    reply = client.chat_postMessage(channel=CHANNEL, text="reply", thread_ts=first["ts"])
    assert reply["message"]["thread_ts"] == first["ts"]

    history = client.conversations_history(channel=CHANNEL)
    assert [m["text"] for m in history["messages"]] == ["two", "one"]  # newest first, no replies
    assert history["messages"][1]["reply_count"] == 1
    replies = client.conversations_replies(channel=CHANNEL, ts=first["ts"])
    assert [m["text"] for m in replies["messages"]] == ["one", "reply"]
    page = client.conversations_history(channel=CHANNEL, limit=1)
    assert page["has_more"] is True and [m["text"] for m in page["messages"]] == ["two"]
    rest = client.conversations_history(channel=CHANNEL, limit=1, cursor=page["response_metadata"]["next_cursor"])
    assert [m["text"] for m in rest["messages"]] == ["one"]
    with pytest.raises(SlackApiError, match="thread_not_found"):
        client.conversations_replies(channel=CHANNEL, ts="1.000000")


def test_post_message_errors(client: WebClient, emu: SlackEmulator) -> None:
    with pytest.raises(SlackApiError) as unknown:
        client.chat_postMessage(channel="C404", text="x")
    assert unknown.value.response["error"] == "channel_not_found"
    with pytest.raises(SlackApiError) as empty:
        client.api_call("chat.postMessage", json={"channel": CHANNEL})
    assert empty.value.response["error"] == "no_text"
    with pytest.raises(SlackApiError) as invalid:
        client.chat_postMessage(channel=CHANNEL, text="x", blocks=[{"type": "divider"}] * 51)
    body = invalid.value.response.data
    assert body["error"] == "invalid_blocks"
    assert body["response_metadata"]["messages"] == ["[ERROR] blocks: 51 blocks (max 50 per message)"]
    assert any("invalid_blocks" in w for w in emu.warnings)
    assert emu.messages(CHANNEL) == []


def test_form_encoded_blocks_are_parsed_and_recorded(emu: SlackEmulator) -> None:
    blocks = [section("from a form", block_id="b1")]
    with httpx.Client() as http:
        resp = http.post(
            emu.api_url + "chat.postMessage",
            data={"channel": CHANNEL, "text": "t", "blocks": json.dumps(blocks)},
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
    assert resp.status_code == 200 and resp.json()["ok"] is True
    call = emu.calls_to("chat.postMessage")[-1]
    assert call.params["blocks"] == blocks
    assert call.headers["authorization"] == "(redacted)"  # tokens never kept
    assert emu.messages(CHANNEL)[0]["blocks"] == blocks


def test_update_delete_permalink_reactions(client: WebClient, emu: SlackEmulator) -> None:
    posted = client.chat_postMessage(channel=CHANNEL, text="v1")
    updated = client.chat_update(channel=CHANNEL, ts=posted["ts"], text="v2", blocks=[section("v2")])
    assert updated["ts"] == posted["ts"] and updated["message"]["text"] == "v2"
    stored = emu.message(CHANNEL, posted["ts"])
    assert stored is not None and stored["text"] == "v2" and "edited" in stored
    with pytest.raises(SlackApiError, match="message_not_found"):
        client.chat_update(channel=CHANNEL, ts="1.000001", text="x")
    with pytest.raises(SlackApiError, match="invalid_blocks"):
        client.chat_update(
            channel=CHANNEL, ts=posted["ts"], text="x", blocks=[{"type": "header", "text": section("x")}]
        )

    link = client.chat_getPermalink(channel=CHANNEL, message_ts=posted["ts"])
    assert link["permalink"].endswith(f"/archives/{CHANNEL}/p{posted['ts'].replace('.', '')}")
    client.reactions_add(channel=CHANNEL, timestamp=posted["ts"], name="rocket")
    with pytest.raises(SlackApiError, match="already_reacted"):
        client.reactions_add(channel=CHANNEL, timestamp=posted["ts"], name="rocket")
    assert emu.messages(CHANNEL)[0]["reactions"][0]["name"] == "rocket"

    assert client.chat_delete(channel=CHANNEL, ts=posted["ts"])["ok"]
    assert emu.messages(CHANNEL) == []
    with pytest.raises(SlackApiError, match="message_not_found"):
        client.chat_delete(channel=CHANNEL, ts=posted["ts"])


def test_post_ephemeral_is_visible_to_that_user_only(client: WebClient, emu: SlackEmulator) -> None:
    resp = client.chat_postEphemeral(channel=CHANNEL, user="U1", text="only you")
    assert resp["message_ts"]
    assert [m["text"] for m in emu.ephemerals("U1")] == ["only you"]
    assert emu.ephemerals("U2") == [] and emu.messages(CHANNEL) == []
    with pytest.raises(SlackApiError, match="user_not_found"):
        client.chat_postEphemeral(channel=CHANNEL, user="U404", text="x")


def test_conversations_users_and_usergroups(client: WebClient, emu: SlackEmulator) -> None:
    dm = client.conversations_open(users="U1")["channel"]["id"]
    assert dm.startswith("D") and client.conversations_open(users=["U1"])["channel"]["id"] == dm
    info = client.conversations_info(channel=dm)["channel"]
    assert info["is_im"] is True and info["user"] == "U1"
    assert client.conversations_info(channel=CHANNEL)["channel"]["name"] == "deployments"
    client.chat_postMessage(channel=dm, text="psst")
    assert [m["text"] for m in client.conversations_history(channel=dm)["messages"]] == ["psst"]
    with pytest.raises(SlackApiError, match="channel_not_found"):
        client.conversations_info(channel="C404")

    user = client.users_info(user="U1")["user"]
    assert (user["id"], user["name"], user["real_name"], user["is_bot"]) == ("U1", "alice", "Alice A", False)
    with pytest.raises(SlackApiError, match="user_not_found"):
        client.users_info(user="U404")
    assert client.usergroups_users_list(usergroup="S1")["users"] == ["U1", "U2"]
    with pytest.raises(SlackApiError, match="no_such_subteam"):
        client.usergroups_users_list(usergroup="S404")
    emu.add_channel("C2", "#ops")
    assert client.chat_postMessage(channel="ops", text="x")["channel"] == "C2"


def test_views_need_a_fresh_trigger(emu: SlackEmulator) -> None:
    clock = ManualClock()
    with SlackEmulator(signing_secret=SECRET, clock=clock) as timed:
        timed.add_user("U1", "alice")
        client = WebClient(base_url=timed.api_url, token=TOKEN, retry_handlers=[])
        trigger = timed.issue_trigger("U1")
        clock.advance(seconds=3.5)
        with pytest.raises(SlackApiError, match="expired_trigger_id"):
            client.views_open(trigger_id=trigger, view=modal())
        with pytest.raises(SlackApiError, match="invalid_trigger_id"):
            client.views_open(trigger_id="12345.never.issued", view=modal())

        fresh = timed.issue_trigger("U1")
        clock.advance(seconds=2.5)
        opened = client.views_open(trigger_id=fresh, view=modal(callback_id="signoff", external_id="ext-1"))
        view = opened["view"]
        assert view["id"].startswith("V") and view["callback_id"] == "signoff" and view["hash"]
        assert [v["id"] for v in timed.open_views("U1")] == [view["id"]]
        with pytest.raises(SlackApiError, match="exchanged_trigger_id"):
            client.views_open(trigger_id=fresh, view=modal())

        with pytest.raises(SlackApiError) as bad:
            client.views_open(
                trigger_id=timed.issue_trigger("U1"), view=modal(title={"type": "plain_text", "text": "t" * 25})
            )
        assert bad.value.response["error"] == "invalid_arguments"
        assert "view.title.text: 25 chars (max 24)" in bad.value.response["response_metadata"]["messages"][0]

        by_id = client.views_update(view_id=view["id"], view=modal(blocks=[section("v2")]), hash=view["hash"])
        assert by_id["view"]["blocks"][0]["text"]["text"] == "v2"
        with pytest.raises(SlackApiError, match="hash_conflict"):
            client.views_update(view_id=view["id"], view=modal(), hash=view["hash"])
        by_ext = client.views_update(external_id="ext-1", view=modal(blocks=[section("v3")], external_id="ext-1"))
        assert by_ext["view"]["id"] == view["id"]
        with pytest.raises(SlackApiError, match="not_found"):
            client.views_update(view_id="V404", view=modal())

        pushed = client.views_push(trigger_id=timed.issue_trigger("U1"), view=modal())["view"]
        assert pushed["previous_view_id"] == view["id"] and pushed["root_view_id"] == view["id"]
        assert len(timed.open_views("U1")) == 2


def test_files_upload_v2(client: WebClient, emu: SlackEmulator) -> None:
    resp = client.files_upload_v2(
        channel=CHANNEL, content="deploy report\n", filename="report.md", title="Report", initial_comment="done"
    )
    file = resp["file"]
    assert file["title"] == "Report" and file["name"] == "report.md"
    assert emu.file_content(file["id"]) == b"deploy report\n"
    with httpx.Client() as http:
        assert http.get(file["url_private"]).content == b"deploy report\n"
    message = emu.messages(CHANNEL)[-1]
    assert message["text"] == "done" and message["files"][0]["id"] == file["id"]
    assert [c.method for c in emu.calls] == ["files.getUploadURLExternal", "files.completeUploadExternal"]
    with pytest.raises(SlackApiError, match="file_not_found"):
        client.files_completeUploadExternal(files=[{"id": "F404", "title": "x"}])


def test_unknown_method_is_a_warning(client: WebClient, emu: SlackEmulator) -> None:
    with pytest.raises(SlackApiError) as caught:
        client.api_call("chat.scheduleMessage", json={"channel": CHANNEL})
    assert caught.value.response.status_code == 200
    assert caught.value.response["error"] == "unknown_method"
    assert emu.warnings == ["unknown_method: chat.scheduleMessage"]
    _, events = emu.events_since(0)
    assert events[-1]["kind"] == "warning"


def test_429_with_retry_after_reaches_the_client(client: WebClient, emu: SlackEmulator) -> None:
    emu.fail_next("chat.postMessage", status=429, retry_after=7)
    with pytest.raises(SlackApiError) as caught:
        client.chat_postMessage(channel=CHANNEL, text="x")
    assert caught.value.response.status_code == 429
    assert caught.value.response.headers["Retry-After"] == "7"
    assert client.chat_postMessage(channel=CHANNEL, text="x")["ok"]
    assert [c.fault for c in emu.calls_to("chat.postMessage")] == ["429", None]


def test_500_and_connection_reset(client: WebClient, emu: SlackEmulator) -> None:
    emu.fail_next("users.info", status=500)
    with pytest.raises(SlackApiError) as caught:
        client.users_info(user="U1")
    assert caught.value.response.status_code == 500

    emu.fail_next("users.info", status=RESET)
    with pytest.raises((URLError, ConnectionError)):
        client.users_info(user="U1")

    emu.fail_next("users.info", status=RESET)
    fast = FixedValueRetryIntervalCalculator(fixed_internal=0.01)
    retrying = WebClient(
        base_url=emu.api_url, token=TOKEN, retry_handlers=[ConnectionErrorRetryHandler(interval_calculator=fast)]
    )
    assert retrying.users_info(user="U1")["user"]["name"] == "alice"
    assert [c.fault for c in emu.calls_to("users.info")] == ["500", "reset", "reset", None]


def test_response_url_posts_replaces_deletes_and_wears_out(client: WebClient, emu: SlackEmulator) -> None:
    posted = client.chat_postMessage(channel=CHANNEL, text="original")
    url = emu.issue_response_url("U1", CHANNEL, posted["ts"])
    with httpx.Client() as http:
        assert http.post(url, json={"text": "just you"}).json() == {"ok": True}
        assert [m["text"] for m in emu.ephemerals("U1")] == ["just you"]
        http.post(url, json={"text": "everyone", "response_type": "in_channel"})
        assert [m["text"] for m in emu.messages(CHANNEL)] == ["original", "everyone"]
        http.post(url, json={"text": "replaced", "replace_original": True, "blocks": [section("new")]})
        assert emu.messages(CHANNEL)[0]["text"] == "replaced"
        bad = http.post(url, json={"text": "x", "blocks": [{"type": "nope"}]})
        assert bad.json()["error"] == "invalid_blocks"
        http.post(url, json={"delete_original": True})
        assert [m["text"] for m in emu.messages(CHANNEL)] == ["everyone"]
        sixth = http.post(url, json={"text": "too many"})
        assert sixth.status_code == 404 and sixth.json()["error"] == "used_url"
        assert http.post(emu.base_url + "/response/unknown", json={"text": "x"}).status_code == 404


def test_response_url_expires_after_30_minutes() -> None:
    clock = ManualClock()
    with SlackEmulator(signing_secret=SECRET, clock=clock) as emu, httpx.Client() as http:
        emu.add_user("U1", "alice")
        url = emu.issue_response_url("U1", CHANNEL)
        clock.advance(minutes=31)
        resp = http.post(url, json={"text": "late"})
        assert resp.status_code == 404 and resp.json()["error"] == "expired_url"


def test_change_feed_and_long_poll(client: WebClient, emu: SlackEmulator) -> None:
    seq, _ = emu.events_since(0)
    got: list[list[dict[str, Any]]] = []
    waiter = threading.Thread(target=lambda: got.append(emu.wait_for_events(seq, timeout=5)[1]))
    waiter.start()
    posted = client.chat_postMessage(channel=CHANNEL, text="hi")
    waiter.join(timeout=5)
    assert got and got[0][0]["kind"] == "message_posted" and got[0][0]["message"]["ts"] == posted["ts"]
    client.chat_update(channel=CHANNEL, ts=posted["ts"], text="hi2")
    client.chat_delete(channel=CHANNEL, ts=posted["ts"])
    new_seq, events = emu.events_since(seq)
    assert [e["kind"] for e in events] == ["message_posted", "message_updated", "message_deleted"]
    assert emu.events_since(new_seq) == (new_seq, [])
    assert emu.wait_for_events(new_seq, timeout=0.05) == (new_seq, [])


def test_state_file_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "slack.json"
    with SlackEmulator(signing_secret=SECRET, state_file=path) as first:
        first.add_user("U1", "alice")
        ts = WebClient(base_url=first.api_url, token=TOKEN).chat_postMessage(channel=CHANNEL, text="kept")["ts"]
    with SlackEmulator(signing_secret=SECRET, state_file=path) as second:
        assert [m["text"] for m in second.messages(CHANNEL)] == ["kept"]
        later = WebClient(base_url=second.api_url, token=TOKEN).chat_postMessage(channel=CHANNEL, text="more")
        assert float(later["ts"]) > float(ts)
        assert WebClient(base_url=second.api_url, token=TOKEN).users_info(user="U1")["user"]["name"] == "alice"


def test_clear_calls(client: WebClient, emu: SlackEmulator) -> None:
    client.auth_test()
    assert [c.method for c in emu.calls] == ["auth.test"]
    emu.clear_calls()
    assert emu.calls == []


# --- driver: signing ----------------------------------------------------------------------------------


def test_sign_matches_slacks_published_example() -> None:
    body = (
        b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
        b"&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
        b"&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
        b"&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
    )
    expected = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
    assert sign("8f742231b10e8888abcd99yyyzzz85a5", 1531420618, body) == expected
    headers = request_headers("8f742231b10e8888abcd99yyyzzz85a5", body, 1531420618)
    assert headers["X-Slack-Signature"] == expected and headers["X-Slack-Request-Timestamp"] == "1531420618"


# --- driver against a real Bolt app ------------------------------------------------------------------


def wizard_view(title: str) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": "wizard",
        "title": {"type": "plain_text", "text": title},
        "submit": {"type": "plain_text", "text": "Next"},
        "blocks": [
            {
                "type": "input",
                "block_id": "next",
                "label": {"type": "plain_text", "text": "update, push or clear"},
                "element": {"type": "plain_text_input", "action_id": "what"},
            }
        ],
    }


class BotRecorder:
    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []


def build_app(emu: SlackEmulator, seen: BotRecorder) -> Flask:
    app = App(
        token=TOKEN,
        signing_secret=SECRET,
        client=WebClient(base_url=emu.api_url, token=TOKEN),
        process_before_response=True,  # listeners finish before the HTTP reply: deterministic tests
    )

    @app.command("/deploy")
    def deploy(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        seen.bodies.append(body)
        client.chat_postMessage(
            channel=body["channel_id"],
            text=f"Deploying {body['text']}",
            blocks=[
                section(f"Deploying {body['text']}", block_id="intro"),
                {
                    "type": "actions",
                    "block_id": "controls",
                    "elements": [
                        {
                            "type": "button",
                            "action_id": "approve",
                            "text": {"type": "plain_text", "text": "Approve"},
                            "value": "item=1;set=done",
                            "style": "primary",
                        },
                        {
                            "type": "checkboxes",
                            "action_id": "item-1",
                            "options": [{"text": {"type": "mrkdwn", "text": "Backup"}, "value": "backup"}],
                        },
                    ],
                },
            ],
        )

    @app.command("/ping")
    def ping(ack: Ack, body: dict[str, Any]) -> None:
        if body.get("text") == "slowly":
            time.sleep(3.1)
        ack("pong")

    @app.command("/signoff")
    def signoff(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        client.views_open(
            trigger_id=body["trigger_id"],
            view={
                "type": "modal",
                "callback_id": "signoff",
                "private_metadata": json.dumps({"channel": body["channel_id"]}),
                "title": {"type": "plain_text", "text": "Sign off"},
                "submit": {"type": "plain_text", "text": "Sign"},
                "blocks": [
                    {
                        "type": "input",
                        "block_id": "reason",
                        "label": {"type": "plain_text", "text": "Reason"},
                        "element": {"type": "plain_text_input", "action_id": "text"},
                    },
                    {
                        "type": "input",
                        "block_id": "role",
                        "label": {"type": "plain_text", "text": "Role"},
                        "element": {
                            "type": "static_select",
                            "action_id": "pick",
                            "options": [{"text": {"type": "plain_text", "text": "QA"}, "value": "qa"}],
                        },
                    },
                ],
            },
        )

    @app.action("approve")
    def approve(ack: Ack, body: dict[str, Any], client: WebClient, respond: Respond) -> None:
        ack()
        seen.bodies.append(body)
        client.chat_update(
            channel=body["channel"]["id"],
            ts=body["container"]["message_ts"],
            text=f"Approved by <@{body['user']['id']}>",
            blocks=[section(f"Approved by <@{body['user']['id']}>", block_id="done")],
        )
        respond(text="thanks", response_type="ephemeral")

    @app.action("item-1")
    def item(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        seen.bodies.append(body)

    @app.view("signoff")
    def submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient) -> None:
        seen.bodies.append(body)
        reason = view["state"]["values"]["reason"]["text"]["value"]
        if not reason:
            ack(response_action="errors", errors={"reason": "Say why"})
            return
        ack()
        client.chat_postMessage(channel=json.loads(view["private_metadata"])["channel"], text=f"Signed: {reason}")

    @app.command("/wizard")
    def wizard(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        client.views_open(trigger_id=body["trigger_id"], view=wizard_view("Step 1"))

    @app.view("wizard")
    def wizard_step(ack: Ack, view: dict[str, Any]) -> None:
        choice = view["state"]["values"]["next"]["what"]["value"]
        if choice in ("update", "push"):
            ack(response_action=choice, view=wizard_view(f"Step {choice}"))
        else:
            ack(response_action="clear")

    flask_app = Flask(__name__)
    handler = SlackRequestHandler(app)

    @flask_app.route("/slack/events", methods=["POST"])
    def events() -> ResponseReturnValue:
        seen.headers.append(dict(request.headers))
        return handler.handle(request)

    return flask_app


@pytest.fixture
def bot(emu: SlackEmulator) -> Iterator[BotRecorder]:
    """The Bolt app served by waitress on port 0. The asyncore loop runs and closes in one thread, since
    closing its sockets from another thread races the poll."""
    seen = BotRecorder()
    socket_map: dict[int, Any] = {}
    server = create_server(build_app(emu, seen), map=socket_map, host="127.0.0.1", port=0, threads=2)
    assert isinstance(server, TcpWSGIServer)
    stop = threading.Event()

    def serve() -> None:
        try:
            while not stop.is_set():
                wasyncore.loop(timeout=0.02, map=socket_map, count=1)
        finally:
            wasyncore.close_all(socket_map)
            server.task_dispatcher.shutdown()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    emu.bot_url = f"http://127.0.0.1:{server.getsockname()[1]}/slack/events"
    try:
        yield seen
    finally:
        stop.set()
        thread.join(timeout=5)


def test_slash_command_reaches_bolt_and_its_post_lands(emu: SlackEmulator, bot: BotRecorder) -> None:
    resp = emu.slash("U1", "/deploy", "api 1.2.3")
    assert resp.status_code == 200
    body = bot.bodies[0]
    assert (body["command"], body["text"], body["user_id"], body["user_name"]) == (
        "/deploy",
        "api 1.2.3",
        "U1",
        "alice",
    )
    assert body["channel_name"] == "deployments" and body["team_id"] == "T0DEPLOY" and body["api_app_id"]
    assert body["response_url"].startswith(emu.base_url + "/response/")
    assert abs(int(bot.headers[0]["X-Slack-Request-Timestamp"]) - time.time()) < 60
    messages = emu.messages(CHANNEL)
    assert [m["text"] for m in messages] == ["Deploying api 1.2.3"]


def test_synchronous_slash_reply_is_shown_ephemeral(emu: SlackEmulator, bot: BotRecorder) -> None:
    emu.slash("U2", "/ping")
    assert [m["text"] for m in emu.ephemerals("U2")] == ["pong"]
    assert emu.messages(CHANNEL) == []


def test_an_answer_slower_than_slacks_3_seconds_is_a_warning(emu: SlackEmulator, bot: BotRecorder) -> None:
    emu.slash("U2", "/ping")
    assert emu.warnings == []
    emu.slash("U2", "/ping", "slowly")
    assert len(emu.warnings) == 1 and "the bot answered after 3." in emu.warnings[0]


def test_click_builds_block_actions_from_the_stored_message(emu: SlackEmulator, bot: BotRecorder) -> None:
    emu.slash("U1", "/deploy", "api 1.2.3")
    ts = emu.messages(CHANNEL)[0]["ts"]
    resp = emu.click("U2", CHANNEL, ts, "approve", "controls")
    assert resp.status_code == 200
    payload = bot.bodies[-1]
    assert payload["type"] == "block_actions"
    assert payload["user"] == {"id": "U2", "username": "bob", "name": "bob", "team_id": "T0DEPLOY"}
    assert payload["container"] == {"type": "message", "message_ts": ts, "channel_id": CHANNEL, "is_ephemeral": False}
    assert payload["message"]["blocks"][1]["block_id"] == "controls"
    action = payload["actions"][0]
    assert (action["type"], action["action_id"], action["block_id"], action["value"]) == (
        "button",
        "approve",
        "controls",
        "item=1;set=done",
    )
    # the listener's chat.update and its respond() both landed
    assert emu.messages(CHANNEL)[0]["text"] == "Approved by <@U2>"
    assert [m["text"] for m in emu.ephemerals("U2")] == ["thanks"]
    # what is no longer on screen cannot be clicked
    with pytest.raises(NotOnScreen):
        emu.click("U2", CHANNEL, ts, "approve", "controls")


def test_checkbox_click_and_stale_client(emu: SlackEmulator, bot: BotRecorder) -> None:
    emu.slash("U1", "/deploy", "api")
    message = emu.messages(CHANNEL)[0]
    emu.click("U1", CHANNEL, message["ts"], "item-1", "controls", selected_options=["backup"])
    action = bot.bodies[-1]["actions"][0]
    assert action["type"] == "checkboxes"
    assert action["selected_options"] == [{"text": {"type": "mrkdwn", "text": "Backup"}, "value": "backup"}]

    stale = [section("old render", block_id="old"), *message["blocks"][1:]]
    emu.click("U1", CHANNEL, message["ts"], "item-1", "controls", selected_options=[], stale_blocks=stale)
    assert bot.bodies[-1]["message"]["blocks"][0]["block_id"] == "old"
    assert bot.bodies[-1]["actions"][0]["selected_options"] == []
    with pytest.raises(NotOnScreen):
        emu.click("U1", CHANNEL, message["ts"], "missing", "controls")


def test_view_submission_errors_then_success(emu: SlackEmulator, bot: BotRecorder) -> None:
    emu.slash("U1", "/signoff")
    (view,) = emu.open_views("U1")
    emu.submit_view("U1", view["id"], {"role": {"pick": "qa"}})
    submitted = bot.bodies[-1]
    assert submitted["type"] == "view_submission" and submitted["view"]["callback_id"] == "signoff"
    values = submitted["view"]["state"]["values"]
    assert values["reason"]["text"] == {"type": "plain_text_input", "value": None}
    assert values["role"]["pick"]["selected_option"]["value"] == "qa"
    assert emu.view_errors(view["id"]) == {"reason": "Say why"}
    assert len(emu.open_views("U1")) == 1

    emu.submit_view("U1", view["id"], {"reason": {"text": "tests green"}, "role": {"pick": "qa"}})
    assert emu.open_views("U1") == []
    assert [m["text"] for m in emu.messages(CHANNEL)] == ["Signed: tests green"]
    with pytest.raises(NotOnScreen):
        emu.submit_view("U1", view["id"], {})


def test_forged_and_old_requests_are_rejected(emu: SlackEmulator, bot: BotRecorder) -> None:
    body = b"command=%2Fping&user_id=U1&channel_id=C0DEPLOY&text="
    assert emu.post_signed(body, signature="v0=" + "0" * 64).status_code == 401
    assert emu.post_signed(body, timestamp=int(time.time()) - 600).status_code == 401
    assert bot.bodies == []


def test_view_response_actions_update_push_clear(emu: SlackEmulator, bot: BotRecorder) -> None:
    emu.slash("U1", "/wizard")
    (first,) = emu.open_views("U1")
    emu.submit_view("U1", first["id"], {"next": {"what": "update"}})
    (updated,) = emu.open_views("U1")
    assert updated["id"] == first["id"] and updated["title"]["text"] == "Step update"
    emu.submit_view("U1", first["id"], {"next": {"what": "push"}})
    assert [v["title"]["text"] for v in emu.open_views("U1")] == ["Step update", "Step push"]
    emu.submit_view("U1", emu.open_views("U1")[1]["id"], {"next": {"what": "clear"}})
    assert emu.open_views("U1") == []
    kinds = [e["kind"] for e in emu.events_since(0)[1] if e["kind"].startswith("view_")]
    assert kinds == ["view_opened", "view_updated", "view_opened", "view_closed", "view_closed"]


def test_click_on_an_ephemeral_message(client: WebClient, emu: SlackEmulator, bot: BotRecorder) -> None:
    checkbox = {
        "type": "checkboxes",
        "action_id": "item-1",
        "options": [{"text": {"type": "mrkdwn", "text": "Backup"}, "value": "backup"}],
    }
    blocks = [{"type": "actions", "block_id": "mine", "elements": [checkbox]}]
    ts = client.chat_postEphemeral(channel=CHANNEL, user="U1", text="only you", blocks=blocks)["message_ts"]
    with pytest.raises(NotOnScreen):
        emu.click("U2", CHANNEL, ts, "item-1", "mine")  # bob cannot see alice's ephemeral
    emu.click("U1", CHANNEL, ts, "item-1", "mine", selected_options=["backup"])
    payload = bot.bodies[-1]
    assert payload["container"]["is_ephemeral"] is True and "message" not in payload
    assert payload["actions"][0]["selected_options"][0]["value"] == "backup"
