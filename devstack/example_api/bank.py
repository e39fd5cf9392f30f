"""In-memory accounts, transactions and payments for the example banking API."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, Final

_AMOUNT: Final = re.compile(r"^(0|[1-9][0-9]{0,11})(\.[0-9]{1,2})?$")
_MAX_REFERENCE: Final = 140
_MAX_NAME: Final = 140
_MAX_IBAN: Final = 42


class PaymentError(ValueError):
    """A payment request failed validation; the message is safe to show."""


@dataclass(slots=True)
class Transaction:
    """One booked movement on an account."""

    id: str
    booked_at: date
    description: str
    amount: Decimal
    currency: str

    def to_json(self) -> dict[str, str]:
        """Render with a signed decimal string amount."""
        return {
            "id": self.id,
            "bookedAt": self.booked_at.isoformat(),
            "description": self.description,
            "amount": f"{self.amount:.2f}",
            "currency": self.currency,
        }


@dataclass(slots=True)
class Account:
    """A current or savings account with its transactions, newest first."""

    id: str
    name: str
    iban: str
    currency: str
    balance: Decimal
    transactions: list[Transaction] = field(default_factory=list)

    def to_json(self) -> dict[str, str]:
        """Render with the balance as a decimal string."""
        return {
            "id": self.id,
            "name": self.name,
            "iban": self.iban,
            "currency": self.currency,
            "balance": f"{self.balance:.2f}",
        }


def _new_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(8)}"


class Bank:
    """Seeded accounts held in memory for the life of the process."""

    def __init__(self, today: date | None = None) -> None:
        """Seed two accounts with a few transactions each."""
        day = today or date.today()
        self.accounts: dict[str, Account] = {}
        everyday = Account("acc-1", "Everyday Account", "DE89 3704 0044 0532 0130 00", "EUR",
                           Decimal("2450.75"))
        savings = Account("acc-2", "Savings", "DE02 1203 0000 0000 2020 51", "EUR",
                          Decimal("12800.00"))
        seed = [
            (everyday, [
                (0, "Coffee Corner", "-3.80"),
                (1, "Grocery Market", "-64.15"),
                (3, "Salary ACME GmbH", "3120.00"),
                (5, "Rent", "-950.00"),
            ]),
            (savings, [(2, "Standing order from Everyday Account", "200.00"),
                       (33, "Interest", "12.40")]),
        ]
        for account, rows in seed:
            account.transactions = [
                Transaction(f"tx-{account.id}-{n}", day - timedelta(days=ago), text, Decimal(amt),
                            account.currency)
                for n, (ago, text, amt) in enumerate(rows, start=1)
            ]
            self.accounts[account.id] = account

    def check(self, request: Any) -> tuple[Account, str, str, str, Decimal]:
        """Validate a credit transfer without booking it (before any approval is spent)."""
        if not isinstance(request, dict):
            raise PaymentError("Body must be a JSON object")
        source = request.get("fromAccount")
        account = self.accounts.get(source) if isinstance(source, str) else None
        if account is None:
            raise PaymentError("Unknown fromAccount")
        to_name = _text(request, "toName", _MAX_NAME, required=True)
        to_iban = _text(request, "toIban", _MAX_IBAN, required=True)
        reference = _text(request, "reference", _MAX_REFERENCE, required=False)
        raw_amount = request.get("amount")
        # Strings only: a JSON number may already have lost precision in transit.
        if not isinstance(raw_amount, str) or not _AMOUNT.match(raw_amount):
            raise PaymentError("amount must be a positive decimal string with at most 2 places")
        amount = Decimal(raw_amount)
        if amount <= 0:
            raise PaymentError("amount must be positive")
        currency = request.get("currency", account.currency)
        if currency != account.currency:
            raise PaymentError("currency must match the account currency")
        if amount > account.balance:
            raise PaymentError("amount exceeds the available balance")
        return account, to_name, to_iban, reference, amount

    def pay(self, request: Any) -> dict[str, str]:
        """Validate and book a credit transfer, debiting the source account."""
        account, to_name, to_iban, reference, amount = self.check(request)
        payment_id = _new_id("pay")
        description = f"Payment to {to_name}" + (f": {reference}" if reference else "")
        account.balance -= amount
        account.transactions.insert(
            0, Transaction(_new_id("tx"), date.today(), description, -amount, account.currency)
        )
        return {
            "id": payment_id,
            "status": "booked",
            "fromAccount": account.id,
            "toName": to_name,
            "toIban": to_iban,
            "amount": f"{amount:.2f}",
            "currency": account.currency,
            "reference": reference,
        }


def _text(request: dict[str, Any], name: str, limit: int, *, required: bool) -> str:
    value = request.get(name, "")
    if not isinstance(value, str):
        raise PaymentError(f"{name} must be a string")
    value = value.strip()
    if required and not value:
        raise PaymentError(f"{name} is required")
    if len(value) > limit:
        raise PaymentError(f"{name} must be at most {limit} characters")
    return value
