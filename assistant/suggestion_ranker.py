"""The learned part of the playbook's ranking: which evidence about a problem points at which card.

Training data: ``assistant/data/suggestion_training*.jsonl``, problems written and labelled for this
project with every fix pattern and idea a CX lead would accept for each. Each (problem, card) pair
becomes a row of features (similarity to the card's examples and its "applies when" text, rubric cues
in common, kind, and the votes of the most similar *other* labelled problems) and the label "accepted";
a logistic regression weighs the evidence. The relevance cut-off below which nothing is shown is
chosen on out-of-fold scores of the training problems, never on the problems we report
(``benchmarks/data/suggestion_eval.jsonl``).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from assistant.array_cache import load_arrays, save_arrays
from assistant.embeddings import get_embedder
from improvement.models import ProblemFacts

if TYPE_CHECKING:
    from assistant.playbook import Playbook

log = logging.getLogger(__name__)

DATA = Path(__file__).parent / "data"
RANKER_VERSION = "3"
NEIGHBOURS = 8
FOLDS = 5


@dataclass(frozen=True)
class LabelledProblem:
    id: str
    facts: ProblemFacts
    accepted_fixes: tuple[str, ...]
    accepted_ideas: tuple[str, ...]


def facts_from_record(record: dict[str, Any]) -> ProblemFacts:
    """The facts the product has for a logged problem with these fields (as the log form collects them)."""
    fields = ("title", "description", "customer_story", "touchpoint", "segment", "industry", "root_cause", "kind")
    return ProblemFacts.of(**{name: record.get(name) or "" for name in fields})


def load_labelled(paths: Sequence[Path]) -> list[LabelledProblem]:
    problems = []
    for path in paths:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                record = json.loads(line)
                problems.append(
                    LabelledProblem(
                        record["id"],
                        facts_from_record(record),
                        tuple(record["accepted_fixes"]),
                        tuple(record["accepted_ideas"]),
                    )
                )
    return problems


def load_training() -> list[LabelledProblem]:
    return load_labelled(sorted(DATA.glob("suggestion_training*.jsonl")))


def _knn_votes(vector: np.ndarray, train_vectors: np.ndarray, labels: np.ndarray, exclude: int | None) -> np.ndarray:
    """Similarity-weighted share of the nearest labelled problems that accepted each card."""
    if len(train_vectors) == 0:
        return np.zeros(labels.shape[1])
    sims = train_vectors @ vector
    if exclude is not None:
        sims = sims.copy()
        sims[exclude] = -np.inf
    nearest = np.argsort(-sims)[:NEIGHBOURS]
    weights = np.clip(sims[nearest], 0, None)
    if weights.sum() <= 0:
        return np.zeros(labels.shape[1])
    return np.asarray((weights[:, None] * labels[nearest]).sum(0) / weights.sum())


def gate_features(
    facts: ProblemFacts,
    v: np.ndarray,
    train_vectors: np.ndarray,
    train_fixes: np.ndarray,
    card_examples: np.ndarray,
    exclude: int | None = None,
) -> list[float]:
    """Is this a concrete customer problem at all? Closeness to labelled problems and to the cards' examples,
    whether its nearest labelled problems had anything that fits, rubric cues, and length up to ten words."""
    sims = train_vectors @ v
    if exclude is not None:
        sims = sims.copy()
        sims[exclude] = -1.0
    nearest = np.argsort(-sims)[:5]
    return [
        float(sims.max()) if len(sims) else 0.0,
        float((card_examples @ v).max()),
        float(1 - train_fixes[nearest].any(1).mean()) if len(sims) else 1.0,
        float(min(len(facts.cues), 2)),
        float(min(np.log1p(len(facts.text.split())), np.log1p(10))),
    ]


def _top2_mean(sims: np.ndarray) -> np.ndarray:
    return np.asarray(np.sort(sims, axis=1)[:, -2:].mean(1))


class Features:
    """Feature rows for one problem against every fix pattern and every idea.

    Two views of closeness: sentence embeddings, centred on the playbook's mean so that what all CX
    problems share (customers, waiting, an app) stops dominating the cosine; and TF-IDF word overlap,
    which catches the telling words an embedding blurs ("approval", "rural", "handle time").
    """

    def __init__(self, playbook: Playbook, corpus: Sequence[str] = ()) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.playbook = playbook
        vec = playbook.vectors
        self.mean = np.concatenate(
            [
                vec.fix_examples.reshape(-1, vec.fix_examples.shape[-1]),
                vec.idea_fits.reshape(-1, vec.idea_fits.shape[-1]),
            ]
        ).mean(0)
        self.fix_examples = self.center(vec.fix_examples)
        self.fix_applies = self.center(vec.fix_applies)
        self.fix_not = self.center(vec.fix_not)
        self.idea_fits = self.center(vec.idea_fits)
        self.idea_job = self.center(vec.idea_job)
        self.idea_transfer = self.center(vec.idea_transfer)
        fixes, ideas = playbook.fixes, playbook.ideas
        fix_docs = [" ".join([f.title, f.applies_when, f.fix, f.proactive, *f.examples]) for f in fixes]
        idea_docs = [
            " ".join([i.customer_job, i.mechanism, i.problem_solved, i.idea, i.how_it_transfers, *i.fits])
            for i in ideas
        ]
        self.tfidf = TfidfVectorizer(stop_words="english", sublinear_tf=True).fit([*fix_docs, *idea_docs, *corpus])
        self.fix_doc = self.tfidf.transform(fix_docs)
        self.fix_parts = self.tfidf.transform([t for f in fixes for t in (*f.examples, f.applies_when)])
        self.fix_part_count = len(fixes[0].examples) + 1
        self.idea_doc = self.tfidf.transform(idea_docs)
        self.idea_parts = self.tfidf.transform([t for i in ideas for t in (*i.fits, i.problem_solved)])
        self.idea_part_count = len(ideas[0].fits) + 1
        self.fix_cues = [set(f.cues) for f in fixes]
        self.fix_main = np.array([f.kinds[0] for f in fixes])
        self.fix_kinds = [set(f.kinds) for f in fixes]
        self.fix_generic = np.array([f.generic for f in fixes], dtype=float)
        self.idea_main = np.array([i.kinds[0] for i in ideas])
        self.idea_kinds = [set(i.kinds) for i in ideas]

    def center(self, vectors: np.ndarray) -> np.ndarray:
        centred = vectors - self.mean
        return np.asarray(centred / np.clip(np.linalg.norm(centred, axis=-1, keepdims=True), 1e-9, None))

    def _words(self, facts: ProblemFacts) -> Any:
        return self.tfidf.transform([f"{facts.text} {facts.root_cause}"]).T

    def fixes(self, facts: ProblemFacts, v: np.ndarray, knn: np.ndarray) -> np.ndarray:
        """``v``: the problem's centred vector."""
        examples = self.fix_examples @ v
        words = self._words(facts)
        parts = (self.fix_parts @ words).toarray().reshape(-1, self.fix_part_count)
        cues = set(facts.cues)
        kind = facts.kind or ""
        return np.column_stack(
            [
                examples.max(1),
                _top2_mean(examples),
                self.fix_applies @ v,
                self.fix_not @ v,
                (self.fix_doc @ words).toarray().ravel(),
                parts.max(1),
                [min(2, len(cues & c)) for c in self.fix_cues],
                (self.fix_main == kind).astype(float),
                [float(kind in k) for k in self.fix_kinds],
                self.fix_generic,
                knn,
            ]
        )

    def ideas(self, facts: ProblemFacts, v: np.ndarray, knn: np.ndarray) -> np.ndarray:
        fits = self.idea_fits @ v
        words = self._words(facts)
        parts = (self.idea_parts @ words).toarray().reshape(-1, self.idea_part_count)
        kind = facts.kind or ""
        return np.column_stack(
            [
                fits.max(1),
                _top2_mean(fits),
                self.idea_job @ v,
                self.idea_transfer @ v,
                (self.idea_doc @ words).toarray().ravel(),
                parts.max(1),
                (self.idea_main == kind).astype(float),
                [float(kind in k) for k in self.idea_kinds],
                knn,
            ]
        )


