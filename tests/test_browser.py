"""The sandbox page in real headless Chromium (Debian's package), driven by Playwright: what a visitor does."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from bot.sandbox.runner import Sandbox

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Screenshots go to a temporary folder; DEPLOYBOT_SCREENSHOTS=docs/screenshots refreshes the README's pictures.
SHOTS = Path(os.environ.get("DEPLOYBOT_SCREENSHOTS") or tempfile.mkdtemp(prefix="deploybot-shots-"))
SIGNERS = [
    ("security-team", "U0SAM"),
    ("devops-team", "U0OLGA"),
    ("lead-developer", "U0LEE"),
    ("product-manager", "U0PAT"),
    ("business-owner", "U0BEA"),
    ("deployment-manager", "U0DAN"),
]

# Ticks every unticked item through the page's own endpoint (the driver, signed HTTP to the bot), retrying
# clicks on messages the bot re-rendered meanwhile. Items in `skip` (action ids) are left alone.
TICK_ALL = """async (skip) => {
  const done = new Set(skip);
  for (let pass = 0; pass < 6; pass++) {
    const state = await (await fetch(`/sandbox/state?user=${sandbox.app.user}`)).json();
    const todo = [];
    for (const m of state.messages) {
      if (!m.thread_ts || m.thread_ts === m.ts) continue;
      for (const b of m.blocks || []) {
        for (const e of b.elements || []) {
          if (e.type === "checkboxes" && !(e.initial_options || []).length && !done.has(e.action_id)) {
            todo.push({ts: m.ts, block_id: b.block_id, action_id: e.action_id});
          }
        }
      }
    }
    if (!todo.length) return pass;
    for (const t of todo) {
      const resp = await fetch("/sandbox/click", {method: "POST", headers: {"Content-Type": "application/json"},
        body: JSON.stringify({user: sandbox.app.user, channel: "C0DEPLOY", ...t, selected_options: ["done"]})});
      if (resp.ok) done.add(t.action_id);
    }
  }
  return -1;
}"""


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    with Sandbox(f"sqlite:///{tmp_path / 'sandbox.db'}", port=0) as sb:
        yield sb


@pytest.fixture
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


def _open(browser: Browser, sandbox: Sandbox, user: str, width: int = 1280, height: int = 800) -> Page:
    page = browser.new_context(viewport={"width": width, "height": height}).new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{sandbox.url}?user={user}")
    expect(page.locator("#conn.live")).to_be_visible()
    page.errors = errors  # type: ignore[attr-defined]
    return page


def _start_run(page: Page) -> None:
    page.fill("#composer-input", "/deploy start demo-api 1.0.0")
    page.press("#composer-input", "Enter")
    expect(page.locator("#messages .replies-link")).to_have_text("9 replies", timeout=10_000)


def _switch(page: Page, user: str) -> None:
    page.select_option("#user-switcher", user)
    expect(page.locator("#user-role")).to_contain_text(user.removeprefix("U0").lower())


def _unticked(page: Page) -> str:
    """Selector of the thread's unticked item checkboxes."""
    return "#thread-messages .checks.checkboxes input[type=checkbox]:not(:checked)"


