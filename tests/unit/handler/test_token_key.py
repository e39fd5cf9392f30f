"""The session's key for a route's access token: one per (resource, scopes)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bff.handler.service import split_token_key, token_key

_scope = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E,
                                        exclude_characters='"\\\\'), min_size=1, max_size=8)
_resource = st.sampled_from(["", "https://api.example/", "https://api.example/v2"])


def test_without_scopes_the_key_is_the_resource() -> None:
    assert token_key("https://api.example/") == "https://api.example/"
    assert token_key("") == ""


@given(_resource, st.lists(_scope, max_size=4))
def test_key_round_trips_and_ignores_order(resource: str, scopes: list[str]) -> None:
    """Invariant: the key names the resource and the scope set, whatever the order or repeats,
    so tokens are cached per (resource, scopes)."""
    key = token_key(resource, scopes)
    assert split_token_key(key) == (resource, " ".join(sorted(set(scopes))))
    assert token_key(resource, list(reversed(scopes)) + scopes) == key
