"""The playbook: proactive-fix patterns and cross-industry ideas, ranked for one problem.

Shipped as data in the project's own words (``assistant/data/proactive_fixes.json``,
``cross_industry_ideas.json``, ``industries.json``). A card is not compared with a whole problem story
through one short line: each fix pattern carries example problems it fits and each idea the problems
it would help in other industries, and the ranking combines, for every card,

- how close the problem is to those examples and to the card's own "applies when" text,
- whether the rubric cues the classifier found (hand-offs, a KPI, wrong information...) point at it,
- whether it suits the kind of improvement the problem calls for,
- and how often the most similar labelled problems accepted it (``suggestion_training*.jsonl``),

weighted by a logistic regression learned on the labelled training problems
(:mod:`assistant.suggestion_ranker`). Cards below a relevance cut-off chosen on held-out folds are not
shown: "no good match" is an answer. An idea from the problem's own sector is never offered as
cross-industry.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from assistant.embeddings import get_embedder
from improvement.domain import Kind
from improvement.models import FixOption, IdeaOption, ProblemFacts, Suggestions

log = logging.getLogger(__name__)

DATA = Path(__file__).parent / "data"
FIXES_PATH = DATA / "proactive_fixes.json"
IDEAS_PATH = DATA / "cross_industry_ideas.json"
INDUSTRIES_PATH = DATA / "industries.json"
TRAINING_GLOB = "suggestion_training*.jsonl"
# Once the best card clears the relevance cut-off, alternatives to choose from are shown down to this
# estimated chance of acceptance: a person picks one of two or three options (issue #12), and an option with
# less than a one-in-ten chance that a CX lead would act on it is noise, not a choice.
ALTERNATIVE_FLOOR = 0.1


@dataclass(frozen=True)
class FixPattern:
    id: str
    title: str
    kinds: tuple[str, ...]
    cues: tuple[str, ...]
    generic: bool
    applies_when: str
    not_when: str
    fix: str
    proactive: str
    examples: tuple[str, ...]

    def written_for(self, facts: ProblemFacts) -> tuple[str, str]:
        """The fix and the proactive action, naming this problem's touchpoint and segment where known."""
        where = _phrase(facts.touchpoint) or "this touchpoint"
        segment = _phrase(facts.segment, article=False)
        who = f"the affected {segment}" if segment else "every affected customer"
        fix = self.fix.format(where=where, who=who)
        if facts.touchpoint and "{where}" not in self.fix:
            fix = f"At {where}: {_lower_first(fix)}"
        proactive = self.proactive.format(where=where, who=who)
        if segment and "{who}" not in self.proactive and "{who}" not in self.fix:
            proactive = f"For {segment}: {_lower_first(proactive)}"
        return fix, proactive

    def as_json(self, score: float | None = None, facts: ProblemFacts | None = None) -> dict[str, Any]:
        fix, proactive = self.written_for(facts or ProblemFacts(text=""))
        data: dict[str, Any] = {
            "id": self.id,
            "title": self.title,
            "when": self.applies_when,
            "action": fix,
            "proactive": proactive,
            "source": "playbook",
        }
        if score is not None:
            data["relevance"] = round(score, 3)
        return data


@dataclass(frozen=True)
class CrossIndustryIdea:
    id: str
    industry: str
    sector: str
    customer_job: str
    mechanism: str
    problem_solved: str
    idea: str
    how_it_transfers: str
    kinds: tuple[str, ...]
    fits: tuple[str, ...]

    def as_json(self, score: float | None = None) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "industry": self.industry,
            "customer_job": self.customer_job,
            "mechanism": self.mechanism,
            "problem_solved": self.problem_solved,
            "idea": self.idea,
            "how_it_transfers": self.how_it_transfers,
            "source": "playbook",
        }
        if score is not None:
            data["relevance"] = round(score, 3)
        return data

    def sentence(self) -> str:
        return f"From {self.industry}: {self.idea.rstrip('.')}. {self.how_it_transfers}"


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:] if text[1:2].islower() else text


def _phrase(value: str, *, article: bool = True) -> str:
    value = " ".join(value.split()).strip().rstrip(".")
    if not value:
        return ""
    lowered = value.lower()
    for prefix in ("the ", "our ", "a ", "an "):
        if lowered.startswith(prefix):
            value = value[len(prefix) :]
            break
    return f"the {value}" if article else value


