"""Priority that fits the kind of improvement, with its formula and inputs spelled out.

- kaizen, a quick win: the money and the customers a small fix protects, against its effort;
- kaikaku, WSJF (weighted shortest job first): the cost of delay (value at risk per month of delay,
  urgency, risk reduction) over the size of the job;
- kakushin, RICE: reach x impact x confidence over effort.

A leader can change the weights (``Weights``); every item's score is recomputed when they change and
whenever one of its inputs changes. Scores rank items *within* a kind: a quick kaizen fix and a kakushin
experiment are not put on one scale. Pure Python, no framework.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from improvement.domain import DomainError, Kind

MONTHS_PER_YEAR = 12
DEFAULT_URGENCY = 3
DEFAULT_RISK_REDUCTION = 3
DEFAULT_RICE_CONFIDENCE = 50  # percent: "a hunch", until an experiment says more
MAX_WEIGHT = 10.0

METHOD = {Kind.KAIZEN: "quick win", Kind.KAIKAKU: "WSJF", Kind.KAKUSHIN: "RICE"}

# The weights each formula takes, with their defaults and what they weigh.
WEIGHT_NAMES: dict[Kind, dict[str, tuple[float, str]]] = {
    Kind.KAIZEN: {
        "value": (1.0, "value at risk (log10)"),
        "customers": (1.0, "customers affected (log10)"),
        "effort": (1.0, "effort (exponent)"),
    },
    Kind.KAIKAKU: {
        "value": (1.0, "value at risk per month of delay (log10)"),
        "urgency": (1.0, "urgency, 1-5"),
        "risk_reduction": (1.0, "risk reduction, 1-5"),
        "effort": (1.0, "job size = effort (exponent)"),
    },
    Kind.KAKUSHIN: {
        "reach": (1.0, "reach, customers (log10)"),
        "impact": (1.0, "impact, 1-5 (exponent)"),
        "confidence": (1.0, "confidence, 0-100% (exponent)"),
        "effort": (1.0, "effort (exponent)"),
    },
}


@dataclass(frozen=True)
class Weights:
    """The weights of the three formulas, by kind and name."""

    by_kind: dict[str, dict[str, float]] = field(default_factory=dict)

    def of(self, kind: Kind | str) -> dict[str, float]:
        kind = Kind(kind)
        defaults = {name: default for name, (default, _) in WEIGHT_NAMES[kind].items()}
        return {**defaults, **self.by_kind.get(kind.value, {})}

    def is_default(self, kind: Kind | str) -> bool:
        kind = Kind(kind)
        return self.of(kind) == {name: default for name, (default, _) in WEIGHT_NAMES[kind].items()}


DEFAULT_WEIGHTS = Weights()


def parse_weights(kind: object, raw: Mapping[str, Any]) -> tuple[Kind, dict[str, float]]:
    """Validate a leader's weights for one kind: known names, numbers from 0 to 10."""
    from improvement.domain import parse_kind

    parsed_kind = parse_kind(kind)
    allowed = WEIGHT_NAMES[parsed_kind]
    out: dict[str, float] = {}
    for name, value in raw.items():
        if name not in allowed:
            raise DomainError(
                f"{parsed_kind.value} ({METHOD[parsed_kind]}) has no weight {name!r}: use {', '.join(allowed)}",
                field="weights",
            )
        try:
            number = float(str(value).strip())
        except ValueError:
            raise DomainError(f"weight {name} must be a number, got {value!r}", field="weights") from None
        if not math.isfinite(number) or not 0 <= number <= MAX_WEIGHT:
            raise DomainError(f"weight {name} must be from 0 to {MAX_WEIGHT:g}, got {value!r}", field="weights")
        out[name] = number
    return parsed_kind, out


@dataclass(frozen=True)
class ItemInputs:
    """What the formulas read from an item."""

    kind: str
    value_at_risk: float = 0.0
    customers_affected: int = 0
    effort: int = 3
    impact: int = 3
    urgency: int | None = None
    risk_reduction: int | None = None
    reach: int | None = None  # None: the customers affected
    rice_confidence: int | None = None  # percent


