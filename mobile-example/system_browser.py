"""The phone's system browser played by real Chromium (ASWebAuthenticationSession / Custom Tabs).

It opens the authorization URL, signs in on the dev AS's own pages (sign-in, one-time code
when asked, consent) and stops where the OS would hand the claimed https link to the app:
that navigation is seen and its URL returned; nothing serves the app's domain.
Playwright drives Debian's Chromium (``/usr/bin/chromium``), headless.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Request

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]

# the dev AS pages' primary buttons (each form also holds a Cancel button for its abort form)
LOGIN_SUBMIT = "form:has(input[name=prompt][value=login]) button.primary"
OTP_SUBMIT = "form:has(input[name=prompt][value=otp]) button.primary"
CONSENT_SUBMIT = "form:has(input[name=prompt][value=consent]) button.primary"


class BrowserUnavailable(Exception):
    """Chromium or Playwright is not installed here."""


def unavailable_reason(executable: str = CHROMIUM) -> str | None:
    """Why real Chromium cannot run here (one line), or None when it can."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright is not installed (pip install playwright)"
    if shutil.which(executable) is None:
        return f"Chromium not found at {executable} (apt-get install chromium)"
    return None


@contextmanager
def chromium(executable: str = CHROMIUM) -> Iterator[Browser]:
    """A headless Chromium; BrowserUnavailable when it cannot be started."""
    reason = unavailable_reason(executable)
    if reason is not None:
        raise BrowserUnavailable(reason)
    from playwright.sync_api import Error, sync_playwright

    with sync_playwright() as p:
        try:
            browser = p.chromium.launch(executable_path=executable, headless=True,
                                        args=CHROMIUM_ARGS)
        except Error as exc:
            first = (str(exc).strip().splitlines() or ["no reason given"])[0]
            raise BrowserUnavailable(f"Chromium did not start: {first}") from None
        try:
            yield browser
        finally:
            browser.close()


def _step(page: Page, login: str, password: str,
          one_time_code: Callable[[], str] | None) -> None:
    """One AS page: fill in what it asks for and submit it."""
    if page.locator(LOGIN_SUBMIT).count():
        page.fill("input[name=login]", login)
        page.fill("input[name=password]", password)
        page.click(LOGIN_SUBMIT)
    elif page.locator(OTP_SUBMIT).count():
        if one_time_code is None:
            raise RuntimeError("the AS asks for a one-time code and none was provided")
        page.locator("input[name=otp]").fill(one_time_code())
        page.click(OTP_SUBMIT)
    elif page.locator(CONSENT_SUBMIT).count():
        page.click(CONSENT_SUBMIT)


def authorize_in_chromium(browser: Browser, authorization_url: str, claimed_link: str, *,
                          login: str, password: str,
                          one_time_code: Callable[[], str] | None = None) -> str:
    """The claimed-link URL the app is opened with after signing in on the AS's pages.

    ``one_time_code`` answers the AS's second-factor page, when it shows one.
    """
    context = browser.new_context(locale="en-US", timezone_id="UTC")
    # the dev AS's pages reference a web font; nothing here needs the network beyond the AS
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
            _step(page, login, password, one_time_code)
        if not opened:
            raise RuntimeError(f"sign-in did not reach the claimed link (at {page.url})")
        return opened[0]
    finally:
        context.close()
