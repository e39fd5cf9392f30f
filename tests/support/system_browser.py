"""The phone's system browser played by real Chromium (ASWebAuthenticationSession / Custom Tabs).

It opens the authorization URL, signs in on the dev AS's own pages (sign-in, second factor,
consent) and stops where the OS would hand the claimed https link to the app: that navigation
is seen and its URL returned; nothing serves the app's domain.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from playwright.sync_api import Browser, Page, Request, sync_playwright

from tests.e2e.spa import CONSENT_SUBMIT, LOGIN_SUBMIT, OTP_SUBMIT, enter_second_factor
from tests.e2e.spa import LOGIN as USER

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@contextmanager
def chromium() -> Iterator[Browser]:
    """A headless Chromium for one test module."""
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                    args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def _step(page: Page, issuer: str) -> None:
    """One AS page: fill in what it asks for and submit it."""
    if page.locator(LOGIN_SUBMIT).count():
        page.fill("input[name=login]", USER)
        page.fill("input[name=password]", "correct horse battery staple")
        page.click(LOGIN_SUBMIT)
    elif page.locator(OTP_SUBMIT).count():
        enter_second_factor(page, issuer)
    elif page.locator(CONSENT_SUBMIT).count():
        page.click(CONSENT_SUBMIT)


def authorize_in_chromium(browser: Browser, authorization_url: str, claimed_link: str,
                          issuer: str) -> str:
    """The claimed-link URL the app is opened with after signing in on the AS's pages."""
    context = browser.new_context(locale="en-US", timezone_id="UTC")
    # the dev AS's pages reference a web font; there is no network here
    context.route("**/fonts.googleapis.com/**", lambda route: route.abort())
    context.route("**/fonts.gstatic.com/**", lambda route: route.abort())
    opened: list[str] = []

    def hand_to_the_app(request: Request) -> None:
        # a redirect hop is not routable in Playwright, but every hop is a request event;
        # the navigation itself then fails (nothing serves the app's domain here)
        if request.url.startswith(claimed_link):
            opened.append(request.url)

    context.on("request", hand_to_the_app)
    try:
        page = context.new_page()
        page.goto(authorization_url)
        for _ in range(8):
            if opened:
                return opened[0]
            page.wait_for_load_state()
            if page.url.startswith("chrome-error:"):
                break
            _step(page, issuer)
        if not opened:
            raise AssertionError(f"sign-in did not reach the claimed link (at {page.url})")
        return opened[0]
    finally:
        context.close()
