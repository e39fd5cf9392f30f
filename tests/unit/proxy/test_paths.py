"""The proxy path checker: an accepted path stays in the route base under any upstream decoding."""

from __future__ import annotations

import itertools
import posixpath
import unicodedata
from collections.abc import Callable
from urllib.parse import unquote_to_bytes

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from bff.errors import PathNotAllowed
from bff.proxy.paths import check_tail

BASE = "/base"


def lenient_utf8(data: bytes) -> str:
    """UTF-8 as a careless decoder reads it: overlong forms accepted (%c0%ae is '.')."""
    out: list[str] = []
    i = 0
    while i < len(data):
        b = data[i]
        width = 2 if 0xC0 <= b < 0xE0 else 3 if 0xE0 <= b < 0xF0 else 4 if 0xF0 <= b < 0xF8 else 1
        tail = data[i + 1:i + width]
        if width > 1 and len(tail) == width - 1 and all(0x80 <= t < 0xC0 for t in tail):
            cp = b & (0x3F >> (width - 1))
            for t in tail:
                cp = (cp << 6) | (t & 0x3F)
            out.append(chr(min(cp, 0x10FFFF)) if not 0xD800 <= cp < 0xE000 else "\ufffd")
            i += width
        else:
            out.append(chr(b))
            i += 1
    return "".join(out)


def pct(text: str) -> str:
    return lenient_utf8(unquote_to_bytes(text))


def pct_latin1(text: str) -> str:
    return unquote_to_bytes(text).decode("latin-1")


def strip_params(text: str) -> str:
    return "/".join(s.split(";", 1)[0] for s in text.split("/"))


def nul_truncate(text: str) -> str:
    return text.split("\x00", 1)[0]


# every reading of the path some upstream applies, alone or together
DECODINGS: list[Callable[[str], str]] = [lambda t: t, pct, pct_latin1, lambda t: pct(pct(t))]
FOLDINGS: list[Callable[[str], str]] = [
    lambda t: t.replace("\\", "/"), strip_params, lambda t: unicodedata.normalize("NFKC", t),
    nul_truncate]


def readings(tail: str) -> set[str]:
    """Every path an upstream may see for ``tail``."""
    out = set()
    for decode in DECODINGS:
        for n in range(len(FOLDINGS) + 1):
            for folds in itertools.permutations(FOLDINGS, n):
                text = decode(tail)
                for fold in folds:
                    text = fold(text)
                out.add(text)
    return out


FRAGMENTS = ["a", "b", "acc-1", ".", "..", ";", ";x=1", "%2e", "%2E", "%2f", "%5c", "%5C",
             "%25", "%252e", "%3b", "%3B", "%00", "\\", "%c0%ae", "%C0%AF", "%e0%80%ae",
             "%ef%bc%8e", "%ef%bc%8f", "%e2%80%a4", "%e2%80%a5", "%c3%a9", "%41", "%", "~",
             "%20", "%u002e", "%0a", "%ff", "%ed%a0%80"]
segment = st.lists(st.sampled_from(FRAGMENTS), max_size=4).map("".join)
tails = st.lists(segment, max_size=5).map(lambda segs: "".join("/" + s for s in segs))


def accepted(tail: bytes) -> str | None:
    try:
        return check_tail(tail)
    except PathNotAllowed:
        return None


@pytest.mark.spec("RFC 3986 §5.2.4")
@given(tails)
@example("/..;/accounts")
@example("/a/..%3B/b")
@example("/%c0%ae%c0%ae/x")
@example("/%ef%bc%8e%ef%bc%8e/x")
def test_no_accepted_path_leaves_the_base_under_any_decoding(tail: str) -> None:
    """Invariant: an accepted tail, read by any upstream decoding (percent-decoding once or twice,
    overlong UTF-8, ';' parameters stripped, '\\' as '/', NFKC, NUL truncation), resolves inside
    the base with no dot segment and no separator the BFF did not see."""
    if accepted(tail.encode()) is None:
        return
    for seen in readings(tail):
        resolved = posixpath.normpath(BASE + seen) if seen else BASE
        assert resolved == BASE or resolved.startswith(BASE + "/"), (tail, seen)
        segments = strip_params(seen.replace("\\", "/")).split("/")[1:]
        assert not {".", ".."} & {s.strip() for s in segments}, (tail, seen)
        assert seen.replace("\\", "/").count("/") <= tail.count("/"), (tail, seen)


@given(st.binary(max_size=40))
def test_any_bytes_are_accepted_as_is_or_refused(raw: bytes) -> None:
    """Invariant: any input is either refused with PathNotAllowed or forwarded byte for byte."""
    result = accepted(raw)
    assert result is None or result.encode() == raw


@pytest.mark.parametrize("tail", [
    "/..;/accounts", "/a/..;x=1/b", "/..%3B/accounts", "/a/..%3b/b", "/.;/a", "/;x/a",
    "/a//b", "/%c0%ae%c0%ae/x", "/%e0%80%ae%e0%80%ae/x", "/%ef%bc%8e%ef%bc%8e/x",
    "/%e2%80%a5/x", "/a%ef%bc%8f..", "/.../x", "/a/....;x", "/%20../x", "/..%20/x",
    "/a%0a", "/a%00", "/a%", "/a%zz", "/%ed%a0%80"])
def test_matrix_parameters_and_encoded_tricks_are_refused(tail: str) -> None:
    with pytest.raises(PathNotAllowed):
        check_tail(tail.encode())


@pytest.mark.parametrize("tail", ["", "/", "/accounts/acc-1/transactions", "/a;v=1/b",
                                  "/users/J%C3%BCrgen", "/a/b/", "/%41", "/a..b/.c", "/x;y"])
def test_ordinary_paths_pass_unchanged(tail: str) -> None:
    assert check_tail(tail.encode()) == tail
