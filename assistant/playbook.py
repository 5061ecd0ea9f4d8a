"""The playbook, shipped as data: proactive-fix patterns and cross-industry ideas, searchable by meaning.

It gives every answer concrete suggestions even when no language model is configured, and it is
what the classifier's new backlog items are seeded with (proposed fix, proactive action, idea).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from assistant.embeddings import get_embedder
from improvement.domain import Kind
from improvement.models import Suggestions

PLAYBOOK_PATH = Path(__file__).parent / "data" / "playbook.json"


@dataclass(frozen=True)
class ProactiveFix:
    id: str
    title: str
    kinds: tuple[str, ...]
    when: str
    action: str

    def as_json(self, score: float | None = None) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "title": self.title,
            "when": self.when,
            "action": self.action,
            "source": "playbook",
        }
        if score is not None:
            data["relevance"] = round(score, 3)
        return data


@dataclass(frozen=True)
class CrossIndustryIdea:
    id: str
    industry: str
    problem_solved: str
    idea: str
    how_it_transfers: str

    def as_json(self, score: float | None = None) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "industry": self.industry,
            "problem_solved": self.problem_solved,
            "idea": self.idea,
            "how_it_transfers": self.how_it_transfers,
            "source": "playbook",
        }
        if score is not None:
            data["relevance"] = round(score, 3)
        return data


class Playbook:
    def __init__(self, fixes: list[ProactiveFix], ideas: list[CrossIndustryIdea]) -> None:
        self.fixes = fixes
        self.ideas = ideas
        embedder = get_embedder()
        self._fix_vectors = embedder.embed([f"{f.title}. {f.when}" for f in fixes])
        self._idea_vectors = embedder.embed([f"{i.problem_solved}. {i.how_it_transfers}" for i in ideas])

    @classmethod
    def load(cls, path: Path = PLAYBOOK_PATH) -> Playbook:
        data = json.loads(path.read_text(encoding="utf-8"))
        fixes = [
            ProactiveFix(f["id"], f["title"], tuple(f["kinds"]), f["when"], f["action"])
            for f in data["proactive_fixes"]
        ]
        ideas = [
            CrossIndustryIdea(i["id"], i["industry"], i["problem_solved"], i["idea"], i["how_it_transfers"])
            for i in data["cross_industry_ideas"]
        ]
        return cls(fixes, ideas)

    def proactive_fixes(self, text: str, kind: Kind | None = None, k: int = 3) -> list[tuple[ProactiveFix, float]]:
        scores = self._fix_vectors @ get_embedder().embed_one(text)
        order = np.argsort(-scores)
        chosen = [(self.fixes[i], float(scores[i])) for i in order if kind is None or kind.value in self.fixes[i].kinds]
        return chosen[:k]

    def ideas_for(self, text: str, k: int = 3) -> list[tuple[CrossIndustryIdea, float]]:
        scores = self._idea_vectors @ get_embedder().embed_one(text)
        return [(self.ideas[i], float(scores[i])) for i in np.argsort(-scores)[:k]]

    def suggest(self, text: str, kind: Kind) -> Suggestions:
        fixes = self.proactive_fixes(text, kind, k=2)
        ideas = self.ideas_for(text, k=1)
        call_first = next(
            (
                f
                for f, _ in self.proactive_fixes(text, None, k=len(self.fixes))
                if f.id in ("fix-call-before", "fix-predict-prevent", "fix-notify")
            ),
            None,
        )
        idea = ideas[0][0] if ideas else None
        return Suggestions(
            proposed_fix=f"{fixes[0][0].title}: {fixes[0][0].action}" if fixes else "",
            proactive_action=f"{call_first.title}: {call_first.action}" if call_first else "",
            cross_industry_idea=(f"From {idea.industry}: {idea.idea}. {idea.how_it_transfers}." if idea else ""),
        )
