"""The example SPA with a keyboard, a phone-sized screen and axe-core, in Chromium."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, Route, expect

from tests.e2e.conftest import DOCS_IMG, E2EStack
from tests.e2e.spa import enter_credentials, sign_in

pytestmark = pytest.mark.e2e

AXE = Path(__file__).resolve().parent / "node_modules" / "axe-core" / "axe.min.js"
WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
VALID_IBAN = "DE44 5001 0517 5407 3249 31"
BAD_IBAN = "DE44 5001 0517 5407 3249 32"  # one digit off: the mod-97 check fails

needs_axe = pytest.mark.skipif(not AXE.exists(), reason="run scripts/setup (npm ci in tests/e2e)")


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's WCAG 2.1 A/AA violations on the page as it is now."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        # evaluated, not added as a script tag: the page's CSP does not apply
        page.evaluate(AXE.read_text(encoding="utf-8"))
    result = page.evaluate("""async (tags) => {
        const r = await axe.run(document, {runOnly: {type: 'tag', values: tags}});
        return r.violations.map((v) => ({id: v.id, impact: v.impact,
            nodes: v.nodes.map((n) => n.target.join(' ') + ': ' + n.failureSummary)}));
    }""", WCAG_21_AA)
    return list(result)


def assert_no_violations(page: Page, where: str) -> None:
    violations = axe_violations(page)
    assert violations == [], f"{where}: {json.dumps(violations, indent=1)}"


def fill_payment(page: Page, *, iban: str, amount: str = "12.34") -> None:
    form = page.get_by_test_id("payment-form")
    form.locator("select[name=fromAccount]").select_option("acc-1")
    form.locator("input[name=toName]").fill("Dora Keys")
    form.locator("input[name=toIban]").fill(iban)
    form.locator("input[name=amount]").fill(amount)


def active(page: Page) -> str:
    """What has keyboard focus: the test id, name or tag of document.activeElement."""
    return str(page.evaluate("""() => { const a = document.activeElement;
        return a ? (a.dataset.testid || a.getAttribute('name') || a.id || a.tagName)
                 : 'none'; }"""))


@needs_axe
def test_axe_finds_no_wcag21_aa_violations(e2e_stack: E2EStack, page: Page) -> None:
    app = e2e_stack.bff.url + "/"
    page.goto(app)
    expect(page.get_by_test_id("sign-in")).to_be_visible()
    assert_no_violations(page, "signed-out page")

    sign_in(page, app, e2e_stack.issuer)
    assert_no_violations(page, "accounts page")

    fill_payment(page, iban=BAD_IBAN)
    page.get_by_test_id("pay").click()
    expect(page.get_by_test_id("error-toIban")).to_be_visible()
    assert_no_violations(page, "validation error")

    page.locator("input[name=toIban]").fill(VALID_IBAN)
    page.get_by_test_id("pay").click()
    expect(page.get_by_test_id("payment-confirmation")).to_contain_text("Payment sent")
    assert_no_violations(page, "payment confirmation")

    fill_payment(page, iban=VALID_IBAN, amount="250.00")
    page.get_by_test_id("pay").click()
    expect(page.get_by_test_id("payment-approval")).to_be_focused()
    assert_no_violations(page, "payment approval explained")


def test_brand_link_name_contains_its_visible_text(e2e_stack: E2EStack, page: Page) -> None:
    page.goto(e2e_stack.bff.url + "/")
    expect(page.get_by_role("link", name="Northwind Bank", exact=True)).to_be_visible()


def test_invalid_iban_is_caught_before_sending(e2e_stack: E2EStack, page: Page) -> None:
    app = e2e_stack.bff.url + "/"
    sign_in(page, app, e2e_stack.issuer)
    before = e2e_stack.api_calls("/payments")
    fill_payment(page, iban=BAD_IBAN)
    page.get_by_test_id("pay").click()
    expect(page.get_by_test_id("error-toIban")).to_have_text(
        "This IBAN is not valid. Please check it for typing errors.")
    expect(page.locator("input[name=toIban]")).to_be_focused()
    expect(page.locator("input[name=toIban]")).to_have_attribute("aria-invalid", "true")
    page.locator("input[name=amount]").fill("-5")
    page.get_by_test_id("pay").click()
    expect(page.get_by_test_id("error-amount")).to_be_visible()
    assert e2e_stack.api_calls("/payments") == before, "nothing invalid reached the API"
    page.locator("input[name=toIban]").fill(VALID_IBAN)
    expect(page.get_by_test_id("error-toIban")).to_be_hidden()


def test_keyboard_only_payment_keeps_focus(e2e_stack: E2EStack, page: Page) -> None:
    app = e2e_stack.bff.url + "/"
    page.goto(app)
    expect(page.get_by_test_id("sign-in")).to_be_visible()

    def tab_to(target: str, limit: int = 40) -> None:
        for _ in range(limit):
            page.keyboard.press("Tab")
            if active(page) == target:
                return
        raise AssertionError(f"Tab never reached {target}; stuck at {active(page)}")

    tab_to("sign-in")
    page.keyboard.press("Enter")
    enter_credentials(page, e2e_stack.issuer)
    page.wait_for_url(app)
    expect(page.get_by_test_id("account-acc-1")).to_be_visible()
    expect(page.get_by_test_id("transactions").locator("li.tx-row").first).to_be_visible()

    tab_to("account-acc-2")
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("transactions")).to_contain_text("Interest")
    assert active(page) == "account-acc-2", "choosing an account keeps focus on it"
    expect(page.get_by_test_id("account-acc-2")).to_have_attribute("aria-pressed", "true")

    tab_to("fromAccount")
    assert page.locator("select[name=fromAccount]").input_value() == "acc-1"
    page.keyboard.press("Tab")
    page.keyboard.type("Erin Keyboard")
    page.keyboard.press("Tab")
    page.keyboard.type(BAD_IBAN)
    page.keyboard.press("Tab")
    page.keyboard.type("3.21")
    page.keyboard.press("Tab")
    page.keyboard.type("typed")
    page.keyboard.press("Tab")
    assert active(page) == "pay"
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("error-toIban")).to_be_visible()
    assert active(page) == "toIban", "a validation error moves focus to the field"
    page.keyboard.press("Control+A")
    page.keyboard.type(VALID_IBAN)
    tab_to("pay", limit=4)
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("payment-confirmation")).to_contain_text("Erin Keyboard")
    assert active(page) == "payment-confirmation", "focus goes to the confirmation"


def test_focus_ring_has_3_to_1_contrast(e2e_stack: E2EStack, page: Page) -> None:
    app = e2e_stack.bff.url + "/"
    sign_in(page, app, e2e_stack.issuer)
    ratios = page.evaluate("""(selectors) => {
        const rgb = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
        const lum = ([r, g, b]) => { const f = (v) => { v /= 255;
                return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
            return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
        // what is painted just outside the element's left edge, where the ring is drawn
        const behind = (el) => { const r = el.getBoundingClientRect();
            const under = document.elementsFromPoint(Math.max(0, r.left - 3), r.top + r.height / 2)
                .filter((e) => e !== el && !el.contains(e));
            for (const e of under) { const v = rgb(getComputedStyle(e).backgroundColor);
                if (v.length === 3 || (v.length === 4 && v[3] > 0)) return v.slice(0, 3); }
            return [255, 255, 255]; };
        return selectors.map((sel) => { const el = document.querySelector(sel);
            el.focus({focusVisible: true});
            el.scrollIntoView({block: 'center'});
            const style = getComputedStyle(el); const ring = rgb(style.outlineColor).slice(0, 3);
            const [a, b] = [lum(ring), lum(behind(el))].sort((x, y) => y - x);
            return [sel, style.outlineStyle, Math.round(((a + 0.05) / (b + 0.05)) * 100) / 100]; });
    }""", ["input[name=toName]", "[data-testid=pay]", "[data-testid=account-acc-1]",
           "[data-testid=sign-out]", ".skip-link", ".brand"])
    page.keyboard.press("Tab")  # keyboard modality, so :focus-visible applies as for a user
    for selector, style, ratio in ratios:
        assert style != "none", selector
        assert ratio >= 3, f"{selector}: focus ring contrast {ratio}:1"


def test_friendly_text_retry_per_panel_and_banner_clears(e2e_stack: E2EStack, page: Page) -> None:
    app = e2e_stack.bff.url + "/"
    sign_in(page, app, e2e_stack.issuer)
    failures = {"left": 1}

    def flaky(route: Route) -> None:
        if failures["left"] > 0:
            failures["left"] -= 1
            route.fulfill(status=502, content_type="application/json",
                          body='{"error": "api_unreachable", '
                               '"error_description": "the API could not be reached"}')
        else:
            route.continue_()

    page.route("**/api/accounts/acc-2/transactions", flaky)
    page.get_by_test_id("account-acc-2").click()
    banner = page.get_by_test_id("error")
    expect(banner).to_be_visible()
    expect(banner).not_to_contain_text("could not be reached")  # never the BFF's developer text
    retry = page.get_by_test_id("transactions").get_by_test_id("retry")
    retry.click()
    expect(page.get_by_test_id("transactions")).to_contain_text("Interest")
    expect(banner).to_be_hidden()

    def refuse(route: Route) -> None:
        route.fulfill(status=403, content_type="application/json",
                      body='{"error": "csrf_failed", '
                           '"error_description": "the CSRF token header is missing or wrong"}')

    page.route("**/api/payments", refuse)
    fill_payment(page, iban=VALID_IBAN)
    page.get_by_test_id("pay").click()
    problem = page.get_by_test_id("payment-error")
    expect(problem).to_have_text(
        "For your security this page needs to be reloaded. Please reload it and try again.")
    assert active(page) == "pay", "a server error keeps focus on the button"


def test_phone_layout_shows_the_validation_message(e2e_stack: E2EStack, browser: Browser,
                                                    screenshots: Path) -> None:
    context = browser.new_context(viewport={"width": 375, "height": 740}, device_scale_factor=2,
                                  is_mobile=True, has_touch=True, locale="en-US", timezone_id="UTC")
    try:
        page = context.new_page()
        app = e2e_stack.bff.url + "/"
        sign_in(page, app, e2e_stack.issuer)
        fill_payment(page, iban=BAD_IBAN)
        page.get_by_test_id("pay").click()
        message = page.get_by_test_id("error-toIban")
        expect(message).to_be_visible()
        box = message.bounding_box()
        assert box is not None
        assert 0 <= box["y"] and box["y"] + box["height"] <= 740, f"message off screen: {box}"
        assert box["x"] >= 0 and box["x"] + box["width"] <= 375, f"message cut off: {box}"
        width = page.evaluate("() => document.documentElement.scrollWidth")
        assert width <= 375, "no sideways scroll"
        shot = screenshots / "phone-validation-375.png"
        page.screenshot(path=shot)
        docs_copy = DOCS_IMG / "spa-phone-validation.png"
        if os.environ.get("UPDATE_DOCS_SCREENSHOTS") == "1" or not docs_copy.exists():
            DOCS_IMG.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(shot, docs_copy)
    finally:
        context.close()
