"""The example SPA served by the BFF itself, driven in Chromium against the real dev AS and API."""

from __future__ import annotations

import os
import shutil
import time
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.e2e.conftest import ACCESS_TTL, DOCS_IMG, E2EStack
from tests.e2e.spa import (
    JWS,
    LOGIN_SUBMIT,
    LOGOUT_CONFIRM,
    Seen,
    expect_signed_in,
    pay,
    sign_in,
)

pytestmark = pytest.mark.e2e

SESSION_COOKIE = "__Host-bff-session"
PAST_EXPIRY_MS = int((ACCESS_TTL + 1.5) * 1000)


def test_sign_in_see_accounts_and_pay(e2e_stack: E2EStack, page: Page,
                                      screenshots: Path) -> None:
    app = e2e_stack.bff.url + "/"
    page.goto(app)
    expect(page.get_by_test_id("sign-in")).to_be_visible()
    page.screenshot(path=screenshots / "signed-out.png")

    sign_in(page, app, e2e_stack.issuer)
    assert page.url == app, "the authorization response must not stay in the address bar"
    expect(page.get_by_role("heading", name="Welcome, Alice Example")).to_be_visible()
    expect(page.get_by_test_id("account-acc-1")).to_contain_text("Everyday Account")
    expect(page.get_by_test_id("account-acc-2")).to_contain_text("Savings")
    expect(page.get_by_test_id("transactions")).to_contain_text("Salary ACME GmbH")
    page.screenshot(path=screenshots / "accounts.png", full_page=True)
    docs_copy = DOCS_IMG / "spa-accounts.png"
    if os.environ.get("UPDATE_DOCS_SCREENSHOTS") == "1" or not docs_copy.exists():
        DOCS_IMG.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(screenshots / "accounts.png", docs_copy)

    before = e2e_stack.api_calls("/payments")
    reference = f"Invoice {uuid.uuid4().hex[:6]}"
    pay(page, to_name="Bob Builder", reference=reference)
    assert e2e_stack.api_calls("/payments") == before + 1
    page.get_by_test_id("payment-confirmation").scroll_into_view_if_needed()
    page.screenshot(path=screenshots / "payment-confirmation.png", full_page=True)


def test_keeps_working_after_the_access_token_expires(e2e_stack: E2EStack,
                                                      context: BrowserContext,
                                                      page: Page) -> None:
    app = e2e_stack.bff.url + "/"
    sign_in(page, app, e2e_stack.issuer)
    refreshes = e2e_stack.refresh_grants()

    page.wait_for_timeout(PAST_EXPIRY_MS)
    page.get_by_test_id("account-acc-2").click()
    expect(page.get_by_test_id("transactions")).to_contain_text("Interest")
    page.get_by_test_id("account-acc-1").click()
    expect(page.get_by_test_id("transactions")).to_contain_text("Salary ACME GmbH")
    pay(page, to_name="Carol Expired", reference=f"after expiry {uuid.uuid4().hex[:6]}")
    expect(page.get_by_test_id("error")).to_be_hidden()
    after_first = e2e_stack.refresh_grants()
    assert after_first > refreshes, "the BFF refreshed the tokens behind the scenes"

    # a second tab of the same browser: both call the API at the same instant after expiry
    second = context.new_page()
    second.goto(app)
    expect_signed_in(second)
    page.wait_for_timeout(PAST_EXPIRY_MS)
    refreshes = e2e_stack.refresh_grants()
    at = time.time() * 1000 + 500
    burst = """async (at) => {
        await new Promise((r) => setTimeout(r, Math.max(0, at - Date.now())));
        const paths = ['/api/accounts', '/api/accounts/acc-1/transactions', '/api/accounts'];
        const answers = await Promise.all(paths.map((p) => fetch(p, {credentials: 'include'})));
        return answers.map((r) => r.status);
    }"""
    handles = [tab.evaluate_handle(f"(at) => window.__burst = ({burst})(at)", at)
               for tab in (page, second)]
    statuses = [tab.evaluate("() => window.__burst") for tab in (page, second)]
    for handle in handles:
        handle.dispose()
    assert statuses == [[200, 200, 200], [200, 200, 200]]
    # single-flight: six calls with one expired token, one refresh at the AS
    assert e2e_stack.refresh_grants() == refreshes + 1

    # the app itself in both tabs, again together; then once more after the next expiry,
    # which fails if the concurrent refreshes had burnt the rotated refresh token
    for tab in (page, second):
        tab.evaluate("(at) => setTimeout(() => document.querySelector("
                     "'[data-testid=account-acc-2]').click(), Math.max(0, at - Date.now()))",
                     time.time() * 1000 + 300)
    for tab in (page, second):
        expect(tab.get_by_test_id("transactions")).to_contain_text("Interest")
        expect(tab.get_by_test_id("error")).to_be_hidden()
    page.wait_for_timeout(PAST_EXPIRY_MS)
    second.reload()
    expect_signed_in(second)
    page.get_by_test_id("account-acc-1").click()
    expect(page.get_by_test_id("transactions")).to_contain_text("Salary ACME GmbH")
    expect(page.get_by_test_id("error")).to_be_hidden()


