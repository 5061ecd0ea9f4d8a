"""The one way a new backlog item comes to be: logging a problem, importing a file and the demo all build
an item's stored values here, so the rules for a new item (who decided its kind, whether it needs a
person's review, its quarter, its done date, its priority) cannot drift between them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from improvement import domain
from improvement.domain import DecidedBy, Kind, Status
from improvement.prioritisation import DEFAULT_WEIGHTS, ItemInputs, Weights, score

# Items whose confidence is below this are flagged for review when no fitted classifier gave a threshold of
# its own (the demo data, whose confidences are made up). A real classification carries its own decision.
DEFAULT_REVIEW_THRESHOLD = 0.7


@dataclass(frozen=True)
class KindDecision:
    """Who decided a new item's kind, and how sure the classifier was."""

    kind: Kind
    decided_by: DecidedBy
    decided_by_name: str
    classifier: str
    confidence: float
    rationale: str
    needs_review: bool

    @classmethod
    def by_model(cls, classification: domain.Classification) -> KindDecision:
        return cls(
            kind=classification.kind,
            decided_by=DecidedBy.MODEL,
            decided_by_name=classification.classifier,
            classifier=classification.classifier,
            confidence=classification.confidence,
            rationale=classification.rationale,
            needs_review=classification.needs_review,
        )

    @classmethod
    def by_person(
        cls,
        kind: Kind,
        actor: str,
        *,
        classification: domain.Classification | None = None,
        rationale: str = "Kind given by a person.",
    ) -> KindDecision:
        """A person's kind stands (no review); the model's reading, when there was one, is kept beside it."""
        return cls(
            kind=kind,
            decided_by=DecidedBy.PERSON,
            decided_by_name=actor,
            classifier=classification.classifier if classification else "person",
            confidence=classification.confidence if classification else 1.0,
            rationale=classification.rationale if classification else rationale,
            needs_review=False,
        )

    @classmethod
    def of(cls, classification: domain.Classification, *, given: str | None, actor: str) -> KindDecision:
        """The person's kind when they gave one, else the classifier's."""
        if given:
            return cls.by_person(domain.parse_kind(given), actor, classification=classification)
        return cls.by_model(classification)


def new_item_values(
    *,
    title: str,
    description: str,
    decision: KindDecision,
    created_at: datetime,
    value_at_risk: float = 0.0,
    customers_affected: int = 0,
    report_count: int = 1,
    currency: str = "EUR",
    owner: str | None = None,
    status: Status | str | None = None,
    quarter: str | None = None,
    effort: int = 3,
    impact: int = 3,
    urgency: int | None = None,
    risk_reduction: int | None = None,
    reach: int | None = None,
    rice_confidence: int | None = None,
    weights: Weights = DEFAULT_WEIGHTS,
    updated_at: datetime | None = None,
    done_at: datetime | None = None,
    **text_fields: str,
) -> dict[str, Any]:
    """The stored values of a new item, as keyword arguments for ``Improvement(**values)`` or as one row of a
    bulk insert. ``text_fields`` are the free-text columns a caller may fill (proposed_fix, proactive_action,
    cross_industry_idea, target, outcome)."""
    unknown = set(text_fields) - {"proposed_fix", "proactive_action", "cross_industry_idea", "target", "outcome"}
    if unknown:
        raise TypeError(f"not a text field of an item: {', '.join(sorted(unknown))}")
    state = domain.parse_status(status) if status else Status.NEW
    value_at_risk = round(value_at_risk, 2)
    return {
        "title": title,
        "description": description,
        "kind": decision.kind,
        "kind_decided_by": decision.decided_by,
        "kind_decided_by_name": decision.decided_by_name,
        "kind_decided_at": created_at,
        "classifier": decision.classifier,
        "confidence": decision.confidence,
        "rationale": decision.rationale,
        "needs_review": decision.needs_review,
        "proposed_fix": text_fields.get("proposed_fix", ""),
        "proactive_action": text_fields.get("proactive_action", ""),
        "cross_industry_idea": text_fields.get("cross_industry_idea", ""),
        "target": text_fields.get("target", ""),
        "outcome": text_fields.get("outcome", ""),
        "owner": owner,
        "status": state,
        "quarter": quarter or domain.quarter_of(created_at),
        "effort": effort,
        "impact": impact,
        "value_at_risk": value_at_risk,
        "currency": currency,
        "customers_affected": customers_affected,
        "report_count": report_count,
        "urgency": urgency,
        "risk_reduction": risk_reduction,
        "reach": reach,
        "rice_confidence": rice_confidence,
        # The formula that fits the kind (improvement/prioritisation.py), under the leaders' weights.
        "priority": score(
            ItemInputs(
                kind=decision.kind.value,
                value_at_risk=value_at_risk,
                customers_affected=customers_affected,
                effort=effort,
                impact=impact,
                urgency=urgency,
                risk_reduction=risk_reduction,
                reach=reach,
                rice_confidence=rice_confidence,
            ),
            weights,
        ).value,
        "created_at": created_at,
        "updated_at": updated_at or created_at,
        "done_at": (done_at or created_at) if state == Status.DONE else None,
        "merged_into_id": None,
        "version": 1,
    }
