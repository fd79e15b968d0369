"""The whole demo in a real browser: Better Auth, backend, gateway and the frontend on origins
of their own, driven by Debian's Chromium through Playwright (no browser is downloaded)."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, sync_playwright

from tests.integration.node_servers import start_better_auth, start_frontend
from tests.integration.processes import ROOT, Stack, free_port

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
# Short-lived JWTs and no clock leeway, so a test can let one expire by waiting for it.
JWT_LIFETIME_SECONDS = 4
# What a headless Chromium as root on a machine without internet needs (PITFALLS.md);
# Playwright gives every launch a fresh temporary profile (--user-data-dir) of its own.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


@dataclass(frozen=True)
class Demo:
    frontend_url: str
    gateway_url: str
    gateway_log: Path


@dataclass
class ConsoleErrors:
    """Every console error and uncaught exception of one page.

    Chromium logs each HTTP error answer as a console error, which a page cannot prevent.
    A tasks call refused with 401 is the page's JWT expiring (every few seconds here), which
    the page answers by fetching a new one: those are counted apart, not taken as errors.
    """

    messages: list[str] = field(default_factory=list)
    expired_token_refusals: int = 0

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        text = message.text.split(" (")[0]
        if text == refused(401) and "/tasks" in message.location.get("url", ""):
            self.expired_token_refusals += 1
        else:
            self.messages.append(text)

    def on_page_error(self, error: Exception) -> None:
        self.messages.append(f"uncaught: {error}")


def refused(status: int) -> str:
    """Chromium's console line for an HTTP error answer."""
    return f"Failed to load resource: the server responded with a status of {status}"


def strict_gateway_config(workdir: Path) -> Path:
    """gateway.yaml with no clock leeway, so an expired token is refused at once."""
    text = (ROOT / "gateway.yaml").read_text()
    assert "leeway_seconds: 30" in text, "gateway.yaml changed: update strict_gateway_config"
    path = workdir / "gateway.yaml"
    path.write_text(text.replace("leeway_seconds: 30", "leeway_seconds: 0"))
    return path


@pytest.fixture(scope="package")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    workdir = tmp_path_factory.mktemp("e2e")
    frontend_port = free_port()
    frontend_origin = f"http://localhost:{frontend_port}"
    with ExitStack() as resources:
        better_auth = start_better_auth(
            "EdDSA",
            resources,
            workdir / "better-auth.log",
            trusted_origins=frontend_origin,
            extra_env={"JWT_EXPIRES_IN": f"{JWT_LIFETIME_SECONDS}s"},
        )
        auth_env = {"BETTER_AUTH_URL": better_auth.url, "CORS_ALLOW_ORIGINS": frontend_origin}
        stack = Stack(workdir, database_url=f"sqlite:///{workdir / 'todo.db'}", auth_env=auth_env)
        stack.gateway.args = ["-m", "gateway", "--config", str(strict_gateway_config(workdir))]
        resources.callback(stack.stop)
        stack.start()
        # localhost on both sides: another origin (port), the same site, as app. and api.
        # of one domain would be, so Better Auth's SameSite=Lax session cookie is sent.
        gateway_url = f"http://localhost:{stack.gateway_port}"
        start_frontend(gateway_url, frontend_port, resources, workdir / "frontend.log")
        yield Demo(frontend_origin, gateway_url, stack.gateway.log)


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is required: apt-get install -y chromium (.ci/run does)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@dataclass(frozen=True)
class Visitor:
    """One person: a browser context of their own (cookies, storage) with one page."""

    page: Page
    console: ConsoleErrors
    email: str


@pytest.fixture
def new_visitor(browser: Browser, demo: Demo) -> Iterator[Callable[[], Visitor]]:
    contexts: list[BrowserContext] = []

    def open_one() -> Visitor:
        context = browser.new_context()
        contexts.append(context)
        page = context.new_page()
        console = ConsoleErrors()
        page.on("console", console.on_console)
        page.on("pageerror", console.on_page_error)
        page.goto(demo.frontend_url)
        return Visitor(page, console, f"user-{secrets.token_hex(4)}@example.com")

    yield open_one
    for context in contexts:
        context.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
