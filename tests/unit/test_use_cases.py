"""The use cases with in-memory fakes for the index, the classifier, the playbook and the embedding model.

No model is loaded and nothing leaves the process: these run in a few seconds. Storage is a SQLite file
in the test's folder (the migrations are part of what a use case relies on). The real components are
tested in tests/integration.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from db.engine import make_engine, make_session_factory, upgrade
from improvement.domain import Classification, DomainError, Kind
from improvement.models import FixOption, IdeaOption, ProblemFacts, Suggestions
from improvement.services import BacklogService


class FakeEmbedder:
    def __init__(self) -> None:
        self.texts: list[str] = []

    def __call__(self, text: str) -> np.ndarray:
        self.texts.append(text)
        vector = np.zeros(8, dtype=np.float32)
        vector[len(text) % 8] = 1.0
        return vector


class FakeIndex:
    def __init__(self) -> None:
        self.rows: dict[int, tuple[int, str, Any]] = {}
        self.queries: list[Any] = []

    def upsert(self, problems: Sequence[tuple[int, int, str, str]], vectors: Any = None) -> None:
        for n, (pid, iid, title, _text) in enumerate(problems):
            self.rows[pid] = (iid, title, None if vectors is None else vectors[n])

    def delete(self, problem_ids: Sequence[int]) -> None:
        for pid in problem_ids:
            self.rows.pop(pid, None)

    def query(self, text: str, k: int, vector: Any = None) -> list[tuple[int, int, str, float]]:
        self.queries.append(vector)
        return [(pid, iid, title, 0.9) for pid, (iid, title, _) in list(self.rows.items())[:k]]

    def count(self) -> int:
        return len(self.rows)


class FakeClassifier:
    name = "fake"
    threshold = 0.5

    def __init__(self, kind: Kind = Kind.KAIKAKU) -> None:
        self.kind = kind
        self.vectors: list[Any] = []

    def classify(self, texts: Sequence[str], vectors: Any = None) -> list[Classification]:
        self.vectors.append(vectors)
        return [Classification(self.kind, 0.8, "fake rationale", False, {self.kind.value: 0.8}) for _ in texts]


class FakePlaybook:
    def __init__(self) -> None:
        self.seen: list[ProblemFacts] = []

    def __call__(self, facts: ProblemFacts) -> Suggestions:
        self.seen.append(facts)
        options = (
            FixOption("fix-a", "Remove hand-offs", "Give one team the whole claim.", "Call waiting claimants.", 0.9),
            FixOption("fix-b", "One owner", "Name one owner.", "Tell them who owns it.", 0.8),
        )
        idea = IdeaOption("idea-1", "airline", "From airline: rebook automatically.", 0.7)
        return Suggestions(
            "Remove hand-offs: Give one team the whole claim.", "Call waiting claimants.", idea.text, options, (idea,)
        )


@pytest.fixture
def world(tmp_path: Path) -> dict[str, Any]:
    engine = make_engine(f"sqlite:///{tmp_path / 'unit.db'}")
    upgrade(engine)
    fakes: dict[str, Any] = {
        "embed": FakeEmbedder(),
        "index": FakeIndex(),
        "classifier": FakeClassifier(),
        "playbook": FakePlaybook(),
    }
    fakes["service"] = BacklogService(
        make_session_factory(engine),
        classifier_provider=lambda: fakes["classifier"],
        problem_index=fakes["index"],
        suggester=fakes["playbook"],
        embed=fakes["embed"],
    )
    return fakes


def test_logging_embeds_once_and_hands_the_vector_to_every_step(world: dict[str, Any]) -> None:
    text = "Claims pass through four departments and customers wait six weeks"
    logged = world["service"].log_problem(
        {"description": text, "root_cause": "each department re-checks the file", "touchpoint": "claims portal"},
        actor="Ana",
    )
    assert world["embed"].texts == [text]
    vector = world["index"].rows[logged.problem_id][2]
    assert world["index"].queries[0] is vector  # similar problems searched by that vector
    assert np.shares_memory(world["classifier"].vectors[0], vector)  # classified on it, not re-embedded
    facts = world["playbook"].seen[0]
    assert facts.vector is vector and facts.kind == "kaikaku" and facts.touchpoint == "claims portal"
    assert "many hand-offs" in facts.cues or "several departments or parties" in facts.cues
    assert [o.id for o in logged.suggestions.fix_options] == ["fix-a", "fix-b"]


def test_a_refused_status_move_writes_no_other_field(world: dict[str, Any]) -> None:
    service = world["service"]
    logged = service.log_problem({"description": "The SMS shows yesterday's date"}, actor="Ana")
    with pytest.raises(DomainError):
        service.update_item(logged.improvement_id, {"owner": "Ana"}, status="done", actor="Ana")
    detail = service.get_item(logged.improvement_id)
    assert detail.item.owner is None and detail.item.version == 1 and len(detail.history) == 1


def test_choosing_a_suggestion_saves_it_with_who_chose(world: dict[str, Any]) -> None:
    service = world["service"]
    logged = service.log_problem({"description": "Claims wait six weeks across four teams"}, actor="Ana")
    second = logged.suggestions.fix_options[1]
    service.choose_suggestions(logged.improvement_id, fix=second, actor="Bo", expected_version=1)
    detail = service.get_item(logged.improvement_id)
    assert detail.proposed_fix == "One owner: Name one owner." and detail.proactive_action == "Tell them who owns it."
    assert {(c.field, c.changed_by) for c in detail.history} >= {("proposed_fix", "Bo"), ("proactive_action", "Bo")}


def test_a_person_deciding_the_kind_steers_the_suggestions(world: dict[str, Any]) -> None:
    world["service"].log_problem({"description": "Customers want repairs at home", "kind": "kakushin"}, actor="Ana")
    assert world["playbook"].seen[-1].kind == "kakushin"


def test_merging_re_points_the_moved_problems_in_the_index(world: dict[str, Any]) -> None:
    service = world["service"]
    first = service.log_problem({"description": "Refunds take three weeks"}, actor="Ana")
    second = service.log_problem({"description": "Refund took a month to arrive"}, actor="Ana")
    service.merge(first.improvement_id, [second.improvement_id], actor="Ana")
    assert world["index"].rows[second.problem_id][0] == first.improvement_id
