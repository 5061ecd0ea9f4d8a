"""The shapes the services return: the CLI, the UI and the tests all read these, never ORM objects.

Views of stored rows are pydantic models built ``from_attributes``, so a field is declared once here and
the enums are the domain's own types; the other values are plain frozen dataclasses."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator

from improvement.domain import DecidedBy, Evidence, Kind, Status


def _utc(moment: datetime | None) -> datetime | None:
    # SQLite hands datetimes back without tzinfo; everything here is stored in UTC.
    return moment if moment is None or moment.tzinfo else moment.replace(tzinfo=UTC)


class View(BaseModel):
    """A read-only shape built straight from a stored row (``View.model_validate(row)``)."""

    model_config = ConfigDict(frozen=True, from_attributes=True)


class ProblemView(View):
    id: int
    improvement_id: int
    title: str
    description: str
    customer_story: str
    touchpoint: str
    segment: str
    industry: str
    customers_affected: int
    value_at_risk: float
    currency: str
    evidence: Evidence
    root_cause: str
    reporter: str
    created_at: datetime

    _aware = field_validator("created_at")(_utc)

    @field_validator("value_at_risk", mode="before")
    @classmethod
    def _money(cls, value: Any) -> float:
        return float(value or 0)


class ItemView(View):
    id: int
    title: str
    text: str = Field(validation_alias=AliasChoices("text", "description"))
    kind: Kind
    status: Status
    quarter: str
    owner: str | None
    confidence: float
    needs_review: bool
    kind_decided_by: DecidedBy
    kind_decided_by_name: str | None
    value_at_risk: float
    currency: str
    customers_affected: int
    report_count: int
    priority: float
    effort: int
    impact: int
    created_at: datetime
    updated_at: datetime
    version: int
    merged_into_id: int | None = None
    # Inputs of the kind's priority formula (None: the formula's default) and the money an outcome protected.
    urgency: int | None = None
    risk_reduction: int | None = None
    reach: int | None = None
    rice_confidence: int | None = None
    value_protected: float | None = None
    done_at: datetime | None = None

    _aware = field_validator("created_at", "updated_at", "done_at")(_utc)

    @field_validator("value_at_risk", mode="before")
    @classmethod
    def _money(cls, value: Any) -> float:
        return float(value or 0)

    @field_validator("value_protected", mode="before")
    @classmethod
    def _protected(cls, value: Any) -> float | None:
        return None if value is None else float(value)

    @field_validator("confidence")
    @classmethod
    def _rounded(cls, value: float) -> float:
        return round(value, 4)

    def as_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class ChangeView(View):
    changed_at: datetime
    changed_by: str
    field: str
    old_value: str | None
    new_value: str | None

    _aware = field_validator("changed_at")(_utc)


class ItemDetail(View):
    item: ItemView
    rationale: str
    classifier: str
    kind_decided_at: datetime | None
    proposed_fix: str
    proactive_action: str
    cross_industry_idea: str
    target: str
    outcome: str
    done_at: datetime | None
    problems: list[ProblemView]
    history: list[ChangeView]

    _aware = field_validator("kind_decided_at", "done_at")(_utc)


@dataclass(frozen=True)
class Page:
    items: list[ItemView]
    total: int
    offset: int
    limit: int
    total_is_exact: bool = True  # False when more than the count limit match: "10,000+"


@dataclass(frozen=True)
class MergePreview:
    """What a merge would combine: the item that stays, the items folded into it, and the totals after."""

    target: ItemView
    sources: list[ItemView]
    report_count: int
    value_at_risk: float
    customers_affected: int
    currencies: list[str]


@dataclass(frozen=True)
class SimilarProblem:
    problem_id: int
    improvement_id: int
    title: str
    similarity: float


@dataclass(frozen=True)
class ProblemFacts:
    """What the playbook knows about a problem when it ranks suggestions for it."""

    text: str
    kind: str | None = None
    cues: tuple[str, ...] = ()  # rubric cue labels found in the text (improvement.rubric)
    industry: str = ""
    touchpoint: str = ""
    segment: str = ""
    root_cause: str = ""
    vector: Any = None  # the problem's embedding, when the caller already has it (embed once)

    @classmethod
    def of(
        cls,
        *,
        title: str,
        description: str,
        customer_story: str = "",
        touchpoint: str = "",
        segment: str = "",
        industry: str = "",
        root_cause: str = "",
        kind: str | None = None,
        vector: Any = None,
    ) -> ProblemFacts:
        """The facts of a problem as the log form collects them (one definition for the app, CLI and tests)."""
        from improvement.rubric import find_cues
        from improvement.validation import problem_text

        text = problem_text(title, description)
        # One text is embedded per problem (the one the classifier and the similar-problem index read); the
        # customer story and the root cause reach the ranking through the rubric cues found in them.
        return cls(
            text=text,
            kind=kind or None,
            cues=tuple(sorted({hit.cue for hit in find_cues(f"{text} {customer_story} {root_cause}")})),
            industry=industry,
            touchpoint=touchpoint,
            segment=segment,
            root_cause=root_cause,
            vector=vector,
        )

    def embedding_text(self) -> str:
        """The one text embedded for this problem."""
        return self.text

    def with_vector(self, vector: Any) -> ProblemFacts:
        return replace(self, vector=vector)


@dataclass(frozen=True)
class FixOption:
    id: str
    title: str
    fix: str  # fix the cause for every customer
    proactive: str  # reach the affected customers before they reach us
    relevance: float


@dataclass(frozen=True)
class IdeaOption:
    id: str
    industry: str
    text: str
    relevance: float


@dataclass(frozen=True)
class Suggestions:
    proposed_fix: str = ""
    proactive_action: str = ""
    cross_industry_idea: str = ""
    fix_options: tuple[FixOption, ...] = ()  # ranked, best first; empty when nothing fits well enough
    idea_options: tuple[IdeaOption, ...] = ()


@dataclass(frozen=True)
class IndexCoverage:
    """How many logged problems the similar-problem index holds: "nothing similar" means little when it lacks many
    (after ``backlog seed-demo --no-index`` or a restore without the index)."""

    indexed: int
    logged: int

    @property
    def missing(self) -> int:
        return max(0, self.logged - self.indexed)


@dataclass(frozen=True)
class AddedReport:
    """A customer's report added to an item that already tracks the same problem."""

    problem_id: int
    item: ItemView
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class LoggedProblem:
    problem_id: int
    improvement_id: int
    kind: str
    confidence: float
    needs_review: bool
    rationale: str
    similar: list[SimilarProblem] = field(default_factory=list)
    suggestions: Suggestions = field(default_factory=Suggestions)
    warnings: list[str] = field(default_factory=list)
    # Set when nothing similar was found: whether the index could have found anything.
    index_coverage: IndexCoverage | None = None


@dataclass(frozen=True)
class ItemFilter:
    kinds: Sequence[str] = ()
    statuses: Sequence[str] = ()
    quarters: Sequence[str] = ()
    owners: Sequence[str] = ()
    needs_review: bool | None = None
    text: str = ""  # a substring of the title or description
    words: str = ""  # words in any order, stemmed (full-text search)
    include_merged: bool = False
    ids: Sequence[int] = field(default_factory=tuple)
    untriaged_before: datetime | None = None  # items still "new" that were logged before this (48-hour promise)


@dataclass(frozen=True)
class SavedFilterView:
    """A named backlog filter someone saved, to reopen later."""

    name: str
    filters: ItemFilter
    sort: str
    created_by: str
