"""A person's whole journey through the reference frontend, in a real Chromium."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, Response, expect

from tests.e2e.conftest import JWT_LIFETIME_SECONDS, Demo, Visitor, refused

pytestmark = pytest.mark.e2e

PASSWORD = "correct horse battery staple"


def sign_up(visitor: Visitor) -> None:
    page = visitor.page
    page.get_by_label("Name").fill("Ada")
    page.get_by_label("Email").fill(visitor.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_text(f"Signed in as {visitor.email}")).to_be_visible()


def sign_in(visitor: Visitor) -> None:
    page = visitor.page
    page.get_by_label("Email").fill(visitor.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Password").press("Enter")  # the keyboard, as a person would
    expect(page.get_by_text(f"Signed in as {visitor.email}")).to_be_visible()


def add_task(page: Page, title: str, description: str = "") -> None:
    page.get_by_label("Title", exact=True).fill(title)
    page.get_by_label("Description (optional)").fill(description)
    page.get_by_role("button", name="Add task").click()
    expect(page.get_by_role("status")).to_have_text("Task added.")
    expect(task_titles(page)).to_contain_text([title])


def task_titles(page: Page) -> Locator:
    return page.locator("#task-list .title")


def checkbox(page: Page, title: str) -> Locator:
    return page.get_by_role("checkbox", name=title, exact=True)


def user_id(page: Page, gateway_url: str) -> str:
    session: dict[str, Any] = page.evaluate(
        """async (gateway) => {
            const answer = await fetch(`${gateway}/api/auth/get-session`, {credentials: "include"});
            return answer.json();
        }""",
        gateway_url,
    )
    return str(session["user"]["id"])


def test_sign_up_sign_in_create_edit_filter_and_reload(
    new_visitor: Callable[[], Visitor], artifacts: Path
) -> None:
    visitor = new_visitor()
    page = visitor.page
    sign_up(visitor)
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    sign_in(visitor)

    add_task(page, "Buy milk", "Two litres")
    add_task(page, "Write the report")
    add_task(page, "Call the plumber")
    page.get_by_role("button", name="Edit “Write the report”").click()
    page.get_by_label("Title", exact=True).nth(1).fill("Write the quarterly report")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_have_text("Task saved.")
    checkbox(page, "Buy milk").check()
    expect(page.get_by_role("status")).to_have_text("Task updated.")
    page.screenshot(path=artifacts / "task-list.png", full_page=True)

    page.get_by_label("Show").select_option("completed")
    expect(task_titles(page)).to_have_text(["Buy milk"])
    page.get_by_label("Show").select_option("pending")
    expect(task_titles(page)).to_have_text(["Write the quarterly report", "Call the plumber"])

    page.reload()
    expect(task_titles(page)).to_have_text(
        ["Buy milk", "Write the quarterly report", "Call the plumber"]
    )
    expect(checkbox(page, "Buy milk")).to_be_checked()
    checkbox(page, "Buy milk").uncheck()
    expect(checkbox(page, "Buy milk")).not_to_be_checked()
    page.get_by_role("button", name="Delete “Call the plumber”").click()
    expect(task_titles(page)).to_have_text(["Buy milk", "Write the quarterly report"])
    assert visitor.console.messages == []


def test_a_second_user_sees_none_and_a_forged_request_is_refused(
    new_visitor: Callable[[], Visitor], demo: Demo
) -> None:
    first, second = new_visitor(), new_visitor()
    sign_up(first)
    add_task(first.page, "Private plans")
    first_id = user_id(first.page, demo.gateway_url)

    sign_up(second)
    expect(second.page.get_by_text("No tasks here.")).to_be_visible()
    # From the second user's page: their own valid JWT, the first user's path.
    forged: dict[str, Any] = second.page.evaluate(
        """async ([gateway, victim]) => {
            const minted = await fetch(`${gateway}/api/auth/token`, {credentials: "include"});
            const {token} = await minted.json();
            const answer = await fetch(`${gateway}/api/${victim}/tasks`, {
                headers: {Authorization: `Bearer ${token}`},
            });
            return {
                status: answer.status,
                body: await answer.json(),
                requestId: answer.headers.get("X-Request-ID"),
            };
        }""",
        [demo.gateway_url, first_id],
    )
    assert forged["status"] == 403
    assert forged["body"]["error"] == "forbidden"
    # An exposed header, readable across origins only because the gateway says so.
    assert forged["requestId"] == forged["body"]["request_id"]
    expect(first.page.get_by_text("Private plans")).to_be_visible()
    assert first.console.messages == []
    assert second.console.messages == [refused(403)], "only Chromium's line for the 403"


def test_an_expired_jwt_is_fetched_again_and_the_action_succeeds(
    new_visitor: Callable[[], Visitor],
) -> None:
    visitor = new_visitor()
    page = visitor.page
    sign_up(visitor)
    add_task(page, "Survive an expired token")
    answers: list[tuple[str, int]] = []

    def record(response: Response) -> None:
        answers.append((response.request.method, response.status))

    time.sleep(JWT_LIFETIME_SECONDS + 1)  # the JWT the page holds is now expired
    page.on("response", record)
    checkbox(page, "Survive an expired token").check()
    expect(page.get_by_role("status")).to_have_text("Task updated.")
    expect(checkbox(page, "Survive an expired token")).to_be_checked()
    assert answers[:3] == [("PATCH", 401), ("GET", 200), ("PATCH", 200)]
    assert visitor.console.messages == []
    assert visitor.console.expired_token_refusals >= 1


def test_a_refusal_is_shown_in_words(new_visitor: Callable[[], Visitor]) -> None:
    visitor = new_visitor()
    page = visitor.page
    sign_up(visitor)
    page.get_by_label("Title", exact=True).fill("   ")
    page.get_by_role("button", name="Add task").click()
    expect(page.get_by_role("alert")).to_have_text(re.compile(r"^Please check the task: .*title"))
    assert visitor.console.messages == [refused(422)], "only Chromium's line for the 422"


def preflighted(gateway_log: Path) -> set[str]:
    """The last path segment of every preflight the gateway answered with 204."""
    lines = gateway_log.read_text(errors="replace").splitlines()
    entries = [json.loads(line) for line in lines if line.startswith("{")]
    options = (entry for entry in entries if entry.get("method") == "OPTIONS")
    return {entry["path"].rsplit("/", 1)[-1] for entry in options if entry["status"] == 204}


def test_the_preflights_were_answered_by_the_gateway(
    new_visitor: Callable[[], Visitor], demo: Demo
) -> None:
    # Cross-origin calls with a token or a JSON body need CORS preflights, which Playwright
    # does not show; the gateway's access lines do (written in batches: wait for them).
    visitor = new_visitor()
    sign_up(visitor)
    add_task(visitor.page, "Preflighted")
    checkbox(visitor.page, "Preflighted").check()
    expect(visitor.page.get_by_role("status")).to_have_text("Task updated.")
    deadline = time.monotonic() + 10
    expected = {"email", "tasks", "complete"}
    while not expected <= (paths := preflighted(demo.gateway_log)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert expected <= paths


def test_a_task_deleted_elsewhere_is_explained_and_the_list_refreshed(
    new_visitor: Callable[[], Visitor], demo: Demo
) -> None:
    visitor = new_visitor()
    sign_up(visitor)
    add_task(visitor.page, "Gone elsewhere")
    other_tab = visitor.page.context.new_page()  # the same session in a second tab
    other_tab.goto(demo.frontend_url)
    other_tab.get_by_role("button", name="Delete “Gone elsewhere”").click()
    expect(task_titles(other_tab)).to_have_count(0)

    checkbox(visitor.page, "Gone elsewhere").check()
    expect(visitor.page.get_by_role("alert")).to_have_text(
        re.compile(r"^That task does not exist any more\. The list has been refreshed\.")
    )
    expect(task_titles(visitor.page)).to_have_count(0)
    assert visitor.console.messages == [refused(404)], "only Chromium's line for the 404"