def test_checklist_to_ready_and_export_in_the_browser(browser: Browser, sandbox: Sandbox) -> None:
    page = _open(browser, sandbox, "U0RITA")
    _start_run(page)
    expect(page.locator("#messages .message.ephemeral")).to_contain_text("Only visible to you")
    expect(page.locator("#messages .block-header").first).to_have_text("Deploy demo-api 1.0.0 → production")
    page.evaluate("() => { document.getElementById('messages').scrollTop = 0; }")
    page.screenshot(path=str(SHOTS / "sandbox-channel.png"))

    # the thread, and three real mouse clicks on checkboxes
    page.click("#messages .replies-link")
    expect(page.locator("#thread")).to_be_visible()
    ticked_by_rita = page.locator("#thread-messages .ctx-item", has_text="ticked by @rita")
    for n in range(1, 4):
        action = page.locator("#thread-messages .checks:has(input:not(:checked))").first.get_attribute("data-action-id")
        box = page.locator(f"#thread-messages .checks[data-action-id='{action}'] input")
        box.click()
        expect(box).to_be_checked()
        expect(ticked_by_rita).to_have_count(n, timeout=10_000)  # the bot's update, not just the browser's tick

    # N/A through the overflow menu and a modal; a blank reason comes back as a validation error from the bot
    check_action = page.locator("#thread-messages .checks:has(input:not(:checked))").first.get_attribute(
        "data-action-id"
    )
    assert check_action is not None
    na_action = check_action.replace("check:", "more:")
    page.click(f"#thread-messages .overflow-btn[data-action-id='{na_action}']")
    page.locator("#thread-messages .menu:visible .menu-item", has_text="Mark N/A").click()
    modal = page.locator(".modal[data-callback-id=na_reason]")
    expect(modal).to_be_visible()
    modal.locator("textarea").fill("   ")
    modal.locator(".modal-submit").click()
    expect(modal.locator(".input-error")).to_have_text("Please give a reason.")
    modal.locator("textarea").fill("The demo has no mobile app")
    page.screenshot(path=str(SHOTS / "sandbox-modal.png"))
    modal.locator(".modal-submit").click()
    expect(modal).to_have_count(0)
    expect(page.locator("#thread-messages .ctx-item", has_text="The demo has no mobile app")).to_have_count(1)

    # the rest through the page's click endpoint: still signed HTTP from the emulator to the bot
    assert page.evaluate(TICK_ALL, [check_action]) >= 0
    expect(page.locator("#messages .block-section").first).to_contain_text("NOT READY")

    # Xavier holds no role: refused, and only he sees it
    _switch(page, "U0XAVIER")
    page.click("#messages [data-action-id=sign][data-value=security-team]")
    # the bot answers in the run's thread (thread_ts), so the refusal shows in the open thread pane
    refusal = page.locator("#thread-messages .message.ephemeral", has_text="not an approver")
    expect(refusal).to_contain_text("Only visible to you", timeout=15_000)

    for role, user in SIGNERS:
        _switch(page, user)
        page.click(f"#messages [data-action-id=sign][data-value={role}]")
        modal = page.locator(".modal[data-callback-id=sign_confirm]")
        expect(modal).to_be_visible()
        modal.locator("textarea").fill(f"ok from {role}")
        modal.locator(".modal-submit").click()
        expect(modal).to_have_count(0)
    expect(page.locator("#messages .block-section").first).to_contain_text("READY FOR DEPLOYMENT", timeout=10_000)
    expect(page.locator("#messages .block-section").first).not_to_contain_text("NOT READY")

    # export: a file card in the thread that opens the Markdown
    _switch(page, "U0RITA")
    page.click("#messages [data-action-id=export]")
    card = page.locator("#thread-messages .file-card")
    expect(card).to_be_visible(timeout=10_000)
    card.scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "sandbox-thread.png"))
    with page.context.expect_page() as opened:
        card.click()
    content = opened.value
    content.wait_for_load_state()
    assert "demo-api" in content.locator("body").inner_text()
    content.close()

    narrow = _open(browser, sandbox, "U0DAN", width=420, height=900)
    expect(narrow.locator("#messages .block-section").first).to_contain_text("READY FOR DEPLOYMENT")
    expect(narrow.locator("#sidebar")).not_to_be_in_viewport()
    narrow.screenshot(path=str(SHOTS / "sandbox-narrow.png"))
    assert page.errors == [] and narrow.errors == []  # type: ignore[attr-defined]


def test_two_users_click_at_once_and_see_each_other(browser: Browser, sandbox: Sandbox) -> None:
    rita = _open(browser, sandbox, "U0RITA")
    sam = _open(browser, sandbox, "U0SAM")
    _start_run(rita)
    expect(sam.locator("#messages .replies-link")).to_have_text("9 replies")
    for page in (rita, sam):
        page.click("#messages .replies-link")
        expect(page.locator(_unticked(page)).first).to_be_visible()
    groups = ".checks.checkboxes:has(input:not(:checked))"
    first = rita.locator(f"#thread-messages {groups}").nth(0).get_attribute("data-action-id")
    second = sam.locator(f"#thread-messages {groups}").nth(1).get_attribute("data-action-id")
    assert first and second and first != second
    # both clicks are dispatched before either round trip completes
    click = "(a) => document.querySelector(`#thread-messages .checks[data-action-id='${a}'] input`).click()"
    rita.evaluate(click, first)
    sam.evaluate(click, second)
    for page in (rita, sam):
        for action in (first, second):
            expect(page.locator(f"#thread-messages .checks[data-action-id='{action}'] input")).to_be_checked(
                timeout=10_000
            )
        ticked = page.locator("#thread-messages .ctx-item", has_text=re.compile("ticked by @(rita|sam)"))
        expect(ticked).to_have_count(2, timeout=10_000)
    assert rita.errors == [] and sam.errors == []  # type: ignore[attr-defined]
