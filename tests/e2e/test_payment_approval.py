"""Payments in the example SPA, in Chromium: small ones on the session, larger ones through a
second factor and consent to the exact payment (RFC 9470 step-up, RFC 9396 payment_initiation)."""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from joserfc.util import urlsafe_b64decode
from playwright.sync_api import BrowserContext, Page, Route, expect

from bff.handler.purpose import is_purpose_key
from bff.oauth.dpop import DPoPKey
from tests.e2e.conftest import DOCS_IMG, E2EStack
from tests.e2e.spa import (
    CONSENT_CANCEL,
    CONSENT_SUBMIT,
    LOGIN,
    LOGIN_SUBMIT,
    enter_second_factor,
    expect_signed_in,
    pay,
    sign_in,
)

pytestmark = pytest.mark.e2e

IBAN = "DE44 5001 0517 5407 3249 31"
PASSWORD = "correct horse battery staple"


def jwt_payload(token: str) -> dict[str, Any]:
    return dict(json.loads(urlsafe_b64decode(token.split(".")[1].encode())))


def reference() -> str:
    return f"Invoice {uuid.uuid4().hex[:6]}"


def ask_to_pay(page: Page, *, to_name: str, reference: str, amount: str) -> None:
    """Fill and send the form; the API asks for an approval, which the SPA explains."""
    form = page.get_by_test_id("payment-form")
    form.locator("select[name=fromAccount]").select_option("acc-1")
    form.locator("input[name=toName]").fill(to_name)
    form.locator("input[name=toIban]").fill(IBAN)
    form.locator("input[name=amount]").fill(amount)
    form.locator("input[name=reference]").fill(reference)
    page.get_by_test_id("pay").click()
    approval = page.get_by_test_id("payment-approval")
    expect(approval).to_be_visible()
    expect(approval).to_be_focused()
    expect(page.get_by_test_id("approval-reason")).to_contain_text("one-time code")
    expect(page.get_by_test_id("approval-name")).to_have_text(to_name)
    expect(page.get_by_test_id("approval-iban")).to_have_text(IBAN)
    expect(page.get_by_test_id("approval-reference")).to_have_text(reference)


def through_sign_in_and_second_factor(page: Page, issuer: str,
                                      shots: Path | None = None) -> None:
    """The AS's password page, then its one-time-code page (a payment needs both, afresh)."""
    page.wait_for_url(f"{issuer}/**")
    expect(page.locator("input[name=login]")).to_be_visible()
    if shots:
        page.screenshot(path=shots / "as-sign-in-payment.png", full_page=True)
    page.fill("input[name=login]", LOGIN)
    page.fill("input[name=password]", PASSWORD)
    page.click(LOGIN_SUBMIT)
    expect(page.locator("input[name=otp]")).to_be_visible()
    if shots:
        page.screenshot(path=shots / "as-second-factor.png", full_page=True)
    enter_second_factor(page, issuer)


def expect_consent_for(page: Page, amount: str, to_name: str, ref: str) -> None:
    details = page.get_by_test_id("payment-details")
    expect(details).to_be_visible()
    expect(page.locator("#payment-amount")).to_have_text(f"{amount} EUR")
    expect(page.locator("#payment-creditor")).to_have_text(to_name)
    expect(page.locator("#payment-iban")).to_have_text(IBAN.replace(" ", ""))
    expect(page.locator("#payment-reference")).to_have_text(ref)


def transactions_text(page: Page) -> str:
    return page.get_by_test_id("transactions").inner_text()


def test_a_small_payment_goes_through_on_the_session(e2e_stack: E2EStack, page: Page,
                                                     screenshots: Path) -> None:
    app = e2e_stack.bff.url + "/"
    page.goto(app)
    page.get_by_test_id("sign-in").click()
    page.wait_for_url(f"{e2e_stack.issuer}/**")
    expect(page.locator("input[name=login]")).to_be_visible()
    page.screenshot(path=screenshots / "as-sign-in.png", full_page=True)
    page.fill("input[name=login]", LOGIN)
    page.fill("input[name=password]", PASSWORD)
    page.click(LOGIN_SUBMIT)
    page.click(CONSENT_SUBMIT)
    page.wait_for_url(app)
    expect_signed_in(page)
    before = e2e_stack.api_calls("/payments")
    pay(page, to_name="Carol Small", reference=reference(), amount="99.99")
    assert e2e_stack.api_calls("/payments") == before + 1
    expect(page.get_by_test_id("payment-approval")).to_be_hidden()