@dataclass(frozen=True)
class Score:
    kind: str
    method: str
    value: float
    formula: str  # the formula with this item's numbers in it
    inputs: dict[str, float]


def _r(x: float) -> float:
    return round(x, 4)


def score(item: ItemInputs, weights: Weights = DEFAULT_WEIGHTS) -> Score:
    """The item's priority by the formula that fits its kind."""
    kind = Kind(item.kind)
    w = weights.of(kind)
    effort = max(int(item.effort or 3), 1)
    effort_term = effort ** w["effort"]
    value = max(float(item.value_at_risk or 0), 0.0)
    if kind == Kind.KAIZEN:
        customers = max(int(item.customers_affected or 0), 0)
        gain = w["value"] * math.log10(1 + value) + w["customers"] * math.log10(1 + customers)
        result = gain / effort_term
        formula = (
            f"({w['value']:g} × log10(1 + {value:,.0f}) + {w['customers']:g} × log10(1 + {customers:,})) "
            f"÷ {effort}^{w['effort']:g} = {result:.2f}"
        )
        inputs = {"value_at_risk": value, "customers_affected": customers, "effort": effort}
    elif kind == Kind.KAIKAKU:
        monthly = value / MONTHS_PER_YEAR
        urgency = int(item.urgency or DEFAULT_URGENCY)
        risk = int(item.risk_reduction or DEFAULT_RISK_REDUCTION)
        cost_of_delay = w["value"] * math.log10(1 + monthly) + w["urgency"] * urgency + w["risk_reduction"] * risk
        result = cost_of_delay / effort_term
        formula = (
            f"cost of delay ({w['value']:g} × log10(1 + {monthly:,.0f}/month) + {w['urgency']:g} × {urgency} "
            f"+ {w['risk_reduction']:g} × {risk}) ÷ job size {effort}^{w['effort']:g} = {result:.2f}"
        )
        inputs = {"value_per_month": _r(monthly), "urgency": urgency, "risk_reduction": risk, "effort": effort}
    else:
        reach = int(item.reach if item.reach is not None else item.customers_affected or 0)
        impact = max(int(item.impact or 3), 1)
        confidence = int(item.rice_confidence if item.rice_confidence is not None else DEFAULT_RICE_CONFIDENCE)
        result = (
            w["reach"]
            * math.log10(1 + max(reach, 0))
            * impact ** w["impact"]
            * (confidence / 100) ** w["confidence"]
            / effort_term
        )
        formula = (
            f"reach {w['reach']:g} × log10(1 + {reach:,}) × impact {impact}^{w['impact']:g} × confidence "
            f"{confidence}%^{w['confidence']:g} ÷ effort {effort}^{w['effort']:g} = {result:.2f}"
        )
        inputs = {"reach": reach, "impact": impact, "confidence_pct": confidence, "effort": effort}
    return Score(kind=kind.value, method=METHOD[kind], value=_r(result), formula=formula, inputs=inputs)


def formula_text(kind: Kind | str, weights: Weights = DEFAULT_WEIGHTS) -> str:
    """The formula of a kind in words, with the weights in force."""
    kind = Kind(kind)
    w = weights.of(kind)
    if kind == Kind.KAIZEN:
        return (
            f"Quick win = ({w['value']:g} × log10(1 + value at risk) + {w['customers']:g} × log10(1 + customers "
            f"affected)) ÷ effort^{w['effort']:g}"
        )
    if kind == Kind.KAIKAKU:
        return (
            f"WSJF = cost of delay ÷ job size; cost of delay = {w['value']:g} × log10(1 + value at risk ÷ 12 per "
            f"month) + {w['urgency']:g} × urgency + {w['risk_reduction']:g} × risk reduction; job size = "
            f"effort^{w['effort']:g}"
        )
    return (
        f"RICE = {w['reach']:g} × log10(1 + reach) × impact^{w['impact']:g} × confidence^{w['confidence']:g} "
        f"÷ effort^{w['effort']:g}"
    )
