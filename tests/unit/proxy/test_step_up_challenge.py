"""Reading RFC 9470 step-up challenges from an API's WWW-Authenticate values."""

from __future__ import annotations

import pytest

from bff.proxy.step_up import step_up_of


@pytest.mark.spec("RFC 9470 §3")
@pytest.mark.parametrize(("header", "acr", "max_age"), [
    ('DPoP error="insufficient_user_authentication", acr_values="urn:a urn:b", algs="ES256"',
     "urn:a urn:b", None),
    ('Bearer realm="x", DPoP error="insufficient_user_authentication", max_age=300',
     None, 300),
    ('DPoP error_description="a, b", error="insufficient_user_authentication", max_age="5"',
     None, 5),
])
def test_step_up_parameters_are_read(header: str, acr: str | None, max_age: int | None) -> None:
    step_up = step_up_of([header])
    assert step_up is not None
    assert (step_up.acr_values, step_up.max_age) == (acr, max_age)


@pytest.mark.parametrize("header", [
    'DPoP error="invalid_token"', 'DPoP error="use_dpop_nonce"', "DPoP", "",
    'DPoP error="insufficient_scope", scope="insufficient_user_authentication"'])
def test_other_challenges_are_not_step_ups(header: str) -> None:
    assert step_up_of([header]) is None


@pytest.mark.parametrize("header", [
    'DPoP error="insufficient_user_authentication", acr_values="<script>", max_age=-1',
    'DPoP error="insufficient_user_authentication", acr_values="a\\"b", max_age=99999999999'])
def test_values_outside_the_grammar_never_reach_the_browser(header: str) -> None:
    step_up = step_up_of([header])
    assert step_up is not None and step_up.acr_values is None and step_up.max_age is None
