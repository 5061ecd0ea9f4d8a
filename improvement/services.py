"""Use cases shared by the CLI and the UI. Each public method is one transaction.

Dependencies come in as arguments: a session factory for SQL, a classifier provider (called only
when a problem must be classified, so listing never loads a model), and optionally a problem index
(similar problems, in Chroma) and a suggester (playbook suggestions). Errors a user can fix are
:class:`improvement.domain.DomainError`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy.orm import Session, object_session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from db import portfolio, repository
from db.models import Change, Improvement, Problem, SavedView
from db.transactions import run_in_transaction
from improvement import domain
from improvement.access import Action, Actor, Forbidden, as_actor
from improvement.domain import DecidedBy, DomainError, Kind, NotFound, StaleEdit, Status
from improvement.events import record_events
from improvement.items import KindDecision, new_item_values
from improvement.models import (
    AddedReport,
    ChangeView,
    FixOption,
    IdeaOption,
    IndexCoverage,
    ItemDetail,
    ItemFilter,
    ItemView,
    LoggedProblem,
    MergePreview,
    Page,
    ProblemFacts,
    ProblemView,
    SavedFilterView,
    SimilarProblem,
    Suggestions,
)
from improvement.prioritisation import DEFAULT_WEIGHTS, score
from improvement.validation import (
    PRIORITY_INPUTS,
    NewProblem,
    ValidationFailed,
    problem_text,
    validate_edit,
    validate_problem,
)

if TYPE_CHECKING:  # the classifier module pulls in numpy; listing items must not pay for it
    from improvement.classification import Classifier

log = logging.getLogger(__name__)
MAX_PAGE = 1000
# Filters the rollups cannot answer (text search) count matching items; past this many the page says "10,000+".
COUNT_LIMIT = 10_000
# History field on a merged item listing the ids of the reports that moved out of it (for unmerge).
MERGED_REPORTS = "merged_reports"


class ProblemIndex(Protocol):
    """Embeddings of logged problems, for 'similar problems already logged'."""

    def upsert(self, problems: Sequence[tuple[int, int, str, str]], vectors: Any = None) -> None: ...

    def delete(self, problem_ids: Sequence[int]) -> None: ...

    def query(self, text: str, k: int, vector: Any = None) -> list[tuple[int, int, str, float]]: ...

    def count(self) -> int: ...


Suggester = Callable[[ProblemFacts], Suggestions]


def utcnow() -> datetime:
    return datetime.now(UTC)


def _aware(moment: datetime) -> datetime:
    # SQLite hands datetimes back without tzinfo; everything here is stored in UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def item_view(row: Improvement) -> ItemView:
    return ItemView.model_validate(row)


def problem_view(row: Problem) -> ProblemView:
    return ProblemView.model_validate(row)


def _apply_edits(row: Improvement, values: Mapping[str, Any]) -> list[tuple[str, Any, Any]]:
    """Set the validated fields that differ; effort and impact move the priority."""
    changed = []
    for name, value in values.items():
        old = getattr(row, name)
        if old != value:
            setattr(row, name, value)
            changed.append((name, old, value))
    if PRIORITY_INPUTS & values.keys():
        _reprioritise(row)
    return changed


def _decide_kind(row: Improvement, new: Kind, actor: str, now: datetime) -> list[tuple[str, Any, Any]]:
    """A person's decision on the kind: recorded even when it confirms the model's, and clears 'needs review'."""
    changed: list[tuple[str, Any, Any]] = [("kind", row.kind, new.value)]
    if row.kind_decided_by != DecidedBy.PERSON.value:
        changed.append(("kind_decided_by", row.kind_decided_by, DecidedBy.PERSON.value))
    row.kind = new
    row.kind_decided_by = DecidedBy.PERSON
    row.kind_decided_by_name = actor
    row.kind_decided_at = now
    if row.needs_review:
        changed.append(("needs_review", True, False))
        row.needs_review = False
    _reprioritise(row)  # another kind, another formula
    return changed


def _recompute_totals(item: Improvement, problems: Iterable[Problem]) -> None:
    problems = list(problems)
    item.value_at_risk = round(sum(float(p.value_at_risk or 0) for p in problems), 2)
    item.customers_affected = sum(p.customers_affected or 0 for p in problems)
    item.report_count = len(problems)
    _reprioritise(item)


def _reprioritise(item: Improvement) -> None:
    """The priority by the formula that fits the item's kind, under the leaders' weights."""
    session = object_session(item)
    if session is None:
        weights = DEFAULT_WEIGHTS
    else:
        with session.no_autoflush:
            weights = portfolio.load_weights(session)
    item.priority = score(portfolio.inputs_of(item), weights).value


def record_changes(
    session: Session, row: Improvement, changes: Sequence[tuple[str, Any, Any]], *, actor: str, now: datetime
) -> None:
    """One history entry per changed field, the item's updated_at, and the events the changes make (the
    outbox), all in the caller's transaction: a change is never saved without them, nor they without it."""
    if not changes:
        return
    row.updated_at = now
    session.add_all(
        Change(
            improvement_id=row.id,
            changed_at=now,
            changed_by=actor,
            field=name,
            old_value=_as_text(old),
            new_value=_as_text(new),
        )
        for name, old, new in changes
    )
    record_events(session, row, changes, actor=actor, now=now)