@pytest.mark.spec("RFC 9396 §2")
def test_a_large_payment_needs_a_second_factor_shows_the_payment_and_succeeds(
        e2e_stack: E2EStack, context: BrowserContext, page: Page, screenshots: Path) -> None:
    app = e2e_stack.bff.url + "/"
    sign_in(page, app, e2e_stack.issuer)
    ref = reference()
    ask_to_pay(page, to_name="Bob Builder", reference=ref, amount="150")
    expect(page.get_by_test_id("approval-amount")).to_contain_text("150.00")
    page.get_by_test_id("payment-approval").screenshot(path=screenshots / "spa-approval.png")
    assert ref not in transactions_text(page)

    # the pending payment crosses the redirect in sessionStorage: its details, never a token
    stored: list[str] = []
    page.get_by_test_id("approve-payment").click()
    through_sign_in_and_second_factor(page, e2e_stack.issuer, screenshots)
    expect_consent_for(page, "150.00", "Bob Builder", ref)
    page.screenshot(path=screenshots / "as-payment-consent.png", full_page=True)
    docs_copy = DOCS_IMG / "as-payment-consent.png"
    if os.environ.get("UPDATE_DOCS_SCREENSHOTS") == "1" or not docs_copy.exists():
        DOCS_IMG.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(screenshots / "as-payment-consent.png", docs_copy)

    # record what the one-purpose call carries, and the approval token behind it (test only:
    # read from the BFF's session, which the browser never sees)
    seen: dict[str, Any] = {}

    def watch(route: Route) -> None:
        purpose = route.request.headers.get("x-bff-purpose")
        if purpose and "token" not in seen:
            session = e2e_stack.bff.session_of(context)
            assert session is not None
            waiting = [t.token for k, t in session.tokens.items() if is_purpose_key(k)]
            seen.update(purpose=purpose, body=route.request.post_data, token=waiting[0],
                        jwk=session.dpop_jwk)
            stored.append(page.evaluate("() => JSON.stringify(sessionStorage)"))
        route.continue_()

    page.route("**/api/payments", watch)
    before = e2e_stack.api_calls("/payments")
    page.click(CONSENT_SUBMIT)
    page.wait_for_url(app)
    confirmation = page.get_by_test_id("payment-confirmation")
    expect(confirmation).to_contain_text("Payment sent")
    expect(confirmation).to_contain_text("Bob Builder")
    expect(page.get_by_test_id("transactions")).to_contain_text(f"Payment to Bob Builder: {ref}")
    expect(page.get_by_test_id("error")).to_be_hidden()
    assert e2e_stack.api_calls("/payments") == before + 1
    assert "purpose" in seen and json.loads(seen["body"])["amount"] == "150"
    # the pending payment was taken out of storage before it was sent
    assert stored == ["{}"]
    session = e2e_stack.bff.session_of(context)
    assert session is not None
    # the approval's token is the two-factor one for this payment; the session stays as it was
    approved = jwt_payload(seen["token"])
    assert approved["acr"] == "urn:bff:acr:mfa"
    assert approved["authorization_details"][0]["instructedAmount"] == {"amount": "150.00",
                                                                         "currency": "EUR"}
    assert session.claims["acr"] == "urn:bff:acr:pwd"
    assert not any(is_purpose_key(k) for k in session.tokens), "the approval token is dropped"

    # reusing the approval through the BFF: its token is gone
    replay = page.evaluate("""async ([purpose, body]) => {
        const bff = await import('/bff-client/index.js');
        const r = await bff.fetchApi('/api/payments', {method: 'POST', body,
                                     headers: {'X-BFF-Purpose': purpose}});
        return [r.status, await r.json()];
    }""", [seen["purpose"], seen["body"]])
    assert replay[0] == 403 and replay[1]["error"] == "authorization_missing"
    # and the API refuses the very same token (and its DPoP key) a second time
    status, error = present_again(e2e_stack, seen["token"], seen["jwk"], json.loads(seen["body"]))
    assert (status, error) == (403, "payment_not_approved")
    # booked once
    page.reload()
    expect(page.get_by_test_id("transactions")).to_contain_text(f"Payment to Bob Builder: {ref}")
    assert transactions_text(page).count(ref) == 1


def present_again(stack: E2EStack, token: str, jwk: dict[str, Any],
                  body: dict[str, Any]) -> tuple[int, str]:
    """POST the payment straight to the API with ``token`` and a fresh DPoP proof of its key."""
    key = DPoPKey(jwk)
    url = f"{stack.api_url.rstrip('/')}/payments"
    nonce = None
    with httpx.Client(timeout=10) as http:
        for _ in range(2):
            response = http.post(url, json=body, headers={
                "Authorization": f"DPoP {token}",
                "DPoP": key.proof("POST", url, access_token=token, nonce=nonce)})
            if response.status_code == 401 and "dpop-nonce" in response.headers and not nonce:
                nonce = response.headers["dpop-nonce"]
                continue
            break
    return response.status_code, str(response.json().get("error"))