class Industries:
    """Canonical industries and their sectors; what people type is mapped by name and alias."""

    def __init__(self, data: dict[str, dict[str, Any]]) -> None:
        self._sector = {name: entry["sector"] for name, entry in data.items()}
        self._names: dict[str, str] = {}
        for name, entry in data.items():
            self._names[name] = name
            for alias in entry.get("aliases", []):
                self._names[alias.lower()] = name

    @classmethod
    def load(cls, path: Path = INDUSTRIES_PATH) -> Industries:
        return cls(json.loads(path.read_text(encoding="utf-8"))["industries"])

    def canonical(self, text: str) -> str | None:
        text = " ".join(text.lower().split())
        if not text:
            return None
        if text in self._names:
            return self._names[text]
        # "retail banking app", "our hospital": the longest known name inside the text
        found = [name for name in self._names if f" {name} " in f" {text} "]
        return self._names[max(found, key=len)] if found else None

    def sector(self, text: str) -> str | None:
        name = self.canonical(text)
        return self._sector.get(name) if name else None

    def sector_of_canonical(self, name: str) -> str:
        return self._sector[name]


@dataclass
class CardVectors:
    """Embeddings of the playbook's text, computed once and cached on disk by content hash."""

    fix_examples: np.ndarray  # (fixes, examples, dim)
    fix_applies: np.ndarray  # (fixes, dim)
    fix_not: np.ndarray  # (fixes, dim)
    idea_fits: np.ndarray  # (ideas, fits, dim)
    idea_job: np.ndarray  # (ideas, dim): problem solved + customer job
    idea_transfer: np.ndarray  # (ideas, dim): how it transfers + mechanism


@dataclass
class Playbook:
    fixes: list[FixPattern]
    ideas: list[CrossIndustryIdea]
    industries: Industries
    vectors: CardVectors
    ranker: Any = None  # assistant.suggestion_ranker.Ranker, fitted on the labelled training problems
    _fix_index: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._fix_index = {f.id: i for i, f in enumerate(self.fixes)}

    @classmethod
    def load(cls, cache_dir: Path | None = None, *, with_ranker: bool = True) -> Playbook:
        industries = Industries.load()
        fixes = load_fixes()
        ideas = load_ideas(industries)
        vectors = _card_vectors(fixes, ideas, cache_dir)
        playbook = cls(fixes, ideas, industries, vectors)
        if with_ranker:
            from assistant.suggestion_ranker import Ranker, load_training

            playbook.ranker = Ranker.load_or_fit(playbook, load_training(), cache_dir)
        return playbook

    def fix(self, fix_id: str) -> FixPattern:
        return self.fixes[self._fix_index[fix_id]]

    # Ranking ---------------------------------------------------------------------------------------
    def facts_vector(self, facts: ProblemFacts) -> np.ndarray:
        if facts.vector is not None:
            return np.asarray(facts.vector, dtype=np.float32)
        return get_embedder().embed_one(facts.embedding_text())

    def cards(
        self, facts: ProblemFacts, k: int = 3
    ) -> tuple[list[tuple[FixPattern, float]], list[tuple[CrossIndustryIdea, float]]]:
        """The best fix patterns and cross-industry ideas for this problem, best first, only those relevant
        enough (maybe none); an idea is never from the problem's own sector. One scoring for both."""
        scores = self.ranker.card_scores(facts, self.facts_vector(facts))
        if scores is None:
            return [], []
        fix_scores, idea_scores = scores
        fixes = [(self.fixes[i], float(fix_scores[i])) for i in np.argsort(-fix_scores) if not self.fixes[i].generic]
        own_sector = self.industries.sector(facts.industry) if facts.industry else None
        ideas = [
            (self.ideas[i], float(idea_scores[i]))
            for i in np.argsort(-idea_scores)
            if self.ideas[i].sector != own_sector
        ]
        return (
            _above_cutoff(fixes, self.ranker.fix_cutoff)[:k],
            _above_cutoff(ideas, self.ranker.idea_cutoff)[:k],
        )

    def suggest(self, facts: ProblemFacts) -> Suggestions:
        """Two or three fix options and ideas; the first of each is what a new item starts with."""
        facts = facts if facts.vector is not None else facts.with_vector(self.facts_vector(facts))
        fix_cards, idea_cards = self.cards(facts, k=3)
        options = []
        for pattern, score in fix_cards:
            fix, proactive = pattern.written_for(facts)
            options.append(FixOption(pattern.id, pattern.title, fix, proactive, round(score, 3)))
        ideas = [IdeaOption(idea.id, idea.industry, idea.sentence(), round(score, 3)) for idea, score in idea_cards]
        first = options[0] if options else None
        return Suggestions(
            proposed_fix=f"{first.title}: {first.fix}" if first else "",
            proactive_action=first.proactive if first else "",
            cross_industry_idea=ideas[0].text if ideas else "",
            fix_options=tuple(options),
            idea_options=tuple(ideas),
        )


