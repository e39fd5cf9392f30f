"""Login transactions: sealed, short-lived, one use, a few at once (several tabs may log in)."""

from __future__ import annotations

import math
from collections.abc import Mapping

from bff.crypto.seal import Sealer
from bff.errors import InvalidSeal, LoginTransactionMissing, LoginTransactionUsed, StateMismatch
from bff.sessions.cookies import CookieNames, SetCookie
from bff.sessions.model import LoginTransaction
from bff.store import keys
from bff.store.base import Store


class LoginTransactions:
    """Seal, find and spend login transactions kept in ``__Host-bff-login.<hash>`` cookies."""

    def __init__(self, sealer: Sealer, names: CookieNames, store: Store, lifetime: int,
                 max_open: int) -> None:
        self._sealer = sealer
        self._names = names
        self._store = store
        self._lifetime = lifetime
        self._max_open = max_open
        # a browser holds at most max_open live ones and as many stale ones (say, after a key
        # rotation); more are forged, and unsealing or clearing each would cost time and headers
        self._max_read = 2 * max_open

    def _open_all(self, cookies: Mapping[str, str]) -> list[tuple[str, LoginTransaction | None]]:
        out: list[tuple[str, LoginTransaction | None]] = []
        for name, value in cookies.items():
            if name.startswith(self._names.login_prefix):
                if len(out) == self._max_read:
                    break
                try:
                    out.append((name, LoginTransaction.from_bytes(self._sealer.open(value, name))))
                except (InvalidSeal, ValueError, TypeError, KeyError):
                    out.append((name, None))
        return out

    def begin(self, txn: LoginTransaction, cookies: Mapping[str, str]) -> list[SetCookie]:
        """Cookies for a new transaction, dropping the oldest beyond the limit and broken ones."""
        secure = self._names.secure
        name = self._names.login(txn.state)
        out = [SetCookie(name, self._sealer.seal(txn.to_bytes(), name), self._lifetime, secure)]
        existing = self._open_all(cookies)
        out += [SetCookie(n, "", 0, secure) for n, t in existing if t is None]
        alive = sorted(((t.created_at, n) for n, t in existing if t is not None), reverse=True)
        out += [SetCookie(n, "", 0, secure) for _, n in alive[self._max_open - 1:]]
        return out

    async def finish(self, state: str, cookies: Mapping[str, str],
                     now: float) -> tuple[LoginTransaction, list[SetCookie]]:
        """The transaction for ``state``, spent once; its cookie is cleared."""
        secure = self._names.secure
        name = self._names.login(state)
        value = cookies.get(name)
        if value is None:
            if any(n.startswith(self._names.login_prefix) for n in cookies):
                raise StateMismatch("no login transaction for this state")
            raise LoginTransactionMissing("no login transaction cookie")
        clear = [SetCookie(name, "", 0, secure)]
        try:
            txn = LoginTransaction.from_bytes(self._sealer.open(value, name))
        except (InvalidSeal, ValueError, TypeError, KeyError) as exc:
            raise LoginTransactionMissing("login transaction cookie rejected") from exc
        if now > txn.created_at + self._lifetime or now < txn.created_at - 60:
            raise LoginTransactionMissing("login transaction expired")
        spent = await self._store.set_if_absent(keys.login_used(txn.transaction_id), b"1",
                                                ttl=math.ceil(self._lifetime + 60))
        if not spent:
            raise LoginTransactionUsed("login transaction already used")
        return txn, clear
