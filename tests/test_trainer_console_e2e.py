"""The trainers' console in a real browser (Debian's Chromium), on a running copy of the project.

Retraining rewrites data/nlu/*.yml and models/, so everything runs in a copy
(tests/trainer/project_copy.py). The main path as people would walk it: a buyer
chats in the widget and asks for a person, an agent marks the bot's answer as a
misunderstanding in the agents' console, a trainer signs in, sees the message in the
inbox, labels it, the data file in the copy changes, a retrain runs from the console,
and the evaluation (metrics, confusion matrix, report) and the outcome are shown.
Screenshots for the README are taken from these pages.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from tests.browser import SCREENSHOTS, chromium_or_skip, open_first_ticket_in_console, playwright_api
from tests.trainer.project_copy import CopyStack, add_agent, add_trainer, start_copy, stop_copy

PASSWORD = "trainer pass 42"
# "Folks, does this one come in a really soft kind?" — a product question the current model falls back on.
MESSAGE = "宝子们这款有没有那种特别软的"
INTENT = "ask_product_info"
TRAINING_MINUTES = 8  # 1.5–3 min on the 2-core machine, with room for a busy one


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CopyStack]:
    chromium_or_skip()
    stack = start_copy(tmp_path_factory.mktemp("trainer-console"))
    add_trainer(stack, "xiaolin", PASSWORD)
    add_agent(stack, "xiaomei", PASSWORD)
    yield stack
    stop_copy(stack)


def test_trainer_labels_a_misunderstood_message_retrains_and_reads_the_evaluation(shop: CopyStack, browser) -> None:  # noqa: ANN001
    expect = playwright_api.expect
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    # A buyer asks about a product in words the bot does not know, then asks for a person.
    buyer = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
    buyer.goto(f"{shop.gateway_url}/")
    buyer.select_option("#buyer-picker", "b0002")
    buyer.click("#chat-launcher")
    bot_lines = buyer.locator('#chat-messages .msg[data-sender="bot"][data-line-id]')
    for text in (MESSAGE, "转人工"):
        count = bot_lines.count()
        buyer.fill("#chat-input", text)
        buyer.click("#chat-send")
        expect(bot_lines.nth(count)).to_be_visible(timeout=30000)  # the bot answered (one line or more)

    # The agent marks the bot's answer to it as a misunderstanding, in the console.
    agent = open_first_ticket_in_console(browser, shop.gateway_url, "xiaomei", PASSWORD)
    answer = agent.locator("#transcript li.sender-buyer", has_text=MESSAGE).locator(
        "xpath=following-sibling::li[contains(@class, 'sender-bot')][1]"
    )
    mark = answer.locator(".mark-misunderstood")
    expect(mark).to_have_text("标记为误解", timeout=10000)
    mark.click()
    expect(mark).to_have_text("已标记")
    expect(mark).to_be_disabled()

    # The trainer signs in (a wrong password first) and finds the message in the inbox.
    page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    page.goto(f"{shop.gateway_url}/trainer")
    page.fill("#login-username", "xiaolin")
    page.fill("#login-password", "not the password")
    page.click("#login-submit")
    expect(page.locator("#login-error")).to_have_text("用户名或密码不正确")
    page.fill("#login-password", PASSWORD)
    page.click("#login-submit")
    expect(page.locator("#workspace")).to_be_visible()
    item = page.locator("#inbox .inbox-item", has=page.locator(".item-text", has_text=MESSAGE))
    expect(item).to_have_count(1, timeout=10000)
    expect(item.locator(".reason")).to_contain_text(["客服标记"])
    expect(item.locator(".guess").first).to_contain_text("%")
    item.locator("summary").click()  # the conversation around it
    expect(item.locator(".context-lines")).to_contain_text(MESSAGE)
    page.screenshot(path=str(SCREENSHOTS / "trainer-inbox.png"))

    # Label it with the select; the item leaves and the notice names the file written.
    item.locator("select.intent-select").select_option(INTENT)
    item.locator("button.choose-label").click()
    expect(item).to_have_count(0, timeout=15000)
    notice = page.locator("#notice")
    expect(notice).to_contain_text("已加入训练集")
    written = notice.text_content().split("写入 ")[1].split("：")[0]
    assert written.startswith("data/nlu/") and written.endswith(".yml"), written
    assert MESSAGE in (shop.root / written).read_text(encoding="utf-8")

    # The examples tab finds it, and refuses the same text under another intent, inline.
    page.click("#tab-examples")
    page.locator("#intent-list .intent-item", has_text=INTENT).click()
    page.fill("#example-search", "特别软")
    expect(page.locator("#examples .example", has_text=MESSAGE)).to_have_count(1, timeout=10000)
    page.fill("#example-text", MESSAGE)
    page.select_option("#example-intent", "ask_payment")
    page.click("#example-add-submit")
    expect(page.locator("#example-add-error")).to_contain_text(INTENT)

    # Retrain from the console and wait for the outcome.
    page.click("#tab-retrain")
    page.click("#retrain-start")
    expect(page.locator("#retrain-start")).to_be_disabled()
    expect(page.locator("#job-phase")).not_to_be_empty()
    banner = page.locator("#result-banner")
    expect(banner).to_be_visible(timeout=TRAINING_MINUTES * 60_000)
    outcome = banner.get_attribute("data-outcome")
    assert outcome in ("activated", "refused"), f"{outcome}: {banner.text_content()}"
    expect(page.locator("#result-outcome")).to_have_text("已上线" if outcome == "activated" else "未通过把关")
    expect(page.locator("#retrain-start")).to_be_enabled()
    expect(page.locator("#job-percent")).to_have_text("100%")

    # The evaluation: candidate vs serving, per intent, confusion matrix, mistakes, full report.
    expect(page.locator("#summary-table tbody tr")).to_have_count(2)
    expect(page.locator(f'#intent-table tr[data-intent="{INTENT}"]')).to_have_count(1)
    image = page.locator("#confusion-img")
    expect(image).to_be_visible()
    page.wait_for_function("document.getElementById('confusion-img').naturalWidth > 0", timeout=10000)
    report = page.locator("#report-link")
    expect(report).to_be_visible()
    href = report.get_attribute("href")
    assert href and href.startswith("/api/trainer/reports/"), href
    response = page.request.get(f"{shop.gateway_url}{href}")
    assert response.status == 200 and "<html" in response.text().lower()
    assert requests.get(f"{shop.gateway_url}{href}", timeout=10).status_code == 401, "reports are for trainers only"
    page.screenshot(path=str(SCREENSHOTS / "trainer-report.png"))
    page.uncheck("#only-changed")  # every intent, not only those that moved
    expect(page.locator(f'#intent-table tr[data-intent="{INTENT}"]')).to_be_visible()

    # The model versions show which one serves.
    page.click("#tab-models")
    expect(page.locator("#models tr.active .badge-active")).to_have_text("当前")
