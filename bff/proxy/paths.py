"""Keeping a proxied path inside its route's upstream base path."""

from __future__ import annotations

import re

from bff.errors import PathNotAllowed

# encoded dot, slash, backslash or percent (double encoding) can smuggle traversal past a decoder
_ENCODED_TRICKS = re.compile(rb"%(2e|2f|5c|25|00)", re.IGNORECASE)
_ALLOWED = re.compile(rb"^[A-Za-z0-9\-._~!$&'()*+,;=:@/%]*$")


def check_tail(raw_tail: bytes) -> str:
    """The raw path after the route prefix, refused when it could leave the base path."""
    if raw_tail and not raw_tail.startswith(b"/"):
        raise PathNotAllowed("path does not continue the route prefix")
    if not _ALLOWED.fullmatch(raw_tail):
        raise PathNotAllowed("path has characters that are not allowed")
    if _ENCODED_TRICKS.search(raw_tail):
        raise PathNotAllowed("path has an encoded dot, slash, backslash or percent")
    segments = raw_tail.split(b"/")[1:]
    for i, segment in enumerate(segments):
        if segment in (b".", b".."):
            raise PathNotAllowed("path has a dot segment")
        if segment == b"" and i != len(segments) - 1:
            raise PathNotAllowed("path has an empty segment")
    return raw_tail.decode("ascii")
