"""Strong customer authentication for payments: step-up (RFC 9470) and one-time approvals
of the exact payment (RFC 9396 ``payment_initiation``)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, Final

ACR_MFA: Final = "urn:bff:acr:mfa"
PAYMENT_TYPE: Final = "payment_initiation"
DEFAULT_THRESHOLD: Final = Decimal("100.00")


class StepUp(Exception):
    """The token's authentication is too weak for this payment (answer 401 with a challenge)."""

    def __init__(self, description: str, acr_values: str = ACR_MFA) -> None:
        super().__init__(description)
        self.acr_values = acr_values

    def challenge(self) -> str:
        """RFC 9470 §3: the ``WWW-Authenticate`` value."""
        return (f'DPoP error="insufficient_user_authentication", '
                f'error_description="{self}", acr_values="{self.acr_values}"')


class NotApproved(Exception):
    """The token approves another payment, or was already used (answer 403)."""


def _iban(value: object) -> str:
    return "".join(str(value).split()).upper()


def _amount(value: object) -> Decimal | None:
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def matches(detail: Mapping[str, Any], payment: Mapping[str, Any], currency: str) -> bool:
    """True when ``detail`` approves exactly this payment request (amount, currency, creditor
    name and IBAN, reference)."""
    instructed = detail.get("instructedAmount") or {}
    creditor = detail.get("creditorAccount") or {}
    wanted = _amount(payment.get("amount"))
    return (detail.get("type") == PAYMENT_TYPE and isinstance(instructed, dict)
            and isinstance(creditor, dict) and wanted is not None
            and _amount(instructed.get("amount")) == wanted
            and instructed.get("currency") == payment.get("currency", currency)
            and detail.get("creditorName") == str(payment.get("toName", "")).strip()
            and _iban(creditor.get("iban", "")) == _iban(payment.get("toIban", ""))
            and detail.get("remittanceInformationUnstructured", "")
            == str(payment.get("reference", "")).strip())


class PaymentPolicy:
    """Payments up to ``threshold`` need the session's token; above it, a token approving
    exactly this payment, from a two-factor sign-in, used once."""

    def __init__(self, threshold: Decimal = DEFAULT_THRESHOLD,
                 clock: Callable[[], float] = time.time) -> None:
        self.threshold = threshold
        self._clock = clock
        self._spent: dict[str, float] = {}  # jti -> exp

    def check(self, claims: Mapping[str, Any], payment: Any, currency: str) -> str | None:
        """Raise ``StepUp``/``NotApproved`` or admit; gives the jti to spend when admitted."""
        if not isinstance(payment, dict):
            return None  # the bank's own validation answers malformed bodies
        amount = _amount(payment.get("amount"))
        if amount is None or amount <= self.threshold:
            return None
        details = claims.get("authorization_details")
        approvals = [d for d in details if isinstance(d, dict)
                     and d.get("type") == PAYMENT_TYPE] if isinstance(details, list) else []
        if claims.get("acr") != ACR_MFA or not approvals:
            raise StepUp(f"payments above {self.threshold} need a two-factor approval")
        if not any(matches(d, payment, currency) for d in approvals):
            raise NotApproved("the payment differs from the approved one")
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti:
            raise NotApproved("the approval has no identifier")
        self._prune()
        if jti in self._spent:
            raise NotApproved("this approval was already used")
        exp = claims.get("exp")
        self._spent[jti] = float(exp) if isinstance(exp, int | float) else self._clock() + 3600
        return jti

    def _prune(self) -> None:
        now = self._clock()
        for jti in [j for j, exp in self._spent.items() if exp < now - 120]:
            del self._spent[jti]
