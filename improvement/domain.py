"""Domain rules: kinds, statuses and their transitions, quarters, validation limits, priority.

Pure Python on purpose: no Streamlit, SQLAlchemy or LangChain here, so the rules can be read and
tested on their own (a unit test checks the imports).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum


class DomainError(ValueError):
    """Bad input from a user: shown as one clear line, exit code 2 in the CLI."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class UnknownKind(DomainError):
    pass


class UnknownStatus(DomainError):
    pass


class InvalidQuarter(DomainError):
    pass


class InvalidTransition(DomainError):
    pass


class NotFound(DomainError):
    pass


class StaleEdit(DomainError):
    """Someone else saved the item after it was read: nothing was overwritten."""


class Kind(StrEnum):
    KAIZEN = "kaizen"
    KAIKAKU = "kaikaku"
    KAKUSHIN = "kakushin"


class Status(StrEnum):
    NEW = "new"
    TRIAGED = "triaged"
    PLANNED = "planned"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    DROPPED = "dropped"


# Moves a team really makes; anything else (e.g. new -> done without planning) is refused.
TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.NEW: frozenset({Status.TRIAGED, Status.PLANNED, Status.DROPPED}),
    Status.TRIAGED: frozenset({Status.NEW, Status.PLANNED, Status.IN_PROGRESS, Status.DROPPED}),
    Status.PLANNED: frozenset({Status.TRIAGED, Status.IN_PROGRESS, Status.DROPPED}),
    Status.IN_PROGRESS: frozenset({Status.PLANNED, Status.DONE, Status.DROPPED}),
    Status.DONE: frozenset({Status.IN_PROGRESS}),
    Status.DROPPED: frozenset({Status.NEW, Status.TRIAGED}),
}


class Evidence(StrEnum):
    VERIFIED = "verified"
    ASSUMPTION = "assumption"
    UNKNOWN = "unknown"


class DecidedBy(StrEnum):
    MODEL = "model"
    PERSON = "person"


MAX_TITLE = 200
MAX_TEXT = 20_000
MAX_SHORT = 200
MAX_CUSTOMERS = 1_000_000_000
MAX_VALUE = 1e13
# Control characters, zero-width marks, line/paragraph separators and bidi embeddings, overrides and
# isolates (U+202A-U+202E, U+2066-U+2069, U+061C): stripped from every text a person or file gives us.
_CONTROL = re.compile(
    r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]"
)
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]")
_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")


def parse_kind(value: object) -> Kind:
    try:
        return Kind(str(value).strip().lower())
    except ValueError:
        raise UnknownKind(
            f"unknown kind {value!r}: use one of {', '.join(k.value for k in Kind)}", field="kind"
        ) from None


def parse_status(value: object) -> Status:
    text = str(value).strip().lower().replace(" ", "_").replace("-", "_")
    try:
        return Status(text)
    except ValueError:
        raise UnknownStatus(
            f"unknown status {value!r}: use one of {', '.join(s.value for s in Status)}", field="status"
        ) from None


def parse_evidence(value: object) -> Evidence:
    try:
        return Evidence(str(value).strip().lower())
    except ValueError:
        raise DomainError(
            f"unknown evidence {value!r}: use verified, assumption or unknown", field="evidence"
        ) from None


def check_transition(current: Status, new: Status) -> None:
    if new == current:
        return
    if new not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(s.value for s in TRANSITIONS[current]))
        raise InvalidTransition(
            f"cannot move an item from {current.value} to {new.value}; from {current.value} it can go to {allowed}",
            field="status",
        )


def clean_text(value: object, *, field: str, required: bool, limit: int = MAX_TEXT) -> str:
    """Normalise user text: NFC, no control characters, trimmed; reject empty or oversized text.

    HTML is kept as typed (it is data); every view escapes it when showing it.
    """
    if value is None:
        value = ""
    if not isinstance(value, str):
        value = str(value)
    text = unicodedata.normalize("NFC", value)
    text = _CONTROL.sub("", text).replace("\r\n", "\n").replace("\r", "\n").strip()
    if required and not text:
        raise DomainError(f"{field} is empty: write what the customer experienced", field=field)
    if len(text) > limit:
        raise DomainError(f"{field} is {len(text):,} characters long; the limit is {limit:,}", field=field)
    return text


def clean_line(value: object, *, field: str, required: bool, limit: int = MAX_SHORT) -> str:
    """Like :func:`clean_text`, for one-line fields (titles, names): line breaks and tabs become spaces."""
    return " ".join(clean_text(value, field=field, required=required, limit=limit).split())


def printable(value: object) -> str:
    """Text for a terminal or a log line: every control, line break and bidi character shown as an escape
    (``\\n``, ``\\u202e``), so stored text can never forge a row or a line or reorder what is shown."""
    text = "" if value is None else str(value)
    return _UNPRINTABLE.sub(lambda m: m.group(0).encode("unicode_escape").decode("ascii"), text)