def test_reload_stays_signed_in_and_sign_out_ends_the_as_session(
        e2e_stack: E2EStack, context: BrowserContext, page: Page) -> None:
    app = e2e_stack.bff.url + "/"
    sign_in(page, app, e2e_stack.issuer)
    page.reload()
    expect_signed_in(page)
    assert e2e_stack.bff.session_of(context) is not None

    page.get_by_test_id("sign-out").click()
    page.wait_for_url(f"{e2e_stack.issuer}/**")
    page.click(LOGOUT_CONFIRM)
    page.wait_for_url(app)
    expect(page.get_by_test_id("sign-in")).to_be_visible()
    expect(page.get_by_test_id("user-name")).to_have_count(0)
    assert not [c for c in context.cookies(e2e_stack.bff.url)
                if c["name"].startswith(SESSION_COOKIE)]
    assert e2e_stack.bff.session_of(context) is None

    page.reload()
    expect(page.get_by_test_id("sign-in")).to_be_visible()
    page.get_by_test_id("sign-in").click()
    page.wait_for_url(f"{e2e_stack.issuer}/**")
    # the AS session is gone too: it asks for the credentials again
    expect(page.locator("input[name=password]")).to_be_visible()
    expect(page.locator(LOGIN_SUBMIT)).to_be_visible()


def test_browser_never_holds_a_token(e2e_stack: E2EStack, context: BrowserContext,
                                     page: Page) -> None:
    bff = e2e_stack.bff
    seen = Seen((bff.url, e2e_stack.issuer)).attach(
        page, relay=f"{bff.url}/bff/login/start")
    app = bff.url + "/"
    sign_in(page, app, e2e_stack.issuer)

    secrets: set[str] = set()

    def collect() -> None:
        session = bff.session_of(context)
        assert session is not None
        assert session.refresh_token
        tokens = [t.token for t in session.tokens.values()]
        assert tokens and all(isinstance(t, str) and len(t) > 20 for t in tokens)
        secrets.update([session.refresh_token, *tokens])
        if session.id_token:
            secrets.add(session.id_token)

    collect()
    assert any(JWS.fullmatch(s) for s in secrets), "the API's access token is a JWT"
    # an explicit refresh rotates every token; the new ones must stay server-side as well
    result = page.evaluate("""async () => {
        const s = await (await fetch('/bff/session', {credentials: 'include'})).json();
        const r = await fetch('/bff/refresh', {method: 'POST', credentials: 'include',
            headers: {'X-CSRF-Token': s.csrfToken, 'Content-Type': 'application/json'},
            body: '{}'});
        return [r.status, Object.keys(await r.json()).sort()];
    }""")
    assert result == [200, ["csrfToken", "expiresAt", "isLoggedIn"]]
    page.get_by_test_id("account-acc-2").click()
    expect(page.get_by_test_id("transactions")).to_contain_text("Interest")
    before = len(secrets)
    collect()
    assert len(secrets) > before, "the refresh issued new tokens"

    cookie_values = [c["value"] for c in context.cookies(bff.url)]
    assert any(c["name"].startswith(SESSION_COOKIE) and c["httpOnly"] and c["secure"]
               and c["sameSite"] == "Strict" for c in context.cookies(bff.url))

    document_cookie = page.evaluate("() => document.cookie")
    assert "bff" not in document_cookie
    storage = page.evaluate("""() => JSON.stringify([
        Object.entries(localStorage), Object.entries(sessionStorage)])""")
    assert storage == "[[],[]]"
    dom = page.evaluate("() => document.documentElement.outerHTML")
    for secret in [*secrets, *cookie_values]:
        assert secret not in dom
        assert secret not in document_cookie
    assert not JWS.search(dom)

    # what the page received: BFF answers, API answers through the proxy, the AS's pages
    assert seen.urls(f"{bff.url}/bff/login/end"), "login/end was recorded"
    assert seen.urls(f"{bff.url}/bff/refresh")
    assert seen.urls(f"{bff.url}/api/accounts")
    as_pages = [b for u in seen.urls(f"{e2e_stack.issuer}/") for b in seen.bodies[u]]
    assert any('name="login"' in b for b in as_pages), "the AS's login page was recorded"
    assert seen.urls(f"{bff.url}/bff/login/start")
    assert not [u for u in seen.unread if u.startswith(bff.url)], seen.unread
    everything = seen.everything()
    for secret in secrets:
        assert secret not in everything
    assert not JWS.search(everything), JWS.search(everything)