@pytest.mark.spec("RFC 9396 §7")
def test_changing_the_amount_after_consent_is_refused_by_the_api(
        e2e_stack: E2EStack, page: Page) -> None:
    app = e2e_stack.bff.url + "/"
    sign_in(page, app, e2e_stack.issuer)
    ref = reference()
    ask_to_pay(page, to_name="Dan Tamper", reference=ref, amount="120.00")
    page.get_by_test_id("approve-payment").click()
    through_sign_in_and_second_factor(page, e2e_stack.issuer)
    expect_consent_for(page, "120.00", "Dan Tamper", ref)

    # a script in the page changes the amount of the approved payment as it is sent
    def tamper(route: Route) -> None:
        if route.request.headers.get("x-bff-purpose"):
            body = json.loads(route.request.post_data or "{}")
            body["amount"] = "1200.00"
            route.continue_(post_data=json.dumps(body))
        else:
            route.continue_()

    page.route("**/api/payments", tamper)
    before = e2e_stack.api_calls("/payments")
    page.click(CONSENT_SUBMIT)
    page.wait_for_url(app)
    outcome = page.get_by_test_id("approval-outcome")
    expect(outcome).to_contain_text("not the one you approved")
    expect(page.get_by_test_id("payment-confirmation")).to_be_hidden()
    assert e2e_stack.api_calls("/payments") == before + 1
    expect(page.get_by_test_id("transactions").locator("li.tx-row").first).to_be_visible()
    assert ref not in transactions_text(page)
    expect_signed_in_still(page)


def expect_signed_in_still(page: Page) -> None:
    expect(page.get_by_test_id("user-name")).to_be_visible()
    expect(page.get_by_test_id("sign-out")).to_be_visible()


def test_cancelling_the_consent_keeps_the_user_signed_in_with_nothing_paid(
        e2e_stack: E2EStack, context: BrowserContext, page: Page) -> None:
    app = e2e_stack.bff.url + "/"
    sign_in(page, app, e2e_stack.issuer)
    session = e2e_stack.bff.session_of(context)
    assert session is not None
    ref = reference()
    ask_to_pay(page, to_name="Erin Cancel", reference=ref, amount="500.00")
    before = e2e_stack.api_calls("/payments")
    page.get_by_test_id("approve-payment").click()
    through_sign_in_and_second_factor(page, e2e_stack.issuer)
    expect_consent_for(page, "500.00", "Erin Cancel", ref)
    page.click(CONSENT_CANCEL)
    page.wait_for_url(app)
    outcome = page.get_by_test_id("approval-outcome")
    expect(outcome).to_contain_text("You cancelled the approval")
    expect(page.get_by_test_id("payment-approval")).to_be_focused()
    expect(page.get_by_test_id("transactions").locator("li.tx-row").first).to_be_visible()
    assert ref not in transactions_text(page)
    assert e2e_stack.api_calls("/payments") == before, "nothing was sent to the API"
    after = e2e_stack.bff.session_of(context)
    assert after is not None and after.session_id == session.session_id
    assert after.csrf_token == session.csrf_token
    # the stored payment is gone: a reload resumes nothing
    page.reload()
    expect_signed_in(page)
    expect(page.get_by_test_id("payment-approval")).to_be_hidden()


@pytest.mark.spec("Fetch Standard §4.8 (CORS-preflight fetch)")
def test_an_approved_payment_goes_through_from_another_origin(
        e2e_stack: E2EStack, page: Page) -> None:
    # the SPA on its own origin: its one-purpose call carries X-BFF-Purpose, so the browser
    # asks the BFF first whether that header may be sent
    app = e2e_stack.spa_url
    sign_in(page, app, e2e_stack.issuer)
    ref = reference()
    ask_to_pay(page, to_name="Faye Faraway", reference=ref, amount="101.00")
    page.get_by_test_id("approve-payment").click()
    through_sign_in_and_second_factor(page, e2e_stack.issuer)
    expect_consent_for(page, "101.00", "Faye Faraway", ref)
    page.click(CONSENT_SUBMIT)
    page.wait_for_url(app)
    expect(page.get_by_test_id("payment-confirmation")).to_contain_text("Faye Faraway")
    expect(page.get_by_test_id("transactions")).to_contain_text(f"Payment to Faye Faraway: {ref}")


def focused(page: Page) -> str:
    return str(page.evaluate("() => document.activeElement?.dataset.testid ?? 'none'"))


def test_the_approval_panel_works_by_keyboard(e2e_stack: E2EStack, page: Page) -> None:
    app = e2e_stack.bff.url + "/"
    sign_in(page, app, e2e_stack.issuer)
    ref = reference()
    ask_to_pay(page, to_name="Gus Keys", reference=ref, amount="300.00")
    # "Not now" closes the panel and gives focus back to the button that opened it
    page.keyboard.press("Tab")
    assert focused(page) == "approve-payment"
    page.keyboard.press("Tab")
    assert focused(page) == "cancel-approval"
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("payment-approval")).to_be_hidden()
    assert focused(page) == "pay"
    # again, and on to the AS with the keyboard
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("payment-approval")).to_be_focused()
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    through_sign_in_and_second_factor(page, e2e_stack.issuer)
    expect_consent_for(page, "300.00", "Gus Keys", ref)
    page.click(CONSENT_SUBMIT)
    page.wait_for_url(app)
    expect(page.get_by_test_id("payment-confirmation")).to_be_focused()
    expect(page.get_by_test_id("payment-confirmation")).to_contain_text("Gus Keys")