def _apply_status(row: Improvement, new: Status, now: datetime) -> list[tuple[str, Any, Any]]:
    """Move an item to ``new`` if the rules allow it; done needs a recorded outcome."""
    current = domain.parse_status(row.status)
    if new == current:
        return []
    domain.check_transition(current, new)
    if new == Status.DONE and not row.outcome:
        raise ValidationFailed(
            {
                "outcome": f"item {row.id} has no outcome: record what changed, measured against the target, "
                "before marking it done"
            }
        )
    old = row.status
    row.status = new
    row.done_at = now if new == Status.DONE else None
    return [("status", old, new.value)]


def new_problem_row(new: NewProblem, *, reporter: str, created_at: datetime, key: str | None = None) -> Problem:
    """The row of a new report. ``key`` is its stable key (``domain.report_key``); by default the key of
    its time and text. An import passes the key of the row as the file gave it (its time may be unknown)."""
    return Problem(
        report_key=key
        or domain.report_key(created_at, {name: getattr(new, name) for name in domain.REPORT_KEY_FIELDS}),
        title=new.title,
        description=new.description,
        customer_story=new.customer_story,
        touchpoint=new.touchpoint,
        segment=new.segment,
        industry=new.industry,
        customers_affected=new.customers_affected,
        value_at_risk=new.value_at_risk,
        currency=new.currency,
        evidence=new.evidence,
        root_cause=new.root_cause,
        reporter=new.reporter or reporter,
        created_at=created_at,
    )


def _as_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


