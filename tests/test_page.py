"""The chat page at GET / (issue 22), in a real headless Chromium: typed into and
clicked as a person would, against the real service and the fake LLM.

Covered: send and watch the stream, stop, reload mid-reply and see it resume (no text
lost or doubled), regenerate, edit, the version arrows, search with highlights, pin
and archive, a new chat with a profile, the API key field, replies holding HTML shown
as text (the XSS probe), tool calls and results, the dark theme and a phone-sized
screen. A failing test leaves a screenshot in test-screenshots/.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.browser import browser, needs_chromium
from tests.conftest import FakeLLM
from tests.helpers import chat, new_session

pytestmark = [pytest.mark.slow, needs_chromium]
__all__ = ["browser"]  # the fixture, used by name
TIMEOUT_MS = 10_000


@pytest.fixture
def page(browser: Any, app: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=app.url)
    context.set_default_timeout(TIMEOUT_MS)
    opened = context.new_page()
    yield opened
    context.close()


def send(page: Any, text: str) -> None:
    page.get_by_label("Message", exact=True).fill(text)
    page.keyboard.press("Enter")


def replies(page: Any) -> Any:
    return page.locator("#messages li.message.assistant .body")


def session_of(page: Any) -> str:
    match = re.search(r"#/s/([0-9a-f-]{36})", page.url)
    assert match, page.url
    return match.group(1)


def test_a_message_is_sent_and_its_reply_streams_in(page: Any, fake_llm: FakeLLM) -> None:
    from playwright.sync_api import expect

    page.goto("/")
    fake_llm.script({"reply": "one two three four five six", "chunk_delay": 0.25})
    send(page, "Count for me")
    expect(page.locator("#messages li.message.user .body")).to_have_text("Count for me")
    expect(replies(page).last).to_contain_text("one two")  # part of it, while it streams
    assert "six" not in replies(page).last.inner_text()
    expect(page.locator("#stop")).to_be_visible()
    expect(replies(page).last).to_have_text("one two three four five six")
    expect(page.locator("#stop")).to_be_hidden()
    session_id = session_of(page)
    expect(page.locator(f'#sessions li[data-id="{session_id}"]')).to_be_visible()


def test_stop_ends_the_reply_where_it_was(page: Any, fake_llm: FakeLLM, app: Any) -> None:
    from playwright.sync_api import expect

    page.goto("/")
    words = " ".join(f"w{i}" for i in range(40))
    fake_llm.script({"reply": words, "chunk_delay": 0.2})
    send(page, "talk")
    expect(replies(page).last).to_contain_text("w1")
    page.get_by_role("button", name="Stop").click()
    expect(page.locator("#messages li.assistant .status")).to_have_text("cancelled")
    shown = replies(page).last.inner_text()
    assert "w39" not in shown
    with httpx.Client(base_url=app.url) as http:
        stored = http.get(f"/api/sessions/{session_of(page)}/messages").json()["items"][-1]
    assert stored["status"] == "cancelled"
    assert stored["content"].strip() == shown.strip()


def test_a_reload_in_the_middle_of_a_reply_resumes_it(page: Any, fake_llm: FakeLLM) -> None:
    from playwright.sync_api import expect

    page.goto("/")
    words = " ".join(f"part{i}" for i in range(12))
    fake_llm.script({"reply": words, "chunk_delay": 0.25})
    send(page, "long answer please")
    expect(replies(page).last).to_contain_text("part2")
    page.reload()
    expect(replies(page).last).to_have_text(words)
    text = replies(page).last.inner_text()
    assert text.count("part0") == 1  # nothing doubled
    assert text.count("part11") == 1  # nothing lost
    expect(page.locator("#messages li.message")).to_have_count(2)


def test_regenerate_then_the_arrows_switch_versions(page: Any, fake_llm: FakeLLM) -> None:
    from playwright.sync_api import expect

    page.goto("/")
    send(page, "pick a colour")
    expect(replies(page).last).to_have_text("Echo: pick a colour")
    fake_llm.script({"reply": "blue"})
    page.get_by_role("button", name="Regenerate").click()
    expect(replies(page).last).to_have_text("blue")
    reply = page.locator("#messages li.assistant")
    expect(reply.locator(".place")).to_have_text("2/2")
    reply.get_by_role("button", name="Previous version").click()
    expect(replies(page).last).to_have_text("Echo: pick a colour")
    expect(reply.locator(".place")).to_have_text("1/2")
    reply.get_by_role("button", name="Next version").click()
    expect(replies(page).last).to_have_text("blue")


def test_edit_a_sent_message(page: Any) -> None:
    from playwright.sync_api import expect

    page.goto("/")
    send(page, "first wording")
    expect(replies(page).last).to_have_text("Echo: first wording")
    page.get_by_role("button", name="Edit").click()
    page.get_by_label("Edit message").fill("second wording")
    page.get_by_role("button", name="Save and send").click()
    expect(replies(page).last).to_have_text("Echo: second wording")
    user = page.locator("#messages li.user")
    expect(user.locator(".body")).to_have_text("second wording")
    expect(user.locator(".place")).to_have_text("2/2")
    user.get_by_role("button", name="Previous version").click()
    expect(user.locator(".body")).to_have_text("first wording")
    expect(replies(page).last).to_have_text("Echo: first wording")


def test_search_lists_matching_sessions_with_the_words_marked(page: Any, app: Any) -> None:
    from playwright.sync_api import expect

    with httpx.Client(base_url=app.url) as http:
        session = new_session(http, title="Ferry timetable")
        chat(http, session_id=session, message="When does the zqxferry leave Busan?")
    page.goto("/")
    page.get_by_label("Search conversations").fill("zqxferry")
    hit = page.locator(f'#sessions li[data-id="{session}"] mark').first
    expect(hit).to_have_text("zqxferry")
    page.locator(f'#sessions li[data-id="{session}"] a').first.click()
    expect(page.locator("#title")).to_have_text("Ferry timetable")
    expect(replies(page).last).to_contain_text("zqxferry")


def test_pin_and_archive(page: Any, app: Any) -> None:
    from playwright.sync_api import expect

    with httpx.Client(base_url=app.url) as http:
        session = new_session(http, title="Keep me handy")
    page.goto(f"/#/s/{session}")
    item = page.locator(f'#sessions li[data-id="{session}"]')
    page.get_by_role("button", name="Pin", exact=True).click()
    expect(item).to_have_class(re.compile("pinned"))
    expect(page.locator("#sessions li").first).to_have_attribute("data-id", session)
    page.get_by_role("button", name="Archive", exact=True).click()
    expect(item).to_have_count(0)
    page.get_by_role("button", name="Archived", exact=True).click()
    expect(item).to_be_visible()


def test_a_new_chat_with_a_profile(page: Any, app: Any) -> None:
    from playwright.sync_api import expect

    with httpx.Client(base_url=app.url) as http:
        made = http.post("/api/profiles", json={"name": "Pirate", "system_prompt": "Arr."})
        profile_id = made.json()["profile_id"]
    page.goto("/")
    page.get_by_label("Chat profile").select_option(label="Pirate")
    send(page, "ahoy")
    expect(replies(page).last).to_have_text("Echo: ahoy")
    with httpx.Client(base_url=app.url) as http:
        session = http.get(f"/api/sessions/{session_of(page)}").json()
    assert session["profile_id"] == profile_id


def test_html_in_replies_and_messages_is_shown_as_text(page: Any, fake_llm: FakeLLM) -> None:
    from playwright.sync_api import expect

    page.goto("/")
    probe = '<script>window.__xss = 1</script> <img src=x onerror="window.__xss = 2"> **bold**'
    fake_llm.script({"reply": probe})
    send(page, '<img src=y onerror="window.__xss = 3">')
    expect(replies(page).last).to_contain_text("<script>window.__xss = 1</script>")
    expect(replies(page).last).to_contain_text('<img src=x onerror="window.__xss = 2">')
    expect(replies(page).last.locator("strong")).to_have_text("bold")  # Markdown still works
    expect(page.locator("#messages li.user .body")).to_have_text(
        '<img src=y onerror="window.__xss = 3">'
    )
    assert page.evaluate("window.__xss") is None
    assert page.locator("#messages img, #messages script").count() == 0


def test_tool_calls_and_results_are_shown_as_text(page: Any, app: Any, fake_llm: FakeLLM) -> None:
    """A conversation with tools, made by an API client: the page shows each call's
    name and arguments and each result, as text (an argument holding HTML runs nothing)."""
    from playwright.sync_api import expect

    hostile = '{"city": "<img src=x onerror=\\"window.__xss = 4\\">"}'
    calls = [{"id": "call_a", "name": "get_weather", "arguments": hostile}]
    fake_llm.script({"reply": "", "tool_calls": calls}, {"reply": "It is 18 C."})
    weather = {"type": "function", "function": {"name": "get_weather", "parameters": {}}}
    with httpx.Client(base_url=app.url) as http:
        session = new_session(http, title="Weather")
        chat(http, session_id=session, message="Weather?", tools=[weather])
        results = [{"tool_call_id": "call_a", "content": "18 C <b>warm</b>"}]
        chat(http, session_id=session, tool_results=results, tools=[weather])
    page.goto(f"/#/s/{session}")
    call = page.locator("#messages li.assistant details.tool.call")
    expect(call.locator("summary")).to_have_text("Tool call: get_weather")
    result = page.locator("#messages li.tool details.tool.result")
    expect(result.locator("summary")).to_have_text("Tool result: call_a")
    call.locator("summary").click()
    expect(call.locator("pre")).to_have_text(hostile)
    result.locator("summary").click()
    expect(result.locator("pre")).to_have_text("18 C <b>warm</b>")
    expect(replies(page).last).to_have_text("It is 18 C.")
    assert page.evaluate("window.__xss") is None
    assert page.locator("#messages img, #messages b").count() == 0


def test_the_page_asks_for_a_key_with_api_key_auth(browser: Any, make_app: Any) -> None:
    from playwright.sync_api import expect

    secured = make_app(auth_mode="api_key")
    key = secured.create_key("reader")
    context = browser.new_context(base_url=secured.url)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    try:
        page.goto("/")
        expect(page.get_by_label("API key")).to_be_visible()
        page.get_by_label("API key").fill(key)
        page.get_by_role("button", name="Use key").click()
        send(page, "with a key")
        expect(replies(page).last).to_have_text("Echo: with a key")
        assert page.evaluate("sessionStorage.getItem('chat.apiKey')") == key
        page.reload()
        expect(page.get_by_label("API key")).to_be_hidden()
        expect(replies(page).last).to_have_text("Echo: with a key")
    finally:
        context.close()


def test_dark_theme_and_a_phone_sized_screen(browser: Any, app: Any) -> None:
    from playwright.sync_api import expect

    context = browser.new_context(
        base_url=app.url, color_scheme="dark", viewport={"width": 390, "height": 844}
    )
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    try:
        page.goto("/")
        background = page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert background == "rgb(22, 23, 26)"
        expect(page.locator("#sidebar")).to_be_hidden()
        page.get_by_role("button", name="Conversations").click()
        expect(page.locator("#sidebar")).to_be_visible()
        page.get_by_role("button", name="New chat").click()
        send(page, "small screen")
        expect(replies(page).last).to_have_text("Echo: small screen")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390  # nothing wider than the screen
    finally:
        context.close()


def test_the_page_and_its_assets_come_from_the_service(app: Any) -> None:
    with httpx.Client(base_url=app.url) as http:
        page = http.get("/")
        assert page.status_code == 200
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assets = re.findall(r'(?:src|href)="(/ui/[^"]+)"', page.text)
        assert len(assets) == 4
        for asset in assets:
            assert http.get(asset).status_code == 200, asset
        assert not re.search(r"(?:https?:)?//", page.text)  # no other origin