def _above_cutoff(ranked: list[tuple[Any, float]], cutoff: float) -> list[tuple[Any, float]]:
    """Nothing when the best card is below the cut-off; otherwise it and the alternatives worth a choice."""
    if not ranked or ranked[0][1] < cutoff:
        return []
    floor = min(cutoff, ALTERNATIVE_FLOOR)
    return [ranked[0], *[(card, score) for card, score in ranked[1:] if score >= floor]]


def load_fixes(path: Path = FIXES_PATH) -> list[FixPattern]:
    return [
        FixPattern(
            f["id"],
            f["title"],
            tuple(f["kinds"]),
            tuple(f["cues"]),
            bool(f["generic"]),
            f["applies_when"],
            f["not_when"],
            f["fix"],
            f["proactive"],
            tuple(f["examples"]),
        )
        for f in json.loads(path.read_text(encoding="utf-8"))["proactive_fixes"]
    ]


def load_ideas(industries: Industries, path: Path = IDEAS_PATH) -> list[CrossIndustryIdea]:
    return [
        CrossIndustryIdea(
            i["id"],
            i["industry"],
            industries.sector_of_canonical(i["industry"]),
            i["customer_job"],
            i["mechanism"],
            i["problem_solved"],
            i["idea"],
            i["how_it_transfers"],
            tuple(i["kinds"]),
            tuple(i["fits"]),
        )
        for i in json.loads(path.read_text(encoding="utf-8"))["cross_industry_ideas"]
    ]


def _texts(fixes: Sequence[FixPattern], ideas: Sequence[CrossIndustryIdea]) -> list[str]:
    texts: list[str] = []
    for f in fixes:
        texts += list(f.examples) + [f"{f.title}. {f.applies_when}", f.not_when]
    for i in ideas:
        texts += list(i.fits) + [f"{i.problem_solved} {i.customer_job}.", f"{i.how_it_transfers} {i.mechanism}."]
    return texts


def _card_vectors(fixes: list[FixPattern], ideas: list[CrossIndustryIdea], cache_dir: Path | None) -> CardVectors:
    embedder = get_embedder()
    texts = _texts(fixes, ideas)
    digest = hashlib.sha256("\x1f".join(texts).encode() + embedder.model_id.encode()).hexdigest()[:16]
    path = cache_dir / f"playbook-{digest}.npy" if cache_dir else None
    flat: np.ndarray | None = None
    if path is not None and path.exists():
        try:
            flat = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as error:  # a damaged cache is rebuilt, not fatal
            log.warning("rebuilding playbook cache %s: %s", path, error)
    if flat is None or flat.shape[0] != len(texts):
        flat = embedder.embed(texts).astype(np.float32)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp.npy")
            np.save(tmp, flat)
            tmp.replace(path)
    n_examples = len(fixes[0].examples)
    n_fits = len(ideas[0].fits)
    assert all(len(f.examples) == n_examples for f in fixes) and all(len(i.fits) == n_fits for i in ideas)
    fix_block = flat[: len(fixes) * (n_examples + 2)].reshape(len(fixes), n_examples + 2, -1)
    idea_block = flat[len(fixes) * (n_examples + 2) :].reshape(len(ideas), n_fits + 2, -1)
    return CardVectors(
        fix_examples=fix_block[:, :n_examples],
        fix_applies=fix_block[:, n_examples],
        fix_not=fix_block[:, n_examples + 1],
        idea_fits=idea_block[:, :n_fits],
        idea_job=idea_block[:, n_fits],
        idea_transfer=idea_block[:, n_fits + 1],
    )


def kind_of(value: str | Kind | None) -> Kind | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, Kind) else Kind(value)
