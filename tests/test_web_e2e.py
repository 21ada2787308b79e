"""The buyer's widget and the agents' console in a real browser (Debian's Chromium).

One buyer and one agent, each in their own browser context, against the real
gateway, Rasa and action server: the whole handoff cycle, as people would use it.
Screenshots for the README are taken from these pages.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot import db
from bot.policy import policy
from bot.web.accounts import AGENT, create_account
from tests.browser import SCREENSHOTS, chromium_or_skip, open_first_ticket_in_console, playwright_api
from tests.conftest import fresh_shop
from tests.live import Stack, start_stack, stop_stack

AGENT_PASSWORD = "correct horse 42"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    chromium_or_skip()
    var_dir = tmp_path_factory.mktemp("web")
    url = f"sqlite:///{var_dir / 'shop.db'}"
    fresh_shop(url)
    with db.session_scope(url) as s:
        create_account(s, AGENT, "xiaomei", "小美", AGENT_PASSWORD, policy().now())
    stack = start_stack(var_dir, {"DATABASE_URL": url}, with_gateway=True)
    yield stack
    stop_stack(stack)
    db.dispose_all()


def test_buyer_and_agent_go_through_the_whole_handoff_cycle(site: Stack, browser) -> None:  # noqa: ANN001
    expect = playwright_api.expect
    buyer = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
    blocked = csp_violations(buyer)
    buyer.goto(f"{site.gateway_url}/")
    buyer.select_option("#buyer-picker", "b0001")
    buyer.click("#chat-launcher")
    expect(buyer.locator("#chat-panel")).to_be_visible()

    def say(text: str) -> None:
        count = buyer.locator('#chat-messages .msg[data-sender="bot"][data-line-id]').count()
        buyer.fill("#chat-input", text)
        buyer.click("#chat-send")
        expect(buyer.locator('#chat-messages .msg[data-sender="bot"][data-line-id]')).to_have_count(
            count + 1, timeout=20000
        )

    say("亲 你们家是正品吗")
    expect(buyer.locator('#chat-messages .msg[data-sender="bot"][data-line-id]').last).to_contain_text("假一赔三")

    # A refund completed through the bot's buttons.
    say("我要退款")
    buyer.locator(".chat-button", has_text="纯棉四件套").last.click()
    expect(buyer.locator(".chat-button", has_text="退货退款").last).to_be_visible(timeout=20000)
    buyer.locator(".chat-button", has_text="退货退款").last.click()
    expect(buyer.locator(".chat-button", has_text="尺码不合适").last).to_be_visible(timeout=20000)
    buyer.locator(".chat-button", has_text="尺码不合适").last.click()
    expect(
        buyer.locator('#chat-messages .msg[data-sender="bot"][data-line-id]', has_text="退货退款申请")
    ).to_have_count(1, timeout=20000)

    # A script is only ever text.
    buyer.fill("#chat-input", "<script>alert(1)</script>")
    buyer.click("#chat-send")
    expect(buyer.locator('#chat-messages .msg[data-sender="buyer"]', has_text="<script>alert(1)</script>")).to_have_count(1)  # fmt: skip
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    buyer.screenshot(path=str(SCREENSHOTS / "widget-phone.png"))

    # Ask for a person; the agent sees the ticket in the console.
    say("转人工")
    agent = open_first_ticket_in_console(browser, site.gateway_url, "xiaomei", AGENT_PASSWORD)
    blocked_in_console = csp_violations(agent)
    expect(agent.locator("#conversation")).to_contain_text("<script>alert(1)</script>", timeout=10000)
    agent.click("#claim")
    expect(buyer.locator('#chat-messages .msg[data-sender="system"]').last).to_contain_text("人工客服", timeout=10000)

    agent.fill("#reply-input", "亲，我是人工客服小美，这就帮您看")
    agent.click("#reply-send")
    expect(buyer.locator('#chat-messages .msg[data-sender="agent"]')).to_contain_text("人工客服小美", timeout=10000)

    # History survives a reload in the middle of the conversation.
    buyer.reload()
    buyer.select_option("#buyer-picker", "b0001")
    buyer.click("#chat-launcher")
    expect(buyer.locator('#chat-messages .msg[data-sender="agent"]')).to_contain_text("人工客服小美", timeout=10000)
    agent.screenshot(path=str(SCREENSHOTS / "console.png"))

    # The agent hands back; the bot answers again.
    agent.click("#resolve")
    expect(buyer.locator('#chat-messages .msg[data-sender="bot"][data-line-id]').last).to_contain_text(
        "继续为您服务", timeout=20000
    )
    say("再问一下 是正品吗")
    expect(buyer.locator('#chat-messages .msg[data-sender="bot"][data-line-id]').last).to_contain_text("假一赔三")
    desktop = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    desktop.goto(f"{site.gateway_url}/")
    desktop.click("#chat-launcher")
    expect(desktop.locator("#chat-panel")).to_be_visible()
    desktop.wait_for_timeout(800)  # let the panel's opening animation finish
    desktop.screenshot(path=str(SCREENSHOTS / "shop-desktop.png"))
    assert not blocked + blocked_in_console, (
        f"the Content-Security-Policy blocked part of a page: {blocked + blocked_in_console}"
    )


def csp_violations(page) -> list[str]:  # noqa: ANN001
    """Chromium reports whatever the gateway's Content-Security-Policy blocks on the page's console."""
    seen: list[str] = []
    page.on("console", lambda m: seen.append(m.text) if "Content Security Policy" in m.text else None)
    return seen