@dataclass
class Ranker:
    playbook: Playbook
    fix_coef: np.ndarray
    fix_intercept: float
    idea_coef: np.ndarray
    idea_intercept: float
    fix_cutoff: float
    idea_cutoff: float
    train_vectors: np.ndarray
    train_fixes: np.ndarray  # (problems, fixes) 0/1
    train_ideas: np.ndarray  # (problems, ideas) 0/1
    gate_coef: np.ndarray  # "is this a concrete customer problem at all?" (see gate_features)
    gate_intercept: float
    corpus: Sequence[str] = ()  # the training problems' texts, part of the TF-IDF vocabulary

    def __post_init__(self) -> None:
        self.features = Features(self.playbook, self.corpus)
        self._train_centred = self.features.center(self.train_vectors)

    def fits_anything(self, facts: ProblemFacts, v: np.ndarray) -> bool:
        """False for texts that are not a concrete customer problem ("test", the office printer, "be better")."""
        examples = self.playbook.vectors.fix_examples.reshape(-1, self.playbook.vectors.fix_examples.shape[-1])
        x = np.array(gate_features(facts, v, self.train_vectors, self.train_fixes, examples))
        return bool(x @ self.gate_coef + self.gate_intercept >= 0)

    def fix_scores(self, facts: ProblemFacts, v: np.ndarray) -> np.ndarray:
        v = self.features.center(v)
        knn = _knn_votes(v, self._train_centred, self.train_fixes, None)
        return _sigmoid(self.features.fixes(facts, v, knn) @ self.fix_coef + self.fix_intercept)

    def idea_scores(self, facts: ProblemFacts, v: np.ndarray) -> np.ndarray:
        v = self.features.center(v)
        knn = _knn_votes(v, self._train_centred, self.train_ideas, None)
        return _sigmoid(self.features.ideas(facts, v, knn) @ self.idea_coef + self.idea_intercept)

    # Fitting -----------------------------------------------------------------------------------------
    @classmethod
    def fit(cls, playbook: Playbook, training: Sequence[LabelledProblem]) -> Ranker:
        vectors = _embed(training)
        fixes, ideas = _label_matrices(playbook, training)
        corpus = tuple(p.facts.text for p in training)
        features = Features(playbook, corpus)
        fix_rows, idea_rows = _rows(features, training, vectors, fixes, ideas, range(len(training)))
        fix_model = _logistic(np.vstack(fix_rows), fixes.ravel())
        idea_model = _logistic(np.vstack(idea_rows), ideas.ravel())
        fix_cutoff, idea_cutoff = _choose_cutoffs(playbook, training, vectors, fixes, ideas)
        examples = playbook.vectors.fix_examples.reshape(-1, playbook.vectors.fix_examples.shape[-1])
        gate_x = [gate_features(p.facts, vectors[n], vectors, fixes, examples, n) for n, p in enumerate(training)]
        gate = _logistic(np.array(gate_x), fixes.any(1).astype(int))
        return cls(
            playbook,
            fix_model.coef_[0],
            float(fix_model.intercept_[0]),
            idea_model.coef_[0],
            float(idea_model.intercept_[0]),
            fix_cutoff,
            idea_cutoff,
            vectors,
            fixes,
            ideas,
            gate.coef_[0],
            float(gate.intercept_[0]),
            corpus,
        )

    @classmethod
    def load_or_fit(cls, playbook: Playbook, training: Sequence[LabelledProblem], cache_dir: Path | None) -> Ranker:
        key = hashlib.sha256(
            json.dumps([(p.id, p.facts.text, p.accepted_fixes, p.accepted_ideas) for p in training]).encode()
            + json.dumps([f.id for f in playbook.fixes] + [i.id for i in playbook.ideas]).encode()
            + playbook.vectors.fix_applies.tobytes()[:4096]
            + RANKER_VERSION.encode()
        ).hexdigest()[:16]
        path = cache_dir / f"ranker-{key}.npz" if cache_dir else None
        corpus = tuple(p.facts.text for p in training)
        if path is not None and path.exists():
            try:
                saved = load_arrays(path)
                return cls(playbook, **{name: _scalar(saved[name]) for name in _SAVED}, corpus=corpus)
            except (OSError, ValueError, KeyError) as error:
                log.warning("refitting the suggestion ranker (%s): %s", path, error)
        ranker = cls.fit(playbook, training)
        if path is not None:
            save_arrays(path, **{name: getattr(ranker, name) for name in _SAVED})
        return ranker


