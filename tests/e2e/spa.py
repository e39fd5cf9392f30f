"""Driving the example SPA and the dev AS's pages in a real browser."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, Request, Response, Route, expect

from tests.support.totp import next_code

LOGIN = "alice"
USER_NAME = "Alice Example"  # the dev AS derives the name from the login

# the AS pages' primary buttons (each form also holds a Cancel button for its abort form)
LOGIN_SUBMIT = "form:has(input[name=prompt][value=login]) button.primary"
OTP_SUBMIT = "form:has(input[name=prompt][value=otp]) button.primary"
CONSENT_SUBMIT = "form:has(input[name=prompt][value=consent]) button.primary"
CONSENT_CANCEL = "form:has(input[name=prompt][value=consent]) button.secondary"
LOGOUT_CONFIRM = "button[name=logout][value=yes]"

# a compact JWS (ID token, JWT access token, logout token, ...): header and payload are JSON
JWS = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")


def enter_credentials(page: Page, issuer: str, *, consent: bool = True) -> None:
    """On the AS's login page: any user name and password, then consent."""
    page.wait_for_url(f"{issuer}/**")
    page.fill("input[name=login]", LOGIN)
    page.fill("input[name=password]", "correct horse battery staple")
    page.click(LOGIN_SUBMIT)
    if consent:
        page.click(CONSENT_SUBMIT)


def enter_second_factor(page: Page, issuer: str) -> None:
    """On the AS's second-factor page: the demo user's current one-time code."""
    page.locator("input[name=otp]").fill(next_code(issuer, LOGIN))
    page.click(OTP_SUBMIT)


def sign_in(page: Page, app_url: str, issuer: str) -> None:
    """From the signed-out SPA at ``app_url`` through the AS's pages back to the accounts."""
    if not page.url.startswith(app_url):
        page.goto(app_url)
    page.get_by_test_id("sign-in").click()
    enter_credentials(page, issuer)
    page.wait_for_url(app_url)
    expect_signed_in(page)


def expect_signed_in(page: Page) -> None:
    expect(page.get_by_test_id("user-name")).to_have_text(USER_NAME)
    expect(page.get_by_test_id("account-acc-1")).to_be_visible()
    expect(page.get_by_test_id("transactions").locator("li.tx-row").first).to_be_visible()
    expect(page.get_by_test_id("error")).to_be_hidden()


def pay(page: Page, *, to_name: str, reference: str, amount: str = "12.34") -> None:
    """Fill the payment form, send it and wait for the confirmation."""
    form = page.get_by_test_id("payment-form")
    form.locator("select[name=fromAccount]").select_option("acc-1")
    form.locator("input[name=toName]").fill(to_name)
    form.locator("input[name=toIban]").fill("DE44 5001 0517 5407 3249 31")
    form.locator("input[name=amount]").fill(amount)
    form.locator("input[name=reference]").fill(reference)
    page.get_by_test_id("pay").click()
    confirmation = page.get_by_test_id("payment-confirmation")
    expect(confirmation).to_be_visible()
    expect(confirmation).to_contain_text("Payment sent")
    expect(confirmation).to_contain_text(to_name)
    expect(page.get_by_test_id("payment-id")).to_have_text(re.compile(r"^pay-[0-9a-f]+$"))
    transactions = page.get_by_test_id("transactions")
    expect(transactions).to_contain_text(f"Payment to {to_name}: {reference}")
    expect(page.get_by_test_id("error")).to_be_hidden()


@dataclass
class Seen:
    """Everything a page exchanged with the given origins: request lines and response bodies."""

    origins: tuple[str, ...]
    requests: list[str] = field(default_factory=list)
    bodies: dict[str, list[str]] = field(default_factory=dict)
    unread: list[str] = field(default_factory=list)
    relayed: str | None = None

    def attach(self, page: Page, *, relay: str | None = None) -> Seen:
        """Record from ``page``; requests to URLs starting with ``relay`` go through a route.

        A response body is gone once its page navigates away, and the SPA navigates to the AS
        right after reading ``login/start``: that call is relayed (sent by the browser
        context, answered to the page unchanged) so its body is kept.
        """
        page.on("request", self._on_request)
        page.on("response", self._on_response)
        if relay:
            self.relayed = relay

            def keep_body(route: Route) -> None:
                response = route.fetch()
                self.bodies.setdefault(route.request.url, []).append(response.text())
                route.fulfill(response=response)

            page.route(lambda url: url.startswith(relay), keep_body)
        return self

    def _on_request(self, request: Request) -> None:
        if request.url.startswith(self.origins):
            self.requests.append(f"{request.method} {request.url} {request.post_data or ''}")

    def _on_response(self, response: Response) -> None:
        if not response.url.startswith(self.origins):
            return
        if self.relayed and response.url.startswith(self.relayed):
            return  # read by the route
        if 300 <= response.status < 400:
            location = response.headers.get("location", "")
            self.bodies.setdefault(response.url, []).append(f"redirect {location}")
            return
        try:
            body = response.body()
        except PlaywrightError as exc:
            self.unread.append(f"{response.url} {exc}")
            return
        self.bodies.setdefault(response.url, []).append(body.decode("utf-8", "replace"))

    def everything(self) -> str:
        return "\n".join([*self.requests, *(b for v in self.bodies.values() for b in v)])

    def urls(self, prefix: str) -> list[str]:
        return [u for u in self.bodies if u.startswith(prefix)]
