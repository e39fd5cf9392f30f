"""Keeping a proxied path inside its route's upstream base path.

An upstream may decode the path it receives in more ways than RFC 3986 asks for: percent-decode
once or twice, strip ``;`` matrix parameters before resolving dot segments (Tomcat, Jetty,
Spring), read ``\\`` as ``/``, accept overlong UTF-8, fold compatibility characters (NFKC). The
check refuses any tail that any of these readings would turn into a dot segment or a new
separator, so the upstream resolves the path exactly as the BFF checked it.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from urllib.parse import unquote_to_bytes

from bff.errors import PathNotAllowed

# encoded dot, slash, backslash, percent (double encoding), semicolon (a smuggled matrix
# parameter) or control character can change the path after the BFF has checked it
_ENCODED_TRICKS = re.compile(rb"%(2e|2f|5c|25|3b|[01][0-9a-f]|7f)", re.IGNORECASE)
_ALLOWED = re.compile(rb"^[A-Za-z0-9\-._~!$&'()*+,;=:@/%]*$")
_BAD_ESCAPE = re.compile(rb"%(?![0-9A-Fa-f]{2})")
# what a folding upstream could read as a separator, a parameter or an escape
_FOLDED_SPECIALS = frozenset("/\\;%")


def check_tail(raw_tail: bytes) -> str:
    """The raw path after the route prefix, refused when it could leave the base path."""
    # long tails are checked afresh: 4096 cached entries stay under 2 MiB
    tail, refusal = _verdict(raw_tail) if len(raw_tail) <= 512 else _uncached(raw_tail)
    if refusal:
        raise PathNotAllowed(refusal)
    return tail


def _uncached(raw_tail: bytes) -> tuple[str, str]:
    """The checked tail and no refusal, or no tail and why it is refused."""
    try:
        return _check(raw_tail), ""
    except PathNotAllowed as exc:
        return "", exc.detail


# an API's paths repeat call after call; a hostile stream of new ones only evicts (bounded)
_verdict = functools.lru_cache(maxsize=4096)(_uncached)


def _check(raw_tail: bytes) -> str:
    if raw_tail and not raw_tail.startswith(b"/"):
        raise PathNotAllowed("path does not continue the route prefix")
    if not _ALLOWED.fullmatch(raw_tail):
        raise PathNotAllowed("path has characters that are not allowed")
    if _ENCODED_TRICKS.search(raw_tail) or _BAD_ESCAPE.search(raw_tail):
        raise PathNotAllowed("path has an encoded dot, slash, backslash, percent or semicolon")
    segments = raw_tail.split(b"/")[1:]
    for i, segment in enumerate(segments):
        # Tomcat, Jetty and Spring drop ";params" before resolving dot segments: "..;x" is ".."
        name = segment.split(b";", 1)[0]
        if name and not name.strip(b"."):  # "...": Windows-style trimming reads it as ".."
            raise PathNotAllowed("path has a dot segment")
        if name == b"" and (segment != b"" or i != len(segments) - 1):
            raise PathNotAllowed("path has an empty segment")
    if b"%" in raw_tail:
        _check_decoded(raw_tail)
    return raw_tail.decode("ascii")


def _check_decoded(raw_tail: bytes) -> None:
    """Refuse escapes that are not strict UTF-8 or fold (NFKC) into dots or separators."""
    try:
        decoded = unquote_to_bytes(raw_tail).decode("utf-8")  # strict: no overlong forms
    except UnicodeDecodeError as exc:
        raise PathNotAllowed("path has an escape that is not UTF-8") from exc
    folded = unicodedata.normalize("NFKC", decoded)
    raw_specials = [c for c in raw_tail.decode("ascii") if c in _FOLDED_SPECIALS and c != "%"]
    if [c for c in folded if c in _FOLDED_SPECIALS] != raw_specials or "\x00" in folded:
        raise PathNotAllowed("path has an escape that reads as a separator")
    for segment in folded.split("/")[1:]:
        name = segment.split(";", 1)[0].strip()
        if name and not name.strip("."):
            raise PathNotAllowed("path has an escape that reads as a dot segment")
