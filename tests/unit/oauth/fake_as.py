"""A scripted authorization server for httpx.MockTransport: records calls, answers per path."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import httpx

ISSUER = "https://as.example"

Answer = httpx.Response | Callable[[httpx.Request], httpx.Response]


def metadata(issuer: str | None = ISSUER, **changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "issuer": issuer,
        "authorization_endpoint": f"{ISSUER}/authorize",
        "token_endpoint": f"{ISSUER}/token",
        "jwks_uri": f"{ISSUER}/jwks",
        "pushed_authorization_request_endpoint": f"{ISSUER}/par",
        "userinfo_endpoint": f"{ISSUER}/me",
        "end_session_endpoint": f"{ISSUER}/session/end",
    }
    doc.update(changes)
    return {k: v for k, v in doc.items() if v is not None}


@dataclass
class FakeAS:
    """Answers each path from a queue (the last answer repeats) and records every request."""

    answers: dict[str, list[Answer]] = field(default_factory=dict)
    calls: list[httpx.Request] = field(default_factory=list)

    def on(self, path: str, *answers: Answer) -> None:
        self.answers[path] = list(answers)

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(request)
        queue = self.answers.get(request.url.path)
        if not queue:
            return httpx.Response(404, json={"error": "not_found"})
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        return answer(request) if callable(answer) else answer

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(self.handler))

    def paths(self) -> list[str]:
        return [c.url.path for c in self.calls]

    def forms(self, path: str) -> list[dict[str, list[str]]]:
        return [parse_qs(c.content.decode()) for c in self.calls if c.url.path == path]

    def requests(self, path: str) -> list[httpx.Request]:
        return [c for c in self.calls if c.url.path == path]


def json_response(body: Any, status: int = 200, **headers: str) -> httpx.Response:
    return httpx.Response(status, content=json.dumps(body).encode(),
                          headers={"content-type": "application/json",
                                   **{k.replace("_", "-"): v for k, v in headers.items()}})