def parse_quarter(value: object) -> str:
    text = str(value).strip().upper()
    match = _QUARTER.match(text)
    if not match or not 2000 <= int(match.group(1)) <= 2100:
        raise InvalidQuarter(f"impossible quarter {value!r}: write it as 2026-Q4 (Q1 to Q4)", field="quarter")
    return text


def quarter_of(moment: date | datetime) -> str:
    return f"{moment.year}-Q{(moment.month - 1) // 3 + 1}"


def quarter_bounds(quarter: str) -> tuple[datetime, datetime]:
    """The quarter's first moment and the next quarter's first moment, in UTC."""
    year, q = int(quarter[:4]), int(quarter[-1])
    start = datetime(year, 3 * (q - 1) + 1, 1, tzinfo=UTC)
    following = shift_quarter(quarter, 1)
    end = datetime(int(following[:4]), 3 * (int(following[-1]) - 1) + 1, 1, tzinfo=UTC)
    return start, end


def shift_quarter(quarter: str, by: int) -> str:
    year, q = int(quarter[:4]), int(quarter[-1])
    index = year * 4 + (q - 1) + by
    return f"{index // 4}-Q{index % 4 + 1}"


def quarters_back(quarter: str, count: int) -> list[str]:
    """The ``count`` quarters ending with ``quarter``, oldest first."""
    return [shift_quarter(quarter, -i) for i in range(count - 1, -1, -1)]


def parse_non_negative_int(value: object, *, field: str, limit: int = MAX_CUSTOMERS) -> int:
    try:
        number = float(str(value).strip())
    except ValueError:
        raise DomainError(f"{field} must be a whole number, got {value!r}", field=field) from None
    if not math.isfinite(number) or number != int(number) or number < 0 or number > limit:
        raise DomainError(f"{field} must be a whole number from 0 to {limit:,}, got {value!r}", field=field)
    return int(number)


def parse_money(value: object, *, field: str = "value_at_risk") -> float:
    text = str(value).strip().replace(",", "").replace("_", "")
    try:
        number = float(text)
    except ValueError:
        raise DomainError(f"{field} must be an amount of money, got {value!r}", field=field) from None
    if not math.isfinite(number) or number < 0 or number > MAX_VALUE:
        raise DomainError(f"{field} must be between 0 and {MAX_VALUE:,.0f}, got {value!r}", field=field)
    return round(number, 2)


def parse_currency(value: object) -> str:
    text = str(value or "EUR").strip().upper()
    if not _CURRENCY.match(text):
        raise DomainError(
            f"currency must be a three-letter ISO code such as EUR or USD, got {value!r}", field="currency"
        )
    return text


def parse_scale(value: object, *, field: str) -> int:
    """Effort and impact: 1 (small) to 5 (large)."""
    number = parse_non_negative_int(value, field=field, limit=5)
    if number < 1:
        raise DomainError(f"{field} must be from 1 to 5, got {value!r}", field=field)
    return number


REPORT_KEY_FIELDS = ("title", "description", "customer_story", "touchpoint", "segment", "industry", "root_cause")


def report_key(created_at: datetime | None, fields: dict[str, object]) -> str:
    """A report's stable key: SHA-256 of its time (UTC, to the microsecond; empty when unknown) and its
    normalised text fields (``REPORT_KEY_FIELDS``: Unicode NFC, runs of white space as one space, trimmed).

    Numbers, the reporter and the item's fields are left out on purpose: the same report keeps its key when
    it is re-imported by someone else, into another item, or with its value at risk re-estimated. Two rows
    with the same time and the same text in every field are the same report.
    """
    moment = ""
    if created_at is not None:
        aware = created_at if created_at.tzinfo else created_at.replace(tzinfo=UTC)
        moment = aware.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")
    texts = [" ".join(unicodedata.normalize("NFC", str(fields.get(name) or "")).split()) for name in REPORT_KEY_FIELDS]
    return hashlib.sha256(json.dumps([moment, *texts], ensure_ascii=False).encode("utf-8")).hexdigest()


def priority_score(*, value_at_risk: float, customers_affected: int, impact: int, effort: int) -> float:
    """Value at risk first: the money leads, impact and effort only reorder items of similar value.

    log10 keeps a 1,000,000 item above a 100,000 one whatever the effort; the impact/effort ratio
    (0.2..5) moves an item by at most ~0.7 of a decade, and customers affected break ties.
    """
    money = math.log10(1.0 + max(value_at_risk, 0.0))
    leverage = math.log10(max(impact, 1) / max(effort, 1)) / 1.0
    reach = math.log10(1.0 + max(customers_affected, 0)) / 10.0
    return round(10.0 * money + 3.0 * leverage + reach, 4)


@dataclass(frozen=True)
class Classification:
    """What kind of improvement a problem calls for, how sure the classifier is and why."""

    kind: Kind
    confidence: float
    rationale: str
    needs_review: bool
    probabilities: dict[str, float]
    similar_examples: tuple[str, ...] = ()
    classifier: str = "offline"

    def as_json(self) -> dict[str, object]:
        return {
            "kind": self.kind.value,
            "confidence": round(self.confidence, 4),
            "rationale": self.rationale,
            "needs_review": self.needs_review,
        }
