"""The error model: stable codes, fixed descriptions, one status mapping, a generated doc."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from bff import errors as e
from bff.docs import CATEGORY_DEFAULTS, NOT_HTTP, error_classes, main, render_errors_markdown
from bff.web.errors import error_body, status_for

DOC = Path(__file__).parents[3] / "docs" / "errors.md"
CLASSES = error_classes()
HTTP_CLASSES = [c for c in CLASSES if not issubclass(c, NOT_HTTP)]


def instance(cls: type[e.BFFError], detail: str = "") -> e.BFFError:
    if cls is e.ConfigError:
        return e.ConfigError([e.Problem("key", detail or "message")])
    return cls(detail)


def test_every_class_in_the_module_is_found() -> None:
    in_module = {v for v in vars(e).values()
                 if isinstance(v, type) and issubclass(v, e.BFFError) and v is not e.BFFError}
    assert set(CLASSES) == in_module
    assert len(CLASSES) == len(in_module)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_code_and_description(cls: type[e.BFFError]) -> None:
    assert re.fullmatch(r"[a-z][a-z0-9_]*", cls.code)
    assert cls.description.strip()
    assert cls.code != e.BFFError.code
    assert cls.description != e.BFFError.description


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_description_has_no_placeholders(cls: type[e.BFFError]) -> None:
    assert not re.search(r"\{.*\}|%[sdr(]|\$\{", cls.description)


def test_codes_unique_except_category_defaults() -> None:
    counts = Counter(cls.code for cls in CLASSES)
    shared = {code for code, n in counts.items() if n > 1}
    assert shared == {parent.code for parent in CATEGORY_DEFAULTS}
    for parent, child in CATEGORY_DEFAULTS.items():
        assert child.__bases__ == (parent,)
        assert counts[parent.code] == 2
        assert child.code == parent.code
        assert child.description == parent.description


@pytest.mark.parametrize("cls", HTTP_CLASSES, ids=lambda c: c.__name__)
def test_each_maps_to_a_status_not_500(cls: type[e.BFFError]) -> None:
    status = status_for(instance(cls))
    assert 400 <= status < 600
    assert status != 500


def test_config_error_never_reaches_http() -> None:
    assert NOT_HTTP == (e.ConfigError,)
    assert status_for(instance(e.ConfigError)) == 500


@pytest.mark.parametrize(("cls", "status"), [
    (e.InvalidRequest, 400), (e.PayloadTooLarge, 413), (e.SessionExpired, 401),
    (e.InvalidSeal, 401), (e.CSRFFailed, 403), (e.AuthorizationServerTimeout, 502),
    (e.DPoPNonceRequired, 502), (e.StateMismatch, 502), (e.ResourceServerTimeout, 504),
    (e.StoreUnavailable, 503),
])
def test_status_examples(cls: type[e.BFFError], status: int) -> None:
    assert status_for(cls()) == status


def test_unexpected_errors_are_500_server_error() -> None:
    status, body = error_body(RuntimeError("db password=hunter2"))
    assert status == 500
    assert json.loads(body) == {"error": "server_error", "error_description": "internal error"}


@pytest.mark.spec("STYLE §3.5")
@pytest.mark.parametrize("cls", HTTP_CLASSES, ids=lambda c: c.__name__)
def test_error_body_never_includes_the_detail(cls: type[e.BFFError]) -> None:
    """STYLE §3.5: the body is the fixed code and description; the detail is only logged."""
    detail = "kid=abc123 token=eyJsecret"
    exc = instance(cls, detail)
    assert exc.detail == detail
    status, body = error_body(exc)
    parsed = json.loads(body)
    assert set(parsed) == {"error", "error_description"}
    assert "abc123" not in body.decode()
    assert "eyJsecret" not in body.decode()
    assert status == status_for(exc)


@pytest.mark.spec("DESIGN §4")
def test_invalid_seal_is_sent_as_session_required() -> None:
    """DESIGN §4: a rejected cookie looks like no session at all."""
    status, body = error_body(e.InvalidSeal("tag mismatch"))
    assert (status, json.loads(body)["error"]) == (401, "session_required")


def test_detail_defaults_to_the_description() -> None:
    exc = e.StateMismatch()
    assert exc.detail == ""
    assert str(exc) == e.StateMismatch.description
    assert "state_mismatch" in repr(exc)


def test_config_error_carries_every_problem() -> None:
    problems = [e.Problem("a", "one"), e.Problem("b.c", "two")]
    exc = e.ConfigError(problems)
    assert exc.problems == problems
    assert str(exc) == "a: one\nb.c: two"


def test_authorization_server_error_keeps_the_oauth_code() -> None:
    exc = e.AuthorizationServerError("token: HTTP 400", oauth_error="invalid_grant")
    assert exc.oauth_error == "invalid_grant"
    assert "invalid_grant" not in error_body(exc)[1].decode()


def test_errors_doc_is_current() -> None:
    """docs/errors.md is regenerated with ``python -m bff.docs`` whenever errors change."""
    assert DOC.read_text(encoding="utf-8") == render_errors_markdown()


def test_doc_lists_each_code_once() -> None:
    doc = render_errors_markdown()
    assert "python -m bff.docs" in doc
    codes = re.findall(r"^\| `([a-z_]+)` \|", doc, flags=re.MULTILINE)
    assert sorted(codes) == sorted({cls.code for cls in CLASSES})
    for cls in CLASSES:
        assert f"`{cls.__name__}`" in doc
    assert "(sent as `session_required`)" in doc


def test_main_writes_the_doc(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "out" / "errors.md"
    assert main([str(target)]) == 0
    assert target.read_text(encoding="utf-8") == render_errors_markdown()
    assert str(target) in capsys.readouterr().out
