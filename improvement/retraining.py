"""Learning from the team: refit the classifier on the shipped examples plus the team's decisions.

Every kind a person decided (an override, or a confirmation of the classifier's answer) is a labelled example
with who decided it and when. A refit is fit on the shipped examples and the team's *older* decisions; the most
recent decisions are held back, and the refit replaces the active model only when it is at least as good as the
active model on both:

- the shipped held-out split (industries the project never fit on), by macro-F1, and with no more wrong
  answers at 95% confidence or more;
- the team's most recent decisions, which neither model was fit on, by accuracy.

Whatever the verdict, the refit is stored as a new version with its evaluation, so it can be inspected and
restored later; so can every earlier version and the shipped model.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from improvement.access import Action, Actor, as_actor
from improvement.classification import (
    KINDS,
    SHIPPED_VERSION,
    Embedder,
    LabelledExample,
    OfflineClassifier,
    fit_model,
    load_examples,
    load_heldout,
)
from improvement.domain import DomainError, Kind
from improvement.model_store import ModelStore, ModelVersion

MIN_DECISIONS = 8
RECENT_SHARE = 0.25  # the newest quarter of the team's decisions judges a refit; it is never fit on
MAX_RECENT = 50


@dataclass(frozen=True)
class Score:
    examples: int
    macro_f1: float
    accuracy: float
    wrong_at_95: int
    flagged: int


@dataclass
class RetrainReport:
    version: str
    accepted: bool
    reason: str
    active: str
    previous: str
    decisions: dict[str, int]
    candidate: dict[str, Score]
    current: dict[str, Score]
    evaluated_at: str
    by: str
    held_back_since: str = ""
    notes: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def team_decisions(rows: Iterable[Mapping[str, Any]]) -> list[LabelledExample]:
    """Rows of ``transfer.export_labels`` as labelled examples, oldest decision first."""
    examples = [
        LabelledExample(
            text=str(row["text"]),
            kind=Kind(row["kind"]),
            industry=str(row.get("industry") or ""),
            touchpoint=str(row.get("touchpoint") or ""),
            source="team",
            decided_by=str(row.get("decided_by") or ""),
            decided_at=str(row.get("decided_at") or ""),
        )
        for row in rows
        if str(row.get("text") or "").strip()
    ]
    return sorted(examples, key=lambda e: e.decided_at)


def split_recent(decisions: Sequence[LabelledExample]) -> tuple[list[LabelledExample], list[LabelledExample]]:
    """(decisions to fit on, the most recent decisions held back to judge the refit)."""
    ordered = sorted(decisions, key=lambda e: e.decided_at)
    held = min(MAX_RECENT, max(2, math.ceil(len(ordered) * RECENT_SHARE)))
    return ordered[:-held], ordered[-held:]


def score(classifier: OfflineClassifier, examples: Sequence[LabelledExample], vectors: np.ndarray) -> Score:
    from sklearn.metrics import f1_score

    if not examples:
        return Score(0, float("nan"), float("nan"), 0, 0)
    results = classifier.classify([e.text for e in examples], vectors)
    truth = [KINDS.index(e.kind) for e in examples]
    predicted = [KINDS.index(r.kind) for r in results]
    wrong = [t != p for t, p in zip(truth, predicted, strict=True)]
    return Score(
        examples=len(examples),
        macro_f1=round(
            float(f1_score(truth, predicted, average="macro", labels=range(len(KINDS)), zero_division=0)), 4
        ),
        accuracy=round(1 - sum(wrong) / len(wrong), 4),
        wrong_at_95=sum(1 for r, w in zip(results, wrong, strict=True) if w and r.confidence >= 0.95),
        flagged=sum(r.needs_review for r in results),
    )


def _verdict(candidate: dict[str, Score], current: dict[str, Score]) -> tuple[bool, str]:
    held_c, held_a = candidate["heldout"], current["heldout"]
    team_c, team_a = candidate["recent_decisions"], current["recent_decisions"]
    failures = []
    if held_c.macro_f1 < held_a.macro_f1:
        failures.append(f"held-out macro-F1 would fall from {held_a.macro_f1:.3f} to {held_c.macro_f1:.3f}")
    if held_c.wrong_at_95 > held_a.wrong_at_95:
        failures.append(
            f"held-out wrong answers at 95% or more would rise from {held_a.wrong_at_95} to {held_c.wrong_at_95}"
        )
    if team_c.accuracy < team_a.accuracy:
        failures.append(
            f"on the team's {team_c.examples} most recent decisions accuracy would fall from {team_a.accuracy:.0%} "
            f"to {team_c.accuracy:.0%}"
        )
    if failures:
        return False, "Kept the active model: " + "; ".join(failures) + "."
    return True, (
        f"Replaced the active model: held-out macro-F1 {held_c.macro_f1:.3f} (was {held_a.macro_f1:.3f}), "
        f"{held_c.wrong_at_95} wrong at 95% or more, and {team_c.accuracy:.0%} right on the team's "
        f"{team_c.examples} most recent decisions (was {team_a.accuracy:.0%})."
    )


class ClassifierModels:
    """The use cases behind `backlog retrain` and the app's retrain button: refit, judge, store, restore."""

    def __init__(
        self,
        *,
        store: ModelStore,
        embedder: Callable[[], Embedder],
        shipped: Callable[[], OfflineClassifier],
        active: Callable[[], OfflineClassifier],
        decisions: Callable[[], list[LabelledExample]],
        examples_path: Path | None = None,
        heldout_path: Path | None = None,
    ) -> None:
        self.store = store
        self._embedder = embedder
        self._shipped = shipped
        self._active = active
        self._decisions = decisions
        self._examples_path = examples_path
        self._heldout_path = heldout_path

    def versions(self) -> list[ModelVersion]:
        return self.store.versions()

    def active_version(self) -> str:
        return self.store.active_version()

    def shipped_evaluation(self) -> dict[str, Any]:
        return self.store.read().shipped_evaluation

    def retrain(self, *, actor: Actor | str, now: datetime | None = None) -> RetrainReport:
        actor = as_actor(actor).require(Action.ADMINISTER)  # the history label; refused for anyone but an admin
        decisions = self._decisions()
        if len(decisions) < MIN_DECISIONS:
            raise DomainError(
                f"the team has decided the kind of {len(decisions)} item(s); a refit needs at least {MIN_DECISIONS} "
                "(override or confirm kinds in the backlog first)"
            )
        stamp = (now or datetime.now(UTC)).isoformat(timespec="seconds")
        embedder = self._embedder()
        shipped = self._shipped()
        current = self._active()
        fit_on, recent = split_recent(decisions)
        examples = load_examples(self._examples_path) if self._examples_path else load_examples()
        if shipped.model.example_texts == [e.text for e in examples]:
            shipped_vectors = shipped.model.example_embeddings  # the shipped set is embedded once, at first use
        else:
            shipped_vectors = embedder.embed([e.text for e in examples])
        team_vectors = embedder.embed([e.text for e in fit_on]) if fit_on else np.zeros((0, shipped_vectors.shape[1]))
        model = fit_model(
            embedder, [*examples, *fit_on], embeddings=np.vstack([shipped_vectors, team_vectors]).astype(np.float32)
        )
        candidate = OfflineClassifier(embedder, model, threshold=current.threshold, version="candidate")
        heldout = load_heldout(self._heldout_path) if self._heldout_path else load_heldout()
        held_vectors = embedder.embed([e.text for e in heldout])
        recent_vectors = embedder.embed([e.text for e in recent])
        scores = {
            name: {
                "heldout": score(clf, heldout, held_vectors),
                "recent_decisions": score(clf, recent, recent_vectors),
            }
            for name, clf in (("candidate", candidate), ("current", current))
        }
        accepted, reason = _verdict(scores["candidate"], scores["current"])
        previous = current.version
        shipped_eval = (
            scores["current"]["heldout"] if previous == SHIPPED_VERSION else score(shipped, heldout, held_vectors)
        )
        entry = self.store.add(
            model,
            created_at=stamp,
            created_by=actor,
            accepted=accepted,
            reason=reason,
            trained_on={"shipped_examples": len(examples), "team_decisions": len(fit_on), "held_back": len(recent)},
            evaluation={
                "heldout": asdict(scores["candidate"]["heldout"]),
                "recent_decisions": asdict(scores["candidate"]["recent_decisions"]),
                "compared_with": previous,
                "previous_heldout": asdict(scores["current"]["heldout"]),
                "previous_recent_decisions": asdict(scores["current"]["recent_decisions"]),
                "cross_validated_macro_f1": model.cv_macro_f1,
            },
            shipped_evaluation={"heldout": asdict(shipped_eval)},
        )
        return RetrainReport(
            version=entry.version,
            accepted=accepted,
            reason=reason,
            active=entry.version if accepted else previous,
            previous=previous,
            decisions={"fit_on": len(fit_on), "held_back": len(recent), "total": len(decisions)},
            candidate=scores["candidate"],
            current=scores["current"],
            evaluated_at=stamp,
            by=actor,
            held_back_since=recent[0].decided_at if recent else "",
        )

    def restore(self, version: str, *, actor: Actor | str, now: datetime | None = None) -> str:
        """Make ``version`` (``shipped``, ``v1``, ...) the active model again; returns the one it replaced."""
        actor = as_actor(actor).require(Action.ADMINISTER)
        stamp = (now or datetime.now(UTC)).isoformat(timespec="seconds")
        return self.store.restore(version.strip(), by=actor, at=stamp)
