"""The example API's payment policy: step-up above a threshold, exact and one-time approvals."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from example_api.sca import ACR_MFA, NotApproved, PaymentPolicy, StepUp

PAYMENT = {"fromAccount": "acc-1", "toName": "Bob", "toIban": "DE44 5001 0517 5407 3249 31",
           "amount": "150", "reference": "Car"}
DETAIL = {"type": "payment_initiation",
          "instructedAmount": {"amount": "150.00", "currency": "EUR"},
          "creditorName": "Bob", "creditorAccount": {"iban": "DE44500105175407324931"},
          "remittanceInformationUnstructured": "Car"}


def claims(**extra: Any) -> dict[str, Any]:
    return {"acr": ACR_MFA, "jti": "j1", "exp": 2_000_000_000,
            "authorization_details": [DETAIL], **extra}


def test_small_payments_need_no_approval() -> None:
    assert PaymentPolicy().check({}, {**PAYMENT, "amount": "100.00"}, "EUR") is None


@pytest.mark.spec("RFC 9470 §3")
@pytest.mark.parametrize("token", [{}, claims(acr="urn:bff:acr:pwd"),
                                   claims(authorization_details=[])])
def test_large_payments_ask_for_a_step_up(token: dict[str, Any]) -> None:
    with pytest.raises(StepUp) as caught:
        PaymentPolicy(Decimal("100")).check(token, PAYMENT, "EUR")
    assert 'error="insufficient_user_authentication"' in caught.value.challenge()
    assert f'acr_values="{ACR_MFA}"' in caught.value.challenge()


@pytest.mark.spec("RFC 9396 §7")
@pytest.mark.parametrize("change", [{"amount": "150.01"}, {"toName": "Eve"},
                                    {"toIban": "DE02 1203 0000 0000 2020 51"},
                                    {"reference": "Car!"}, {"currency": "USD"}])
def test_an_approval_covers_exactly_its_payment(change: dict[str, str]) -> None:
    with pytest.raises(NotApproved):
        PaymentPolicy().check(claims(), {**PAYMENT, **change}, "EUR")


@pytest.mark.spec("RFC 9396 §7")
def test_an_approval_is_used_once() -> None:
    policy = PaymentPolicy()
    assert policy.check(claims(), PAYMENT, "EUR") == "j1"
    with pytest.raises(NotApproved):
        policy.check(claims(), PAYMENT, "EUR")
