"""Run the reference app instance against a BFF with the mobile door on (``bff demo --mobile``).

Steps: make an instance key, get an attestation from the local test attester, register,
sign in through the AS's login page in the system browser (real headless Chromium, as
ASWebAuthenticationSession / Custom Tabs would; ``--browser http`` drives the pages over
HTTP instead), call the example API, sign out, unregister.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from urllib.parse import urljoin

import httpx
from joserfc.jwk import ECKey

sys.path.insert(0, str(Path(__file__).resolve().parent))

from app_instance import AppInstance
from attester import LocalAttester
from system_browser import BrowserUnavailable, authorize_in_chromium, chromium, unavailable_reason

APP = "com.example.bank"
REDIRECT = "https://app.example.com/mobile/callback"


def http_browser(authorization_url: str, user: str) -> str:
    """Sign in on the AS's pages over HTTP; return the claimed-link URL the app is opened with."""
    with httpx.Client(follow_redirects=False, timeout=15) as browser:
        url = authorization_url
        for _ in range(20):
            if url.startswith(REDIRECT):
                return url
            page = browser.get(url)
            if page.status_code in (302, 303):
                url = urljoin(url, page.headers["location"])
                continue
            action = re.search(r'<form[^>]*action="([^"]+)"', page.text)
            if action is None:
                raise SystemExit(f"unexpected AS page ({page.status_code})")
            target = urljoin(url, action.group(1).replace("&amp;", "&"))
            form = ({"prompt": "login", "login": user, "password": "demo"}
                    if 'name="login"' in page.text else {"prompt": "consent"})
            answer = browser.post(target, data=form)
            url = urljoin(target, answer.headers["location"])
    raise SystemExit("sign-in did not finish")


def demo_one_time_code(user: str) -> str:
    """The dev AS's current code for ``user`` (what ``bff demo-code USER`` prints)."""
    from bff.demo_totp import code_at

    return code_at(user)


def chromium_browser(authorization_url: str, user: str) -> str:
    """Sign in on the AS's pages in real Chromium; return the claimed-link URL."""
    with chromium() as browser:
        return authorize_in_chromium(browser, authorization_url, REDIRECT, login=user,
                                     password="demo",
                                     one_time_code=lambda: demo_one_time_code(user))


def pick_browser(choice: str) -> str:
    """``chromium`` or ``http``: ``auto`` is Chromium when it and Playwright are here."""
    if choice == "auto":
        reason = unavailable_reason()
        if reason is None:
            return "chromium"
        print(f"note: {reason}; signing in over HTTP instead", file=sys.stderr)
        return "http"
    if choice == "chromium" and (reason := unavailable_reason()) is not None:
        raise SystemExit(f"run.py: {reason}; use --browser http to sign in over HTTP")
    return choice


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bff", default="http://localhost:8000")
    parser.add_argument("--public-url", default=None,
                        help="the BFF's server.public_url when it differs from --bff")
    parser.add_argument("--attester-key", required=True, help="the demo attester's private JWK")
    parser.add_argument("--user", default="alice")
    parser.add_argument("--browser", choices=["auto", "chromium", "http"], default="auto",
                        help="the system browser: real Chromium (auto: when installed) or HTTP")
    args = parser.parse_args()
    browser = pick_browser(args.browser)
    jwk = json.loads(Path(args.attester_key).read_text())
    attester = LocalAttester(kid=jwk["kid"], key=ECKey.import_key(jwk))
    app = AppInstance(args.bff, public_url=args.public_url)
    print("instance key thumbprint:", app.key.thumbprint())
    print("registered, instanceId =", app.register(attester.attest(APP, app.public_jwk)))
    sign_in = chromium_browser if browser == "chromium" else http_browser
    try:
        opened = sign_in(app.login_start(), args.user)
    except BrowserUnavailable as exc:
        app.unregister()
        app.close()
        raise SystemExit(f"run.py: {exc}; use --browser http to sign in over HTTP") from None
    print("signed in through", browser)
    print("signed in as", app.login_end(opened)["claims"].get("sub"))
    accounts = app.api("GET", "/api/accounts")
    print("GET /api/accounts ->", accounts.status_code, accounts.text[:200])
    print("refresh ->", app.refresh())
    print("logout ->", app.logout())
    print("unregister ->", app.unregister())
    app.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