# The fitted fields of a Ranker, as saved in its cache file.
_SAVED = (
    "fix_coef",
    "fix_intercept",
    "idea_coef",
    "idea_intercept",
    "fix_cutoff",
    "idea_cutoff",
    "train_vectors",
    "train_fixes",
    "train_ideas",
    "gate_coef",
    "gate_intercept",
)


def _scalar(array: np.ndarray) -> Any:
    return float(array) if array.ndim == 0 else array


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return np.asarray(1 / (1 + np.exp(-x)))


def _embed(problems: Sequence[LabelledProblem]) -> np.ndarray:
    if not problems:
        return np.zeros((0, get_embedder().dimensions), dtype=np.float32)
    return get_embedder().embed([p.facts.embedding_text() for p in problems]).astype(np.float32)


def _label_matrices(playbook: Playbook, problems: Sequence[LabelledProblem]) -> tuple[np.ndarray, np.ndarray]:
    fix_ids = {f.id: j for j, f in enumerate(playbook.fixes)}
    idea_ids = {i.id: j for j, i in enumerate(playbook.ideas)}
    fixes = np.zeros((len(problems), len(fix_ids)))
    ideas = np.zeros((len(problems), len(idea_ids)))
    for n, p in enumerate(problems):
        for f in p.accepted_fixes:
            fixes[n, fix_ids[f]] = 1
        for i in p.accepted_ideas:
            ideas[n, idea_ids[i]] = 1
    return fixes, ideas


