"""The portal in a real browser: Debian's Chromium driven by Playwright, the four services
and the portal as real processes on free ports (as in tests/e2e), officers signing in at
the real Keycloak of deploy/keycloak (its RS256 tokens verified by the services via JWKS)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from services.common.config import Settings
from services.system import ROOT
from tests.e2e.conftest import Running
from tests.helpers import started_system, unique

CHROMIUM = "/usr/bin/chromium"
SHOTS = ROOT / "docs" / "screenshots"
PASSWORD = "demo"  # deploy/keycloak/make_realm.py


def provider() -> str:
    """Keycloak's realm URL; started here when `make test` has not done it yet."""
    script = ROOT / "deploy" / "keycloak" / "keycloak.sh"
    subprocess.run([str(script), "up"], check=True, timeout=900)
    return subprocess.run([str(script), "env"], check=True, capture_output=True,
                          text=True).stdout.strip()


class Portal(Running):
    def page_url(self, path: str) -> str:
        return self.system.url("portal") + path


# Package scope: the system stops once these tests are done, so its workers do not
# load the machine for the rest of the suite.
@pytest.fixture(scope="package")
def portal(infra: Settings, tmp_path_factory) -> Iterator[Portal]:
    issuer = provider()
    prefix = unique("b")
    env = {
        "JWT_JWKS_URL": f"{issuer}/protocol/openid-connect/certs", "JWT_ISSUER": issuer,
        "PORTAL_OIDC_ISSUER": issuer,
        "JWT_ACCEPT_LOCAL": "1",  # the test's own API calls (waits) use local tokens
    }
    with started_system(infra, prefix, tmp_path_factory.mktemp("browser"), env=env,
                        portal=True, timeout=180) as (system, settings, clock):
        yield Portal(system, settings, clock, prefix)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    assert Path(CHROMIUM).exists(), "Debian's chromium is missing: make browser installs it"
    with sync_playwright() as p:
        # Debian's build, never a downloaded one (no browser can be downloaded here).
        launched = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                     args=["--no-sandbox", "--lang=vi-VN"])
        yield launched
        launched.close()


@dataclass
class Visitor:
    """One person's browser context, recording console errors of the portal's pages."""

    context: BrowserContext
    page: Page
    base: str
    errors: list[str] = field(default_factory=list)

    def go(self, path: str) -> Page:
        self.page.goto(self.base + path)
        return self.page

    def shot(self, name: str) -> None:
        if os.environ.get("PORTAL_SCREENSHOTS", "1") != "0":
            SHOTS.mkdir(parents=True, exist_ok=True)
            self.page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)

    def sign_in(self, username: str, then: str = "/can-bo/") -> None:
        self.go(f"/dang-nhap?next={then}")
        self.page.fill("#username", username)
        self.page.fill("#password", PASSWORD)
        self.page.click("#kc-login")
        self.page.wait_for_url(f"{self.base}{then}*")

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def visit(browser: Browser, portal: Portal):
    opened: list[Visitor] = []

    def make(mobile: bool = False) -> Visitor:
        size = {"width": 412, "height": 900} if mobile else {"width": 1280, "height": 900}
        context = browser.new_context(viewport=size, locale="vi-VN",
                                      timezone_id="Asia/Ho_Chi_Minh")
        page = context.new_page()
        page.set_default_timeout(60_000)  # a busy CI machine: waits, never timings
        base = portal.system.url("portal")
        visitor = Visitor(context, page, base)

        def on_console(message) -> None:
            if message.type == "error" and page.url.startswith(base):
                visitor.errors.append(f"{page.url}: {message.text}")

        page.on("console", on_console)
        page.on("pageerror", lambda exc: visitor.errors.append(f"{page.url}: {exc}"))
        opened.append(visitor)
        return visitor

    yield make
    for visitor in opened:
        visitor.close()
