"""Turn raw user input (form fields, CLI flags, import rows) into validated values, collecting every error."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from improvement import domain
from improvement.domain import DomainError


class ValidationFailed(DomainError):
    """One or more fields are wrong; ``errors`` maps each field to its message."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors
        super().__init__(
            "; ".join(f"{name}: {message}" for name, message in errors.items()), field=next(iter(errors), None)
        )


def problem_text(title: str, description: str) -> str:
    """What the classifier and the similar-problem index read: the title when it adds words, then the description."""
    if title and not description.startswith(title.rstrip(".…")):
        return f"{title}. {description}"
    return description


@dataclass(frozen=True)
class NewProblem:
    title: str
    description: str
    customer_story: str = ""
    touchpoint: str = ""
    segment: str = ""
    industry: str = ""
    customers_affected: int = 0
    value_at_risk: float = 0.0
    currency: str = "EUR"
    evidence: str = domain.Evidence.UNKNOWN.value
    root_cause: str = ""
    reporter: str = ""
    quarter: str | None = None
    owner: str | None = None
    kind: str | None = None  # a person's decision given up front wins over the classifier
    status: str | None = None

    @property
    def text(self) -> str:
        return problem_text(self.title, self.description)


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _short(name: str, required: bool = False) -> Callable[[Any], str]:
    return lambda v: domain.clean_line(v, field=name, required=required, limit=domain.MAX_SHORT)


def _long(name: str) -> Callable[[Any], str]:
    return lambda v: domain.clean_text(v, field=name, required=False)


_OPTIONAL: dict[str, Callable[[Any], Any]] = {
    "customer_story": _long("customer_story"),
    "root_cause": _long("root_cause"),
    "touchpoint": _short("touchpoint"),
    "segment": _short("segment"),
    "industry": _short("industry"),
    "reporter": _short("reporter"),
    "customers_affected": lambda v: domain.parse_non_negative_int(v, field="customers_affected"),
    "value_at_risk": lambda v: domain.parse_money(v),
    "currency": domain.parse_currency,
    "evidence": lambda v: domain.parse_evidence(v).value,
    "quarter": domain.parse_quarter,
    "owner": _short("owner"),
    "kind": lambda v: domain.parse_kind(v).value,
    "status": lambda v: domain.parse_status(v).value,
}


def validate_problem(raw: Mapping[str, Any]) -> NewProblem:
    """Validate a new problem; raises :class:`ValidationFailed` listing every bad field at once."""
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    try:
        values["description"] = domain.clean_text(
            raw.get("description", raw.get("text")), field="description", required=True
        )
    except DomainError as error:
        errors["description"] = str(error)
    try:
        title = domain.clean_line(raw.get("title"), field="title", required=False, limit=domain.MAX_TITLE)
        if not title and "description" in values:
            first_line = values["description"].split("\n", 1)[0]
            title = first_line if len(first_line) <= 90 else first_line[:89].rstrip() + "…"
        values["title"] = title
    except DomainError as error:
        errors["title"] = str(error)
    for name, parse in _OPTIONAL.items():
        value = raw.get(name)
        if _blank(value):
            continue
        try:
            values[name] = parse(value)
        except DomainError as error:
            errors[name] = str(error)
    unknown = set(raw) - set(_OPTIONAL) - {"title", "description", "text"}
    if unknown:
        errors["fields"] = f"unknown field(s): {', '.join(sorted(unknown))}"
    if errors:
        raise ValidationFailed(errors)
    values.setdefault("owner", None)
    return NewProblem(**values)


EDITABLE: dict[str, Callable[[Any], Any]] = {
    "title": lambda v: domain.clean_line(v, field="title", required=True, limit=domain.MAX_TITLE),
    "owner": lambda v: domain.clean_line(v, field="owner", required=False, limit=domain.MAX_SHORT) or None,
    "quarter": domain.parse_quarter,
    "effort": lambda v: domain.parse_scale(v, field="effort"),
    "impact": lambda v: domain.parse_scale(v, field="impact"),
    "proposed_fix": _long("proposed_fix"),
    "proactive_action": _long("proactive_action"),
    "cross_industry_idea": _long("cross_industry_idea"),
    "target": _long("target"),
    "outcome": _long("outcome"),
    # Inputs of the kind's priority formula (improvement.prioritisation); blank means the formula's default.
    "urgency": lambda v: _optional(v, lambda x: domain.parse_scale(x, field="urgency")),
    "risk_reduction": lambda v: _optional(v, lambda x: domain.parse_scale(x, field="risk_reduction")),
    "reach": lambda v: _optional(v, lambda x: domain.parse_non_negative_int(x, field="reach")),
    "rice_confidence": lambda v: _optional(v, lambda x: _percent(x, field="rice_confidence")),
    "value_protected": lambda v: _optional(v, lambda x: domain.parse_money(x, field="value_protected")),
}
# Edits that change the item's priority score.
PRIORITY_INPUTS = frozenset({"effort", "impact", "urgency", "risk_reduction", "reach", "rice_confidence"})


def _optional(value: Any, parse: Callable[[Any], Any]) -> Any:
    return None if _blank(value) else parse(value)


def _percent(value: Any, *, field: str) -> int:
    return domain.parse_non_negative_int(str(value).strip().rstrip("%"), field=field, limit=100)


def validate_edit(raw: Mapping[str, Any]) -> dict[str, Any]:
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    for name, value in raw.items():
        parse = EDITABLE.get(name)
        if parse is None:
            errors[name] = f"{name} cannot be edited here"
            continue
        try:
            values[name] = parse(value)
        except DomainError as error:
            errors[name] = str(error)
    if errors:
        raise ValidationFailed(errors)
    return values