def _rows(
    features: Features,
    problems: Sequence[LabelledProblem],
    vectors: np.ndarray,
    fixes: np.ndarray,
    ideas: np.ndarray,
    indices: Sequence[int] | range,
    neighbours: np.ndarray | None = None,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Feature rows; each problem's neighbour votes come from the *other* labelled problems only."""
    pool = np.arange(len(problems)) if neighbours is None else neighbours
    centred = features.center(vectors)
    fix_rows, idea_rows = [], []
    for n in indices:
        own = int(np.where(pool == n)[0][0]) if n in set(pool.tolist()) else None
        fix_knn = _knn_votes(centred[n], centred[pool], fixes[pool], own)
        idea_knn = _knn_votes(centred[n], centred[pool], ideas[pool], own)
        fix_rows.append(features.fixes(problems[n].facts, centred[n], fix_knn))
        idea_rows.append(features.ideas(problems[n].facts, centred[n], idea_knn))
    return fix_rows, idea_rows


def _logistic(x: np.ndarray, y: np.ndarray) -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=1.0, class_weight="balanced", max_iter=2000).fit(x, y)


def out_of_fold_scores(
    playbook: Playbook,
    problems: Sequence[LabelledProblem],
    vectors: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Every training problem's card scores from a ranking fitted without it (5 folds)."""
    from sklearn.model_selection import KFold

    vectors = _embed(problems) if vectors is None else vectors
    fixes, ideas = _label_matrices(playbook, problems)
    fix_scores = np.zeros(fixes.shape)
    idea_scores = np.zeros(ideas.shape)
    for train, test in KFold(FOLDS, shuffle=True, random_state=11).split(vectors):
        features = Features(playbook, [problems[n].facts.text for n in train])
        fix_rows, idea_rows = _rows(features, problems, vectors, fixes, ideas, train, neighbours=train)
        fix_model = _logistic(np.vstack(fix_rows), fixes[train].ravel())
        idea_model = _logistic(np.vstack(idea_rows), ideas[train].ravel())
        test_fix_rows, test_idea_rows = _rows(features, problems, vectors, fixes, ideas, test, neighbours=train)
        for n, f_rows, i_rows in zip(test, test_fix_rows, test_idea_rows, strict=True):
            fix_scores[n] = fix_model.predict_proba(f_rows)[:, 1]
            idea_scores[n] = idea_model.predict_proba(i_rows)[:, 1]
    return fix_scores, idea_scores


def _choose_cutoffs(
    playbook: Playbook,
    problems: Sequence[LabelledProblem],
    vectors: np.ndarray,
    fixes: np.ndarray,
    ideas: np.ndarray,
) -> tuple[float, float]:
    """Cut-offs that get the most problems right on held-out folds: a fitting first card shown, or
    nothing shown where nothing fits."""
    fix_scores, idea_scores = out_of_fold_scores(playbook, problems, vectors)
    generic = np.array([f.generic for f in playbook.fixes])
    fix_scores = np.where(generic, -1.0, fix_scores)
    fix_rows, idea_rows = [], []
    for n in range(len(problems)):
        best = int(np.argmax(fix_scores[n]))
        fix_rows.append((float(fix_scores[n, best]), bool(fixes[n, best]), bool(fixes[n].any())))
        order = np.argsort(-idea_scores[n])[:3]
        idea_rows.append((float(idea_scores[n, order[0]]), bool(ideas[n, order].any()), bool(ideas[n].any())))
    return _best_cutoff(fix_rows), _best_cutoff(idea_rows)


def _best_cutoff(rows: list[tuple[float, bool, bool]]) -> float:
    """The score below which showing nothing is right more often than showing the best card."""
    best_t, best_right = 0.0, -1
    for t in sorted({0.0} | {round(s, 3) for s, _, _ in rows}):
        right = sum((s >= t and hit) or (s < t and not any_) for s, hit, any_ in rows)
        if right > best_right:
            best_t, best_right = t, right
    return best_t