class BacklogService:
    def __init__(
        self,
        session_factory: sessionmaker[Session],
        *,
        classifier_provider: Callable[[], Classifier] | None = None,
        problem_index: ProblemIndex | None = None,
        suggester: Suggester | None = None,
        embed: Callable[[str], Any] | None = None,
        signed_in_only: bool = False,
    ) -> None:
        """``embed`` turns a problem's text into the one vector the classifier, the similar-problem search,
        the playbook and the index all use; without it each embeds the text itself."""
        self._sessions = session_factory
        self._classifier_provider = classifier_provider
        self._index = problem_index
        self._suggester = suggester
        self._embed = embed
        # With sign-in on, a change must come from a signed-in person (an Actor with a role), never a bare name.
        self._signed_in_only = signed_in_only

    def authorise(self, actor: Actor | str, action: Action) -> str:
        """The history label of ``actor`` if their role allows ``action``; :class:`Forbidden` otherwise.

        A bare name is the CLI's ``BACKLOG_USER`` or the one person of local mode, who have direct access
        to the database anyway; with sign-in on, the app's service refuses it."""
        if isinstance(actor, str) and self._signed_in_only:
            raise Forbidden("sign in first: changes are recorded under a signed-in person's name", field="actor")
        label = as_actor(actor).require(action)
        return domain.clean_text(label, field="actor", required=False, limit=domain.MAX_SHORT) or "anonymous"

    # Classification -----------------------------------------------------------------------------
    def classifier(self) -> Classifier:
        if self._classifier_provider is None:
            raise RuntimeError("this backlog service was built without a classifier")
        return self._classifier_provider()

    def classify(self, texts: Sequence[str]) -> list[domain.Classification]:
        return self.classifier().classify(list(texts))

    # Logging problems ---------------------------------------------------------------------------
    def log_problem(
        self,
        raw: Mapping[str, Any] | NewProblem,
        *,
        actor: Actor | str,
        classification: domain.Classification | None = None,
        now: datetime | None = None,
    ) -> LoggedProblem:
        """Validate, classify, save the problem and its backlog item, then find similar problems."""
        label = self.authorise(actor, Action.LOG)
        new = raw if isinstance(raw, NewProblem) else validate_problem(raw)
        vector = self._embed(new.text) if self._embed is not None else None  # embedded once, used four times
        similar = self.similar_problems(new.text, k=10, vector=vector)
        if classification is None:
            classification = self.classifier().classify([new.text], None if vector is None else vector[None, :])[0]
        suggestions = self._suggest(new, Kind(new.kind) if new.kind else classification.kind, vector)
        now = now or utcnow()
        problem_id, item_id = run_in_transaction(
            self._sessions,
            lambda session: self._insert(session, new, classification, suggestions, actor=label, now=now),
        )
        warnings = self._index_problems(
            [(problem_id, item_id, new.title, new.text)], None if vector is None else [vector]
        )
        similar = [s for s in similar if s.problem_id != problem_id]
        return LoggedProblem(
            problem_id=problem_id,
            improvement_id=item_id,
            kind=new.kind or classification.kind.value,
            confidence=classification.confidence,
            needs_review=classification.needs_review and not new.kind,
            rationale=classification.rationale,
            similar=similar,
            suggestions=suggestions,
            warnings=warnings,
            index_coverage=None if similar else self.index_coverage(),
        )

    def index_coverage(self) -> IndexCoverage | None:
        """How many logged problems the similar-problem index holds; ``None`` without an index or when it cannot
        be read (the page then says nothing about it)."""
        if self._index is None:
            return None
        try:
            indexed = self._index.count()
        except Exception as error:
            log.warning("similar-problem index unavailable: %s", error)
            return None
        with self._sessions() as session:
            return IndexCoverage(indexed=indexed, logged=repository.count_problems(session))

    def _insert(
        self,
        session: Session,
        new: NewProblem,
        classification: domain.Classification,
        suggestions: Suggestions,
        *,
        actor: str,
        now: datetime,
    ) -> tuple[int, int]:
        item = Improvement(
            **new_item_values(
                title=new.title,
                description=new.description,
                decision=KindDecision.of(classification, given=new.kind, actor=actor),
                created_at=now,
                owner=new.owner,
                status=new.status,
                quarter=new.quarter,
                currency=new.currency,
                proposed_fix=suggestions.proposed_fix,
                proactive_action=suggestions.proactive_action,
                cross_industry_idea=suggestions.cross_industry_idea,
            )
        )
        problem = new_problem_row(new, reporter=actor, created_at=now)
        item.problems.append(problem)
        session.add(item)  # before the totals: the priority reads the leaders' weights in this session
        _recompute_totals(item, [problem])
        session.flush()
        record_changes(
            session, item, [("created", None, f"{item.kind} ({item.kind_decided_by})")], actor=actor, now=now
        )
        return problem.id, item.id

    def _suggest(self, new: NewProblem, kind: Kind, vector: Any = None) -> Suggestions:
        if self._suggester is None:
            return Suggestions()
        facts = ProblemFacts.of(
            title=new.title,
            description=new.description,
            customer_story=new.customer_story,
            touchpoint=new.touchpoint,
            segment=new.segment,
            industry=new.industry,
            root_cause=new.root_cause,
            kind=kind.value,
        )
        if vector is not None:
            facts = facts.with_vector(vector)
        try:
            return self._suggester(facts)
        except Exception as error:  # suggestions help; their failure must never lose a problem
            log.warning("suggestions unavailable: %s", error)
            return Suggestions()

    def _index_problems(self, rows: Sequence[tuple[int, int, str, str]], vectors: Any = None) -> list[str]:
        if self._index is None or not rows:
            return []
        try:
            self._index.upsert(rows, vectors)
            return []
        except Exception as error:  # SQL is the record; `backlog doctor` re-syncs the index later
            log.warning("similar-problem index not updated: %s", error)
            return ["The similar-problems index could not be updated; run `backlog doctor --repair`."]

    def similar_problems(
        self, text: str, *, k: int = 5, min_similarity: float = 0.45, vector: Any = None
    ) -> list[SimilarProblem]:
        if self._index is None or not text.strip():
            return []
        try:
            hits = self._index.query(text, k, vector)
        except Exception as error:
            log.warning("similar problems unavailable: %s", error)
            return []
        found = [
            SimilarProblem(problem_id=pid, improvement_id=iid, title=title, similarity=round(sim, 3))
            for pid, iid, title, sim in hits
            if sim >= min_similarity
        ]
        if not found:
            return []
        # The index may lag SQL after a merge: point each hit at the item that holds it now.
        with self._sessions() as session:
            current = {
                p.id: p.improvement_id for p in repository.problems_by_ids(session, [f.problem_id for f in found])
            }
        return [
            SimilarProblem(f.problem_id, current[f.problem_id], f.title, f.similarity)
            for f in found
            if f.problem_id in current
        ]

    def recent_duplicates(
        self,
        raw: Mapping[str, Any],
        *,
        days: int = 7,
        min_similarity: float = 0.85,
        now: datetime | None = None,
    ) -> list[tuple[SimilarProblem, datetime]]:
        """Very similar problems logged in the last ``days``, with when: asked before saving a new one.

        Input that does not validate returns nothing here; saving it reports the errors.
        """
        try:
            new = validate_problem(raw)
        except DomainError:
            return []
        vector = self._embed(new.text) if self._embed is not None else None
        found = self.similar_problems(new.text, k=5, min_similarity=min_similarity, vector=vector)
        if not found:
            return []
        since = (now or utcnow()) - timedelta(days=days)
        with self._sessions() as session:
            logged = {
                p.id: _aware(p.created_at) for p in repository.problems_by_ids(session, [f.problem_id for f in found])
            }
        return [(f, logged[f.problem_id]) for f in found if f.problem_id in logged and logged[f.problem_id] >= since]

    # Reading ------------------------------------------------------------------------------------
    def list_items(
        self,
        flt: ItemFilter | None = None,
        *,
        sort: str = "priority",
        limit: int = 50,
        offset: int = 0,
        with_total: bool = True,
        count_limit: int | None = COUNT_LIMIT,
    ) -> Page:
        if sort not in repository.SORTS:
            raise DomainError(f"unknown sort {sort!r}: use one of {', '.join(repository.SORTS)}", field="sort")
        if not 1 <= limit <= MAX_PAGE:
            raise DomainError(f"limit must be from 1 to {MAX_PAGE}, got {limit}", field="limit")
        if offset < 0:
            raise DomainError("offset must not be negative", field="offset")
        flt = flt or ItemFilter()
        with self._sessions() as session:
            rows = repository.list_improvements(session, flt, sort=sort, limit=limit, offset=offset)
            if not with_total:
                return Page(items=[item_view(r) for r in rows], total=len(rows), offset=offset, limit=limit)
            total, exact = repository.count_improvements(session, flt, limit=count_limit)
            return Page(
                items=[item_view(r) for r in rows],
                total=total,
                offset=offset,
                limit=limit,
                total_is_exact=exact,
            )

    def get_item(self, improvement_id: int) -> ItemDetail:
        with self._sessions() as session:
            row = repository.get_improvement(session, improvement_id, with_problems=True)
            if row is None:
                raise NotFound(f"no backlog item with id {improvement_id}", field="id")
            return ItemDetail(
                item=item_view(row),
                rationale=row.rationale,
                classifier=row.classifier,
                kind_decided_at=_aware(row.kind_decided_at) if row.kind_decided_at else None,
                proposed_fix=row.proposed_fix,
                proactive_action=row.proactive_action,
                cross_industry_idea=row.cross_industry_idea,
                target=row.target,
                outcome=row.outcome,
                done_at=_aware(row.done_at) if row.done_at else None,
                problems=[problem_view(p) for p in row.problems],
                history=[ChangeView.model_validate(c) for c in repository.history(session, improvement_id)],
            )

    def get_problem(self, problem_id: int) -> ProblemView:
        with self._sessions() as session:
            row = repository.get_problem(session, problem_id)
            if row is None:
                raise NotFound(f"no problem with id {problem_id}", field="problem_id")
            return problem_view(row)

    def distinct(self, column: str) -> list[str]:
        if column not in ("owner", "quarter"):
            raise ValueError(column)
        with self._sessions() as session:
            return repository.distinct_values(session, column)

    # Editing ------------------------------------------------------------------------------------
    def _load_for_edit(self, session: Session, improvement_id: int, expected_version: int | None) -> Improvement:
        row = repository.get_improvement(session, improvement_id)
        if row is None:
            raise NotFound(f"no backlog item with id {improvement_id}", field="id")
        if row.merged_into_id is not None:
            raise DomainError(
                f"item {improvement_id} was merged into item {row.merged_into_id}; edit that one", field="id"
            )
        if expected_version is not None and row.version != expected_version:
            raise StaleEdit(
                f"item {improvement_id} was changed by someone else since you opened it (version {row.version}, "
                f"you had {expected_version}); reload it and apply your change again",
                field="version",
            )
        return row

    def _commit_edit(
        self,
        improvement_id: int,
        expected_version: int | None,
        actor: str,
        apply: Callable[[Session, Improvement, datetime], list[tuple[str, Any, Any]]],
    ) -> ItemView:
        """``actor`` is the history label the calling use case got from :meth:`authorise`."""

        def work(session: Session) -> ItemView:
            row = self._load_for_edit(session, improvement_id, expected_version)
            now = utcnow()
            record_changes(session, row, apply(session, row, now), actor=actor, now=now)
            session.flush()
            return item_view(row)

        try:
            return run_in_transaction(self._sessions, work)
        except StaleDataError:
            # Another writer committed between our read and our UPDATE ... WHERE version = ?
            raise StaleEdit(
                f"item {improvement_id} was changed by someone else while you saved; reload it and "
                "apply your change again",
                field="version",
            ) from None

    def edit_item(
        self,
        improvement_id: int,
        changes: Mapping[str, Any],
        *,
        actor: Actor | str,
        expected_version: int | None = None,
    ) -> ItemView:
        return self.update_item(improvement_id, changes, actor=actor, expected_version=expected_version)

    def change_status(
        self,
        improvement_id: int,
        status: str,
        *,
        actor: Actor | str,
        expected_version: int | None = None,
        outcome: str | None = None,
    ) -> ItemView:
        changes = {} if outcome is None else {"outcome": outcome}
        return self.update_item(improvement_id, changes, status=status, actor=actor, expected_version=expected_version)

    def override_kind(
        self, improvement_id: int, kind: str, *, actor: Actor | str, expected_version: int | None = None
    ) -> ItemView:
        """A person's decision: always wins, recorded with who and when, clears 'needs review'."""
        return self.update_item(improvement_id, {}, kind=kind, actor=actor, expected_version=expected_version)

    def choose_suggestions(
        self,
        improvement_id: int,
        *,
        fix: FixOption | None = None,
        idea: IdeaOption | None = None,
        actor: Actor | str,
        expected_version: int | None = None,
    ) -> ItemView:
        """A person picks which suggested fix (and idea) the item carries; recorded in its history."""
        changes: dict[str, str] = {}
        if fix is not None:
            changes["proposed_fix"] = f"{fix.title}: {fix.fix}"
            changes["proactive_action"] = fix.proactive
        if idea is not None:
            changes["cross_industry_idea"] = idea.text
        # The agent who logged a problem keeps the fix they chose: logging rights suffice.
        return self.update_item(
            improvement_id, changes, actor=actor, expected_version=expected_version, _action=Action.LOG
        )

    def update_item(
        self,
        improvement_id: int,
        changes: Mapping[str, Any],
        *,
        actor: Actor | str,
        status: str | None = None,
        kind: str | None = None,
        expected_version: int | None = None,
        _action: Action = Action.TRIAGE,
    ) -> ItemView:
        """Field edits, a status move and a person's kind decision, saved together or not at all.

        Edits apply first, so an outcome typed in the same form lets the item move to done.
        """
        label = self.authorise(actor, _action)
        values = validate_edit(changes)
        new_status = domain.parse_status(status) if status is not None else None
        new_kind = domain.parse_kind(kind) if kind is not None else None

        def apply(_session: Session, row: Improvement, now: datetime) -> list[tuple[str, Any, Any]]:
            if new_status is not None and new_status.value != row.status:
                domain.check_transition(domain.parse_status(row.status), new_status)  # refuse before touching
            changed = _apply_edits(row, values)
            if new_status is not None and new_status.value != row.status:
                changed += _apply_status(row, new_status, now)
            if new_kind is not None:
                changed += _decide_kind(row, new_kind, label, now)
            return changed

        return self._commit_edit(improvement_id, expected_version, label, apply)

    def add_report(
        self, improvement_id: int, raw: Mapping[str, Any] | NewProblem, *, actor: Actor | str
    ) -> AddedReport:
        """Add a customer's report to an item that already tracks the same problem, instead of logging a new item
        (the duplicate warning before saving): like a merge, the item keeps every report and its totals and
        priority follow; its kind, status and owner stay. The report is indexed for similar problems."""
        label = self.authorise(actor, Action.LOG)
        new = raw if isinstance(raw, NewProblem) else validate_problem(raw)
        added: list[tuple[int, int, str, str]] = []

        def apply(session: Session, row: Improvement, now: datetime) -> list[tuple[str, Any, Any]]:
            if new.value_at_risk and new.currency != row.currency:
                raise ValidationFailed(
                    {
                        "currency": f"item {row.id} counts its money in {row.currency}; give this report's value "
                        f"at risk in {row.currency}, or log it as an item of its own"
                    }
                )
            added.clear()  # a retried transaction starts again from nothing
            problem = new_problem_row(new, reporter=label, created_at=now)
            row.problems.append(problem)
            session.flush()
            _recompute_totals(row, row.problems)
            added.append((problem.id, row.id, problem.title, new.text))
            return [("report_added", None, f"problem {problem.id}")]

        view = self._commit_edit(improvement_id, None, label, apply)
        vector = self._embed(new.text) if self._embed is not None else None
        warnings = self._index_problems(added, None if vector is None else [vector])
        return AddedReport(problem_id=added[0][0], item=view, warnings=warnings)

    def merge(self, target_id: int, source_ids: Sequence[int], *, actor: Actor | str) -> ItemView:
        """Merge duplicate items into ``target_id``: every report moves over, none is deleted."""
        label = self.authorise(actor, Action.TRIAGE)
        sources = sorted({int(s) for s in source_ids} - {target_id})
        if not sources:
            raise DomainError("choose at least one other item to merge into this one", field="source_ids")
        moved: list[tuple[int, int, str, str]] = []

        def apply(session: Session, target: Improvement, now: datetime) -> list[tuple[str, Any, Any]]:
            changed: list[tuple[str, Any, Any]] = []
            moved.clear()  # a retried transaction starts again from nothing
            for source_id in sources:
                source = self._load_for_edit(session, source_id, None)
                moved_ids = []
                for problem in list(source.problems):
                    moved_ids.append(problem.id)
                    problem.improvement_id = target.id
                    moved.append(
                        (problem.id, target.id, problem.title, problem_text(problem.title, problem.description))
                    )
                source.merged_into_id = target.id
                source.updated_at = now
                session.add(
                    Change(
                        improvement_id=source.id,
                        changed_at=now,
                        changed_by=label,
                        field="merged_into",
                        old_value=None,
                        new_value=str(target.id),
                    )
                )
                # Which reports moved: what `unmerge` needs to split them back.
                session.add(
                    Change(
                        improvement_id=source.id,
                        changed_at=now,
                        changed_by=label,
                        field=MERGED_REPORTS,
                        old_value=None,
                        new_value=",".join(str(i) for i in moved_ids),
                    )
                )
                changed.append(("merged", None, f"item {source.id} ({source.report_count} report(s))"))
            session.flush()
            session.expire(target, ["problems"])
            _recompute_totals(target, target.problems)
            return changed

        view = self._commit_edit(target_id, None, label, apply)
        self._index_problems(moved)
        return view

    def merge_preview(self, target_id: int, source_ids: Sequence[int]) -> MergePreview:
        """What merging ``source_ids`` into ``target_id`` would combine; writes nothing."""
        sources = sorted({int(s) for s in source_ids} - {target_id})
        if not sources:
            raise DomainError("choose at least one other item to merge into this one", field="source_ids")
        with self._sessions() as session:
            rows = [self._load_for_edit(session, i, None) for i in [target_id, *sources]]
            views = [item_view(r) for r in rows]
        return MergePreview(
            target=views[0],
            sources=views[1:],
            report_count=sum(v.report_count for v in views),
            value_at_risk=round(sum(v.value_at_risk for v in views), 2),
            customers_affected=sum(v.customers_affected for v in views),
            currencies=sorted({v.currency for v in views}),
        )

    def unmerge(self, source_id: int, *, actor: Actor | str) -> ItemView:
        """Split a merged item back out: the reports it brought return to it, and both totals are recomputed.

        The reports are the ones the merge recorded in the item's history; a report another unmerge has
        since moved elsewhere stays where it is.
        """
        label = self.authorise(actor, Action.TRIAGE)
        moved: list[tuple[int, int, str, str]] = []

        def work(session: Session) -> ItemView:
            moved.clear()
            source = repository.get_improvement(session, source_id)
            if source is None:
                raise NotFound(f"no backlog item with id {source_id}", field="id")
            if source.merged_into_id is None:
                raise DomainError(f"item {source_id} is not merged into another item", field="id")
            target = repository.get_improvement(session, source.merged_into_id)
            if target is None:
                raise NotFound(f"item {source_id} was merged into an item that no longer exists", field="id")
            if target.merged_into_id is not None:
                raise DomainError(
                    f"item {target.id} was itself merged into item {target.merged_into_id}; "
                    f"unmerge item {target.id} first",
                    field="id",
                )
            recorded = [c for c in repository.history(session, source.id) if c.field == MERGED_REPORTS]
            if not recorded:
                raise DomainError(
                    f"item {source_id} was merged before merges recorded their reports; "
                    "its reports cannot be told apart",
                    field="id",
                )
            ids = [int(i) for i in (recorded[-1].new_value or "").split(",") if i.strip()]
            problems = [p for p in repository.problems_by_ids(session, ids) if p.improvement_id == target.id]
            if not problems:
                raise DomainError(f"the reports of item {source_id} are no longer in item {target.id}", field="id")
            now = utcnow()
            for problem in problems:
                problem.improvement_id = source.id
                moved.append((problem.id, source.id, problem.title, problem_text(problem.title, problem.description)))
            source.merged_into_id = None
            session.flush()
            session.expire(source, ["problems"])
            session.expire(target, ["problems"])
            _recompute_totals(source, source.problems)
            _recompute_totals(target, target.problems)
            record_changes(session, source, [("merged_into", target.id, None)], actor=label, now=now)
            record_changes(
                session,
                target,
                [("unmerged", f"item {source.id} ({len(problems)} report(s))", None)],
                actor=label,
                now=now,
            )
            session.flush()
            return item_view(source)

        try:
            view = run_in_transaction(self._sessions, work)
        except StaleDataError:
            raise StaleEdit(
                f"item {source_id} or the item it is merged into was changed while you unmerged; try again",
                field="version",
            ) from None
        self._index_problems(moved)
        return view

    def bulk_change(
        self,
        improvement_ids: Sequence[int],
        *,
        actor: Actor | str,
        status: str | None = None,
        owner: str | None = None,
        quarter: str | None = None,
    ) -> int:
        """Apply one change to many items, all or nothing; each status move must be allowed."""
        label = self.authorise(actor, Action.TRIAGE)
        edits = {k: v for k, v in {"owner": owner, "quarter": quarter}.items() if v is not None}
        values = validate_edit(edits)
        new_status = domain.parse_status(status) if status else None
        now = utcnow()

        def work(session: Session) -> None:
            for improvement_id in improvement_ids:
                row = self._load_for_edit(session, improvement_id, None)
                changes = _apply_status(row, new_status, now) if new_status is not None else []
                record_changes(session, row, changes + _apply_edits(row, values), actor=label, now=now)

        run_in_transaction(self._sessions, work)
        return len(improvement_ids)

    # Saved views ----------------------------------------------------------------------------------
    def merged_items(self, improvement_id: int) -> list[ItemView]:
        """The items merged into this one, each of which can be split back out with :meth:`unmerge`."""
        with self._sessions() as session:
            return [item_view(r) for r in repository.merged_into(session, improvement_id)]

    def save_view(self, name: str, flt: ItemFilter, *, sort: str = "priority", actor: Actor | str) -> SavedFilterView:
        """Save the filters under a name anyone can reopen; saving an existing name replaces its filters."""
        name = domain.clean_text(name, field="name", required=True, limit=100)
        label = self.authorise(actor, Action.READ)  # a saved view changes no item: anyone may keep one
        if sort not in repository.SORTS:
            raise DomainError(f"unknown sort {sort!r}: use one of {', '.join(repository.SORTS)}", field="sort")
        data = json.dumps(
            {
                "kinds": list(flt.kinds),
                "statuses": list(flt.statuses),
                "quarters": list(flt.quarters),
                "owners": list(flt.owners),
                "needs_review": flt.needs_review,
                "text": flt.text,
                "words": flt.words,
                "sort": sort,
            }
        )

        def work(session: Session) -> None:
            row = repository.saved_view_by_name(session, name)
            if row is None:
                session.add(SavedView(name=name, filters=data, created_by=label, created_at=utcnow()))
            else:
                row.filters, row.created_by, row.created_at = data, label, utcnow()

        run_in_transaction(self._sessions, work)
        return SavedFilterView(name, flt, sort, label)

    def saved_views(self) -> list[SavedFilterView]:
        with self._sessions() as session:
            rows = [(r.name, r.filters, r.created_by) for r in repository.saved_views(session)]
        views = []
        for name, raw, created_by in rows:
            data = json.loads(raw)
            sort = data.pop("sort", "priority")
            views.append(SavedFilterView(name, ItemFilter(**data), sort, created_by))
        return views

    def delete_view(self, name: str) -> None:
        def work(session: Session) -> None:
            row = repository.saved_view_by_name(session, name)
            if row is None:
                raise NotFound(f"no saved view called {name!r}", field="name")
            session.delete(row)

        run_in_transaction(self._sessions, work)
