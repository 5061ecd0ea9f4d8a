"""The learned part of the playbook's ranking: which evidence about a problem points at which card.

Training data: ``assistant/data/suggestion_training*.jsonl``, problems written and labelled for this
project with every fix pattern and idea a CX lead would accept for each. Two models read it:

- a **pairwise** one: each (problem, card) pair becomes a row of features (similarity to the card's
  examples and its "applies when" text, rubric cues in common, kind, and the votes of the most similar
  *other* labelled problems) and the label "accepted"; a logistic regression weighs the evidence. It
  generalises to cards with few labelled problems.
- a **per-card** one (:class:`CardModel`): a kernel ridge regression from the problem's words (with
  the root cause), its embedding and its rubric cues to every card at once, trained on the labelled
  problems and on each card's own example problems. It learns what a card's problems share that no
  hand-made feature names ("measured on handle time" -> change the incentive).

Their scores are standardised per problem and mixed (:data:`CARD_MODEL_SHARE`, chosen on
cross-validation of the training problems), then turned into a probability that a CX lead accepts the
card (a logistic calibration on out-of-fold scores). The relevance cut-off below which nothing is shown
is chosen on the same out-of-fold scores, never on the problems we report
(``benchmarks/data/suggestion_heldout.jsonl``).
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
RANKER_VERSION = "5"
NEIGHBOURS = 8
FOLDS = 5
# Share of the per-card model in the mixed score; the rest is the pairwise model's. 0.6 gave the best
# first-fix and top-three-idea hit rates in 5-fold cross-validation of the training problems (0.5-0.75
# were within a point of each other; either model alone was 1-5 points worse).
CARD_MODEL_SHARE = 0.6
# Kernel ridge settings, from the same cross-validation: ridge strength, weight of the word features
# against the embedding, weight of the rubric cues, and how much a card's own example counts against a
# labelled problem.
RIDGE_ALPHA = 1.0
WORD_WEIGHT = 2.0
CUE_WEIGHT = 0.5
EXAMPLE_WEIGHT = 2.0


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
    best_cards: tuple[float, float],
    exclude: int | None = None,
) -> list[float]:
    """Is this a concrete customer problem at all? Closeness to labelled problems and to the cards' examples,
    whether its nearest labelled problems had anything that fits, rubric cues, length up to ten words, and
    how likely the best fix and the best idea are to be accepted (``best_cards``; out-of-fold in training),
    so that a short but concrete problem ("the delivery slot changed and nobody told the customer") passes."""
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
        *best_cards,
    ]


def _top2_mean(sims: np.ndarray) -> np.ndarray:
    return np.asarray(np.sort(sims, axis=1)[:, -2:].mean(1))


def _cue_names() -> list[str]:
    from improvement.rubric import CUES

    return sorted({label for cues in CUES.values() for label, _ in cues})


class CardModel:
    """Kernel ridge regression from a problem to every card's "accepted" label at once.

    The design matrix joins the problem's embedding, its TF-IDF words and word pairs (title,
    description and root cause) and its rubric cues; a linear kernel over the training rows (labelled
    problems plus the cards' own example problems) is solved once for all cards.
    """

    def __init__(
        self,
        texts: Sequence[str],
        vectors: np.ndarray,
        cues: Sequence[Sequence[str]],
        labels: np.ndarray,
        weights: np.ndarray,
    ) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.cue_index = {name: n for n, name in enumerate(_cue_names())}
        self.words = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, stop_words="english").fit(texts)
        self.rows = self.design(texts, vectors, cues)
        kernel = (self.rows @ self.rows.T).toarray()
        self.mean = (labels * weights[:, None]).sum(0) / weights.sum()
        self.coef = np.linalg.solve(
            kernel * weights[:, None] + RIDGE_ALPHA * np.eye(len(weights)), (labels - self.mean) * weights[:, None]
        )

    def design(self, texts: Sequence[str], vectors: np.ndarray, cues: Sequence[Sequence[str]]) -> Any:
        from scipy import sparse

        cue_rows = np.zeros((len(texts), len(self.cue_index)))
        for n, found in enumerate(cues):
            for cue in found:
                if cue in self.cue_index:
                    cue_rows[n, self.cue_index[cue]] = CUE_WEIGHT
        return sparse.hstack(
            [sparse.csr_matrix(vectors), WORD_WEIGHT * self.words.transform(texts), sparse.csr_matrix(cue_rows)]
        ).tocsr()

    def scores(self, texts: Sequence[str], vectors: np.ndarray, cues: Sequence[Sequence[str]]) -> np.ndarray:
        """(problems, cards) scores; higher is a better fit, not a probability."""
        return np.asarray((self.design(texts, vectors, cues) @ self.rows.T).toarray() @ self.coef + self.mean)

    @classmethod
    def fit(
        cls,
        problems: Sequence[ProblemFacts],
        vectors: np.ndarray,
        labels: np.ndarray,
        example_texts: Sequence[str],
        example_vectors: np.ndarray,
        example_labels: np.ndarray,
    ) -> CardModel:
        from improvement.rubric import find_cues

        texts = [_words_of(f) for f in problems] + list(example_texts)
        cues = [f.cues for f in problems] + [tuple(h.cue for h in find_cues(t)) for t in example_texts]
        weights = np.r_[np.ones(len(problems)), EXAMPLE_WEIGHT * np.ones(len(example_texts))]
        return cls(
            texts,
            np.vstack([vectors.reshape(-1, example_vectors.shape[-1]), example_vectors]),
            cues,
            np.vstack([labels, example_labels]),
            weights,
        )

    def score_one(self, facts: ProblemFacts, vector: np.ndarray) -> np.ndarray:
        return self.scores([_words_of(facts)], vector[None, :], [facts.cues])[0]


def _words_of(facts: ProblemFacts) -> str:
    return f"{facts.text} {facts.root_cause}".strip()


def _card_examples(playbook: Playbook, which: str) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Each card's own example problems as extra training rows: texts, vectors, one-hot labels."""
    if which == "fixes":
        texts = [e for f in playbook.fixes for e in f.examples]
        vectors = playbook.vectors.fix_examples
        per_card = len(playbook.fixes[0].examples)
    else:
        texts = [e for i in playbook.ideas for e in i.fits]
        vectors = playbook.vectors.idea_fits
        per_card = len(playbook.ideas[0].fits)
    cards = vectors.shape[0]
    labels = np.kron(np.eye(cards), np.ones((per_card, 1)))
    return texts, vectors.reshape(-1, vectors.shape[-1]), labels


def fit_card_models(
    playbook: Playbook, problems: Sequence[ProblemFacts], vectors: np.ndarray, fixes: np.ndarray, ideas: np.ndarray
) -> tuple[CardModel, CardModel]:
    fix_model = CardModel.fit(problems, vectors, fixes, *_card_examples(playbook, "fixes"))
    idea_model = CardModel.fit(problems, vectors, ideas, *_card_examples(playbook, "ideas"))
    return fix_model, idea_model


def mix(card_scores: np.ndarray, pair_probabilities: np.ndarray) -> np.ndarray:
    """The two models' scores, standardised across the cards of each problem, mixed."""
    logits = np.log(np.clip(pair_probabilities, 1e-6, 1 - 1e-6) / np.clip(1 - pair_probabilities, 1e-6, 1))
    return np.asarray(CARD_MODEL_SHARE * _standardise(card_scores) + (1 - CARD_MODEL_SHARE) * _standardise(logits))


def _standardise(scores: np.ndarray) -> np.ndarray:
    scores = np.atleast_2d(scores)
    return np.asarray((scores - scores.mean(1, keepdims=True)) / (scores.std(1, keepdims=True) + 1e-9))


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
    fix_calibration: np.ndarray  # (slope, intercept): mixed score -> probability a CX lead accepts
    idea_calibration: np.ndarray
    training: Sequence[ProblemFacts] = ()  # the labelled problems, in the order of train_vectors

    def __post_init__(self) -> None:
        self.features = Features(self.playbook, [f.text for f in self.training])
        self._train_centred = self.features.center(self.train_vectors)
        # The per-card models are refitted at load (about a second), not cached: they are a solve over
        # the training rows, and caching them would store the whole design matrix.
        self.fix_model, self.idea_model = fit_card_models(
            self.playbook, self.training, self.train_vectors, self.train_fixes, self.train_ideas
        )

    def card_scores(self, facts: ProblemFacts, v: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """Every fix pattern's and every idea's probability of being accepted for this problem, or None for a
        text that is not a concrete customer problem ("test", the office printer, "be better"). Computed once:
        the gate weighs the best cards' probabilities too."""
        fix_scores, idea_scores = self.fix_scores(facts, v), self.idea_scores(facts, v)
        examples = self.playbook.vectors.fix_examples.reshape(-1, self.playbook.vectors.fix_examples.shape[-1])
        best = _best_cards(self.playbook, fix_scores[None, :], idea_scores[None, :])[0]
        x = np.array(gate_features(facts, v, self.train_vectors, self.train_fixes, examples, best))
        if x @ self.gate_coef + self.gate_intercept < 0:
            return None
        return fix_scores, idea_scores

    def pair_fix_scores(self, facts: ProblemFacts, v: np.ndarray) -> np.ndarray:
        centred = self.features.center(v)
        knn = _knn_votes(centred, self._train_centred, self.train_fixes, None)
        return _sigmoid(self.features.fixes(facts, centred, knn) @ self.fix_coef + self.fix_intercept)

    def pair_idea_scores(self, facts: ProblemFacts, v: np.ndarray) -> np.ndarray:
        centred = self.features.center(v)
        knn = _knn_votes(centred, self._train_centred, self.train_ideas, None)
        return _sigmoid(self.features.ideas(facts, centred, knn) @ self.idea_coef + self.idea_intercept)

    def fix_scores(self, facts: ProblemFacts, v: np.ndarray) -> np.ndarray:
        """Each fix pattern's estimated probability that a CX lead accepts it for this problem."""
        mixed = mix(self.fix_model.score_one(facts, v), self.pair_fix_scores(facts, v))[0]
        return _calibrated(mixed, self.fix_calibration)

    def idea_scores(self, facts: ProblemFacts, v: np.ndarray) -> np.ndarray:
        mixed = mix(self.idea_model.score_one(facts, v), self.pair_idea_scores(facts, v))[0]
        return _calibrated(mixed, self.idea_calibration)

    # Fitting -----------------------------------------------------------------------------------------
    @classmethod
    def fit(cls, playbook: Playbook, training: Sequence[LabelledProblem]) -> Ranker:
        vectors = _embed(training)
        fixes, ideas = _label_matrices(playbook, training)
        facts = tuple(p.facts for p in training)
        features = Features(playbook, [f.text for f in facts])
        fix_rows, idea_rows = _rows(features, training, vectors, fixes, ideas, range(len(training)))
        fix_model = _logistic(np.vstack(fix_rows), fixes.ravel())
        idea_model = _logistic(np.vstack(idea_rows), ideas.ravel())
        fix_mixed, idea_mixed = out_of_fold_scores(playbook, training, vectors)
        fix_calibration = _calibration(fix_mixed, fixes)
        idea_calibration = _calibration(idea_mixed, ideas)
        fix_probabilities = _calibrated(fix_mixed, fix_calibration)
        idea_probabilities = _calibrated(idea_mixed, idea_calibration)
        fix_cutoff, idea_cutoff = _choose_cutoffs(playbook, fix_probabilities, idea_probabilities, fixes, ideas)
        examples = playbook.vectors.fix_examples.reshape(-1, playbook.vectors.fix_examples.shape[-1])
        best = _best_cards(playbook, fix_probabilities, idea_probabilities)
        gate_x = [
            gate_features(p.facts, vectors[n], vectors, fixes, examples, best[n], n) for n, p in enumerate(training)
        ]
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
            fix_calibration,
            idea_calibration,
            facts,
        )

    @classmethod
    def load_or_fit(cls, playbook: Playbook, training: Sequence[LabelledProblem], cache_dir: Path | None) -> Ranker:
        key = hashlib.sha256(
            json.dumps(
                [(p.id, p.facts.text, p.facts.root_cause, p.accepted_fixes, p.accepted_ideas) for p in training]
            ).encode()
            + json.dumps([f.id for f in playbook.fixes] + [i.id for i in playbook.ideas]).encode()
            + playbook.vectors.fix_applies.tobytes()[:4096]
            + RANKER_VERSION.encode()
        ).hexdigest()[:16]
        path = cache_dir / f"ranker-{key}.npz" if cache_dir else None
        facts = tuple(p.facts for p in training)
        if path is not None and path.exists():
            try:
                saved = load_arrays(path)
                return cls(playbook, **{name: _scalar(saved[name]) for name in _SAVED}, training=facts)
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
    "fix_calibration",
    "idea_calibration",
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
    """Every training problem's mixed card scores from models fitted without it (5 folds)."""
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
        fix_cards, idea_cards = fit_card_models(
            playbook, [problems[n].facts for n in train], vectors[train], fixes[train], ideas[train]
        )
        test_fix_rows, test_idea_rows = _rows(features, problems, vectors, fixes, ideas, test, neighbours=train)
        for n, f_rows, i_rows in zip(test, test_fix_rows, test_idea_rows, strict=True):
            facts = problems[n].facts
            fix_scores[n] = mix(fix_cards.score_one(facts, vectors[n]), fix_model.predict_proba(f_rows)[:, 1])[0]
            idea_scores[n] = mix(idea_cards.score_one(facts, vectors[n]), idea_model.predict_proba(i_rows)[:, 1])[0]
    return fix_scores, idea_scores


def _best_cards(playbook: Playbook, fix_probabilities: np.ndarray, idea_probabilities: np.ndarray) -> np.ndarray:
    """(problems, 2): the best non-generic fix's and the best idea's probability of being accepted."""
    generic = np.array([f.generic for f in playbook.fixes])
    return np.column_stack([np.where(generic, 0.0, fix_probabilities).max(1), idea_probabilities.max(1)])


def _calibration(mixed: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Slope and intercept turning a mixed score into the probability that the card is accepted."""
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=1.0, max_iter=1000).fit(mixed.reshape(-1, 1), labels.ravel())
    return np.array([float(model.coef_[0, 0]), float(model.intercept_[0])])


def _calibrated(mixed: np.ndarray, calibration: np.ndarray) -> np.ndarray:
    return _sigmoid(mixed * calibration[0] + calibration[1])


def _choose_cutoffs(
    playbook: Playbook,
    fix_scores: np.ndarray,
    idea_scores: np.ndarray,
    fixes: np.ndarray,
    ideas: np.ndarray,
) -> tuple[float, float]:
    """Cut-offs that get the most problems right on held-out folds: a fitting first card shown, or
    nothing shown where nothing fits."""
    generic = np.array([f.generic for f in playbook.fixes])
    fix_scores = np.where(generic, -1.0, fix_scores)
    fix_rows, idea_rows = [], []
    for n in range(len(fixes)):
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
