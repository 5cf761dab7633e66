"""The sandbox page's JSON endpoints, driven over HTTP, and `deploybot sandbox` as a process."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.sandbox.config import CHANNEL_ID
from bot.sandbox.runner import Sandbox

RITA, SAM, XAVIER = "U0RITA", "U0SAM", "U0XAVIER"


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    with Sandbox(f"sqlite:///{tmp_path / 'sandbox.db'}", port=0) as sb:
        yield sb


@pytest.fixture
def page(sandbox: Sandbox) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sandbox.url, timeout=10) as client:
        yield client


def _state(page: httpx.Client, user: str) -> dict[str, Any]:
    resp = page.get("/sandbox/state", params={"user": user})
    assert resp.status_code == 200
    data: dict[str, Any] = resp.json()
    return data


def _until(page: httpx.Client, user: str, check: Callable[[dict[str, Any]], Any], timeout: float = 10) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        state = _state(page, user)
        found = check(state)
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met; messages: {[m.get('text') for m in state['messages']]}")
        page.get("/sandbox/poll", params={"since": state["seq"], "timeout": 0.5})


def _parent(state: dict[str, Any]) -> dict[str, Any] | None:
    return next((m for m in state["messages"] if m.get("reply_count", 0) >= 9), None)


def _checkbox(message: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """(block_id, element) of the first unticked item checkbox in a message."""
    for block in message.get("blocks", []):
        for element in block.get("elements", []):
            if element.get("type") == "checkboxes" and not element.get("initial_options"):
                return block["block_id"], element
    return None


def _start(page: httpx.Client) -> dict[str, Any]:
    resp = page.post("/sandbox/slash", json={"user": RITA, "text": "/deploy start demo-api 1.0.0"})
    assert resp.json() == {"ok": True, "status": 200}
    parent: dict[str, Any] = _until(page, RITA, _parent)
    return parent


def test_page_and_static_files_are_served(page: httpx.Client) -> None:
    index = page.get("/")
    assert index.status_code == 200 and index.headers["content-type"].startswith("text/html")
    assert "/sandbox/static/app.js" in index.text
    for name, kind in (("app.js", "text/javascript"), ("app.css", "text/css")):
        resp = page.get(f"/sandbox/static/{name}")
        assert resp.status_code == 200 and resp.headers["content-type"].startswith(kind)
    assert page.get("/sandbox/static/../runner.py").status_code == 404
    assert page.get("/sandbox/nope").status_code == 404


def test_state_lists_people_with_roles_and_the_channel(page: httpx.Client) -> None:
    state = _state(page, XAVIER)
    people = {u["id"]: u for u in state["users"]}
    assert people["U0SAM"]["role"].startswith("Security Team")
    assert people[XAVIER]["role"] == "No role"
    assert people["U0BOT"]["is_bot"] is True
    assert [c["name"] for c in state["channels"] if c["id"] == CHANNEL_ID] == ["deployments"]
    assert state["messages"] == [] and state["views"] == [] and state["warnings"] == []


def test_slash_start_then_click_a_checkbox(page: httpx.Client, sandbox: Sandbox) -> None:
    parent = _start(page)
    assert "Deploy demo-api 1.0.0" in parent["text"]
    # the reply "Started run #1" is ephemeral: Rita sees it, Xavier does not
    assert any("Started run #1" in m["text"] for m in _state(page, RITA)["ephemerals"])
    assert _state(page, XAVIER)["ephemerals"] == []
    thread = [m for m in _state(page, XAVIER)["messages"] if m.get("thread_ts") == parent["ts"] and m is not parent]
    section = next(m for m in thread if _checkbox(m))
    found = _checkbox(section)
    assert found is not None
    block_id, element = found
    click = {
        "user": XAVIER,
        "channel": CHANNEL_ID,
        "ts": section["ts"],
        "action_id": element["action_id"],
        "block_id": block_id,
        "selected_options": ["done"],
    }
    assert page.post("/sandbox/click", json=click).json()["ok"] is True

    def ticked(state: dict[str, Any]) -> bool:
        message = next(m for m in state["messages"] if m["ts"] == section["ts"])
        for block in message["blocks"]:
            for e in block.get("elements", []):
                if e.get("action_id") == element["action_id"]:
                    return bool(e.get("initial_options"))
        return False

    assert _until(page, SAM, ticked)
    assert _state(page, SAM)["warnings"] == []


def test_sign_off_modal_refusal_and_validation_through_the_driver(page: httpx.Client) -> None:
    parent = _start(page)
    sign = next(b for b in parent["blocks"] if b.get("accessory", {}).get("value") == "security-team")
    click = {"channel": CHANNEL_ID, "ts": parent["ts"], "action_id": "sign", "block_id": sign["block_id"]}
    page.post("/sandbox/click", json={**click, "user": XAVIER, "value": "security-team"})
    refusal = _until(page, XAVIER, lambda s: [m for m in s["ephemerals"] if "not an approver" in m["text"]])
    assert refusal and _state(page, RITA)["ephemerals"][-1]["text"].startswith("Started")

    page.post("/sandbox/click", json={**click, "user": SAM, "value": "security-team"})
    view = _until(page, SAM, lambda s: s["views"][-1] if s["views"] else None)
    assert view["title"]["text"] == "Confirm sign-off" and view["errors"] == {}
    assert _state(page, XAVIER)["views"] == []  # modals are per user
    submit = {"user": SAM, "view_id": view["id"], "values": {"comment": {"comment_input": "looks good"}}}
    assert page.post("/sandbox/submit", json=submit).json()["ok"] is True
    signed = _until(page, SAM, lambda s: "5 sign-off(s) missing" in (_parent(s) or {}).get("text", ""))
    assert signed and _state(page, SAM)["views"] == []
    # a view that is not open is not on screen: 409, nothing reaches the bot
    assert page.post("/sandbox/submit", json=submit).status_code == 409


def test_plain_message_is_escaped_and_bad_requests_are_refused(page: httpx.Client) -> None:
    resp = page.post("/sandbox/message", json={"user": XAVIER, "text": "hi <@U0SAM> & <b>"})
    assert resp.json()["ok"] is True
    message = _state(page, RITA)["messages"][-1]
    assert (message["user"], message["text"]) == (XAVIER, "hi &lt;@U0SAM&gt; &amp; &lt;b&gt;")
    assert page.post("/sandbox/slash", json={"user": XAVIER, "text": "deploy"}).status_code == 400
    assert page.post("/sandbox/message", json={"user": "UNOBODY", "text": "x"}).status_code == 409
    assert page.post("/sandbox/click", content=b"[1]").status_code == 400


def test_demo_controls_reach_the_demo_service(page: httpx.Client, sandbox: Sandbox) -> None:
    status = page.get("/sandbox/demo").json()
    assert status["settings"]["error_rate"] == 0.0 and status["url"] == sandbox.demo.url
    resp = page.post("/sandbox/demo", json={"error_rate": 0.5, "latency_ms": 20, "healthy": False, "broken": ["auth"]})
    assert resp.json()["ok"] is True
    assert httpx.get(f"{sandbox.demo.url}/healthz").status_code == 503
    assert httpx.get(f"{sandbox.demo.url}/smoke/auth").status_code == 500
    assert page.get("/sandbox/demo").json()["settings"]["broken"] == ["auth"]
    bad = page.post("/sandbox/demo", json={"error_rate": 3})
    assert bad.status_code == 400 and "error_rate" in bad.json()["error"]


def test_poll_returns_when_something_changes(page: httpx.Client, sandbox: Sandbox) -> None:
    seq = _state(page, RITA)["seq"]
    started = time.monotonic()
    assert page.get("/sandbox/poll", params={"since": seq, "timeout": 0.2}).json() == {"seq": seq}
    assert time.monotonic() - started >= 0.15
    page.post("/sandbox/message", json={"user": RITA, "text": "hello"})
    assert page.get("/sandbox/poll", params={"since": seq, "timeout": 5}).json()["seq"] > seq


def test_export_file_is_served_as_text(page: httpx.Client) -> None:
    parent = _start(page)
    actions = next(b for b in parent["blocks"] if b["type"] == "actions")
    click = {"user": RITA, "ts": parent["ts"], "action_id": "export", "block_id": actions["block_id"], "value": "1"}
    page.post("/sandbox/click", json=click)
    with_file = _until(page, RITA, lambda s: [m for m in s["messages"] if m.get("files")])
    file = with_file[0]["files"][0]
    resp = page.get(f"/sandbox/file/{file['id']}")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/plain")
    assert resp.headers["x-content-type-options"] == "nosniff"
    assert "demo-api" in resp.text
    assert page.get("/sandbox/file/FNOPE").status_code == 404


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_deploybot_sandbox_command_starts_and_stops_on_sigint(tmp_path: Path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "DATABASE_URL", "SANDBOX_"))}
    env["SANDBOX_PORT"] = str(port)
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "sandbox"],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = ""
        deadline = time.monotonic() + 30
        while "Open " not in line and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line and proc.poll() is not None:
                break
        match = re.search(r"Open (http://127\.0\.0\.1:(\d+)/) in your browser", line)
        assert match, (line, proc.stderr.read() if proc.poll() is not None and proc.stderr else "")
        assert int(match.group(2)) == port
        assert httpx.get(match.group(1), timeout=5).status_code == 200
        assert (tmp_path / "deploybot.db").exists()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
        assert proc.returncode == 0, err
        assert "Sandbox stopped." in out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
