"""Run the reference app instance against a BFF with the mobile door on (``bff demo --mobile``).

Steps: make an instance key, get an attestation from the local test attester, register,
sign in through the AS's login page (driven over HTTP here, standing in for the system
browser: ASWebAuthenticationSession / Custom Tabs), call the example API, sign out, unregister.
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

APP = "com.example.bank"
REDIRECT = "https://app.example.com/mobile/callback"


def system_browser(authorization_url: str, user: str) -> str:
    """Sign in on the AS's pages; return the claimed-link URL the OS would open the app with."""
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bff", default="http://localhost:8000")
    parser.add_argument("--attester-key", required=True, help="the demo attester's private JWK")
    parser.add_argument("--user", default="alice")
    args = parser.parse_args()
    jwk = json.loads(Path(args.attester_key).read_text())
    attester = LocalAttester(kid=jwk["kid"], key=ECKey.import_key(jwk))
    app = AppInstance(args.bff)
    print("instance key thumbprint:", app.key.thumbprint())
    print("registered, instanceId =", app.register(attester.attest(APP, app.public_jwk)))
    opened = system_browser(app.login_start(), args.user)
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
