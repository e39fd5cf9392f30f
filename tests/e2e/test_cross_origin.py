"""Origins other than the BFF's own: an allowed same-site app origin, and a foreign site."""

from __future__ import annotations

import pytest
from playwright.sync_api import BrowserContext, Page, Request, expect

from tests.e2e.conftest import E2EStack
from tests.e2e.spa import expect_signed_in, sign_in

pytestmark = pytest.mark.e2e


def test_same_site_app_origin_signs_in_and_reads_accounts(e2e_stack: E2EStack,
                                                          context: BrowserContext,
                                                          page: Page) -> None:
    bff = e2e_stack.cross_bff
    answers: list[tuple[str, str, int]] = []
    page.on("response", lambda r: answers.append((r.request.method, r.url, r.status))
            if r.url.startswith(bff.url) else None)
    sign_in(page, e2e_stack.spa_url, e2e_stack.issuer)
    assert page.url == e2e_stack.spa_url

    # the page came from the SPA's origin; every BFF call went to the other origin, with CORS
    # (JSON POSTs are preflighted: the browser sent them, so the preflight was answered)
    calls = {(m, u.removeprefix(bff.url), s) for m, u, s in answers}
    assert {("POST", "/bff/login/start", 200),
            ("POST", "/bff/login/end", 200), ("GET", "/bff/session", 200),
            ("GET", "/api/accounts", 200)} <= calls
    spa_origin = e2e_stack.spa_url.rstrip("/")
    with page.expect_response(f"{bff.url}/bff/session") as reply:
        logged_in = page.evaluate("""async (url) => {
            const r = await fetch(url + '/bff/session', {credentials: 'include'});
            return (await r.json()).isLoggedIn;
        }""", bff.url)
    assert logged_in is True
    headers = reply.value.headers
    assert headers["access-control-allow-origin"] == spa_origin
    assert headers["access-control-allow-credentials"] == "true"
    assert bff.session_of(context) is not None
    assert "bff" not in page.evaluate("() => document.cookie")

    page.reload()
    expect_signed_in(page)
    page.get_by_test_id("account-acc-2").click()
    expect(page.get_by_test_id("transactions")).to_contain_text("Interest")


def test_foreign_site_can_neither_read_nor_change_anything(e2e_stack: E2EStack,
                                                          context: BrowserContext,
                                                          page: Page) -> None:
    bff = e2e_stack.bff
    app = bff.url + "/"
    sign_in(page, app, e2e_stack.issuer)
    balance = page.get_by_test_id("account-acc-1").text_content()
    assert balance and "€" in balance
    payments = e2e_stack.api_calls("/payments")

    evil = context.new_page()
    sent: list[Request] = []
    evil.on("request", lambda r: sent.append(r) if r.url.startswith(bff.url) else None)
    evil.goto(e2e_stack.foreign_url)

    # reading: the browser refuses the answer (no CORS for this origin)
    for path in ("/bff/session", "/api/accounts"):
        outcome = evil.evaluate("""async (url) => {
            try { await fetch(url, {credentials: 'include'}); return 'read'; }
            catch (e) { return e.name; }
        }""", bff.url + path)
        assert outcome == "TypeError", path

    # writing blind: simple requests that need no preflight
    payment = ('{"fromAccount":"acc-1","toName":"Mallory","toIban":"DE44500105175407324931",'
               '"amount":"999.00","currency":"EUR"}')
    for path in ("/bff/logout", "/api/payments"):
        outcome = evil.evaluate("""async ([url, body]) => {
            const r = await fetch(url, {method: 'POST', mode: 'no-cors', credentials: 'include',
                                        headers: {'Content-Type': 'text/plain'}, body});
            return r.type;
        }""", [bff.url + path, payment])
        assert outcome == "opaque", path

    # a top-level form POST (the classic CSRF): refused outright
    for path in ("/api/payments", "/bff/logout"):
        with evil.expect_navigation() as navigation:
            evil.evaluate("""([action, body]) => {
                const form = document.createElement('form');
                form.method = 'POST';
                form.action = action;
                form.enctype = 'text/plain';
                const field = document.createElement('input');
                field.name = body;
                field.value = '';
                form.append(field);
                document.body.append(form);
                form.submit();
            }""", [bff.url + path, payment])
        response = navigation.value
        assert response is not None and response.status == 403, path
        assert "origin_not_allowed" in response.text()
        evil.goto(e2e_stack.foreign_url)

    # SameSite=Strict: none of the cross-site requests carried the session cookie
    assert len(sent) >= 6
    for request in sent:
        assert "bff-session" not in (request.all_headers().get("cookie") or ""), request.url

    # nothing changed: still signed in, no payment reached the API, same balance
    assert e2e_stack.api_calls("/payments") == payments
    assert bff.session_of(context) is not None
    with page.expect_request(f"{bff.url}/bff/session") as own:
        page.reload()
    expect_signed_in(page)
    # (the check above is not vacuous: the BFF's own page does send the cookie)
    assert "__Host-bff-session" in (own.value.all_headers().get("cookie") or "")
    expect(page.get_by_test_id("account-acc-1")).to_have_text(balance)
    expect(page.get_by_test_id("transactions")).not_to_contain_text("Mallory")
