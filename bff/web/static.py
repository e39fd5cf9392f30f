"""The SPA's files: only what a browser needs, never tooling that shares the folder."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

# an app folder often holds its package tooling (node_modules, tests, lockfiles, dotfiles):
# a deployment that points static_dir at a checkout must not publish them
HIDDEN_SEGMENTS = frozenset({"node_modules", "test", "tests", "package.json",
                             "package-lock.json", "tsconfig.json"})


def is_hidden(path: str) -> bool:
    """True for a path with a dot-segment-like name or a tooling folder in it."""
    # "." is the folder itself (the index page)
    return any((part.startswith(".") and part != ".") or part in HIDDEN_SEGMENTS
               for part in path.replace("\\", "/").split("/") if part)


class SPAFiles(StaticFiles):
    """``StaticFiles`` that answers 404 for hidden and tooling paths."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        if is_hidden(path):
            raise HTTPException(status_code=404)
        return await super().get_response(path, scope)
