"""The SDK's error-code union is generated from bff/errors.py, like docs/errors.md."""

from __future__ import annotations

import re
from pathlib import Path

from bff import errors as e
from bff.docs import CODES_PATH, main, render_error_codes_js, wire_codes


def test_sdk_error_codes_are_current() -> None:
    """spa-example/bff-client/error-codes.js is regenerated with ``python -m bff.docs``."""
    assert CODES_PATH.read_text(encoding="utf-8") == render_error_codes_js()


def test_sdk_error_codes_are_the_wire_codes() -> None:
    listed = re.findall(r"^  '([a-z0-9_]+)',$", render_error_codes_js(), flags=re.MULTILINE)
    assert listed == wire_codes()
    assert len(set(listed)) == len(listed)
    expected = {"csrf_failed", "session_expired", "login_transaction_used", "server_error"}
    assert expected <= set(listed)
    # sent as session_required, and never on the wire: not part of the union
    assert e.InvalidSeal.code not in listed
    assert e.ConfigError.code not in listed


def test_main_writes_both_files(tmp_path: Path) -> None:
    doc, codes = tmp_path / "errors.md", tmp_path / "sdk" / "error-codes.js"
    assert main([str(doc), str(codes)]) == 0
    assert codes.read_text(encoding="utf-8") == render_error_codes_js()
    assert doc.exists()
