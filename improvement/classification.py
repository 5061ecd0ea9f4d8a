"""Classify a customer problem as kaizen, kaikaku or kakushin.

The default classifier is offline, a small ensemble chosen on evidence (BENCHMARKS.md): a logistic regression on
sentence embeddings (assistant.embeddings) plus a few rubric cue counts, averaged with a logistic regression on
TF-IDF words, both fit on the project's labelled example set (``improvement/data/labelled_problems.jsonl``).
After ``backlog retrain`` the team's own decisions are its memory (see TEAM_NEAR).

Honest confidence, on text it was never fit on:
- probabilities are temperature-calibrated on out-of-fold predictions where whole industries are held out
  (group k-fold over industries), not random folds of near-duplicates, and the needs-review threshold is chosen on
  those same predictions;
- 95% or more is said only with strong evidence: the calibrated model is that sure *and* every one of the
  closest labelled examples has the same kind; otherwise the confidence stops at 94%;
- text with nothing to classify (a word or two, keyboard mash, a placeholder) is flagged for review with a
  rationale that says so, and so is text that does not read as English.
The fitted model is cached in the data folder, keyed by the example set and model file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from improvement.content import content_problem
from improvement.domain import Classification, DomainError, Kind
from improvement.rubric import cue_counts, english_share, find_cues

log = logging.getLogger(__name__)

DATA_DIR = Path(__file__).parent / "data"
EXAMPLES_PATH = DATA_DIR / "labelled_problems.jsonl"
HELDOUT_PATH = DATA_DIR / "heldout_problems.jsonl"  # never fit on, never used for a choice: see BENCHMARKS.md
CONTENT_FREE_PATH = DATA_DIR / "content_free.jsonl"
CLASSIFIER_VERSION = "lr-emb-cues-words-v2"
SHIPPED_VERSION = "shipped"
KINDS: tuple[Kind, ...] = tuple(Kind)
REGULARISATION_C = 4.0
WORD_C = 8.0
WORD_SHARE = 0.5  # the ensemble: half embeddings + cues, half TF-IDF words (chosen on evidence: BENCHMARKS.md)
CUE_SCALE = 0.2
# The team's decisions do not move the regression, which holds what the project knows of the three kinds in
# general: at weights 0.2-1.0, thirty decisions following one team's convention moved the boundary for every
# team (held-out macro-F1 0.975 -> 0.92-0.94, tests/integration/test_retraining.py's synthetic team). They act
# as a memory instead: a problem close to ones the team decided leans to the team's kind. Similarity below
# TEAM_NEAR[0] adds nothing (other teams' problems); at TEAM_NEAR[1] a decision counts fully. TEAM_STRENGTH was
# chosen on the synthetic team alone: 8, 12 and 30 decisions made 67%, 87% and 98% of its later problems right,
# and changed no prediction on the shipped training examples (4: 38/65/98%, 8: 77/88/98%, also none changed).
TEAM_NEAR = (0.5, 0.8)
TEAM_NEIGHBOURS = 5
TEAM_STRENGTH = 6.0  # per fully similar decision, added to calibrated logits (see the note above)
TARGET_ACCURACY_ABOVE_THRESHOLD = 0.97
MAX_UNSUPPORTED_CONFIDENCE = 0.94
STRONG_NEIGHBOURS = 7
GROUP_FOLDS = 8  # each fold holds out about four whole industries
MIN_ENGLISH_SHARE = 0.08
MIN_NEIGHBOUR_SIMILARITY = 0.20
CONTENT_FREE_SHRINK = 0.1  # how far towards "can't tell" (1/3 each) an answer on content-free text is pulled
OUT_OF_SCOPE_SHRINK = 0.35


class Embedder(Protocol):
    model_id: str

    def embed(self, texts: list[str]) -> np.ndarray: ...


class Classifier(Protocol):
    name: str

    def classify(self, texts: Sequence[str], vectors: np.ndarray | None = None) -> list[Classification]: ...


@dataclass(frozen=True)
class LabelledExample:
    text: str
    kind: Kind
    industry: str = ""
    touchpoint: str = ""
    voice: str = ""
    source: str = "shipped"  # or "team": a person's decision in this backlog
    decided_by: str = ""
    decided_at: str = ""


def _read_jsonl(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def load_examples(path: Path = EXAMPLES_PATH) -> list[LabelledExample]:
    return [
        LabelledExample(
            row["text"],
            Kind(row.get("kind") or row["label"]),
            row.get("industry", ""),
            row.get("touchpoint", ""),
            row.get("voice", ""),
        )
        for row in _read_jsonl(path)
    ]


def load_heldout(path: Path = HELDOUT_PATH) -> list[LabelledExample]:
    """The held-out split: industries found nowhere in the training set, written separately."""
    return load_examples(path)


def load_content_free(path: Path = CONTENT_FREE_PATH) -> list[str]:
    return [row["text"] for row in _read_jsonl(path)]


def features(embeddings: np.ndarray, texts: Sequence[str]) -> np.ndarray:
    cues = np.array([cue_counts(t) for t in texts], dtype=np.float32).reshape(len(texts), len(KINDS)) * CUE_SCALE
    return np.hstack([embeddings, cues])


def _fit_logistic(x: np.ndarray, y: np.ndarray, c: float = REGULARISATION_C):  # type: ignore[no-untyped-def]
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=c, max_iter=3000).fit(x, y)


@dataclass(frozen=True)
class WordModel:
    """TF-IDF over words and word pairs with its own logistic regression: the second half of the ensemble.

    Stored as plain arrays (vocabulary, idf, weights) and applied by hand, so the cache needs no pickle.
    """

    vocabulary: list[str]
    idf: np.ndarray
    coef: np.ndarray
    intercept: np.ndarray

    @classmethod
    def fit(cls, texts: Sequence[str], y: np.ndarray) -> WordModel:
        from sklearn.feature_extraction.text import TfidfVectorizer

        vectoriser = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
        model = _fit_logistic(vectoriser.fit_transform(list(texts)), y, WORD_C)
        vocabulary = [str(w) for w in vectoriser.get_feature_names_out()]
        return cls(vocabulary, vectoriser.idf_.astype(np.float64), model.coef_.astype(np.float64), model.intercept_)

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        from sklearn.feature_extraction.text import CountVectorizer

        counts = CountVectorizer(ngram_range=(1, 2), vocabulary=self.vocabulary).transform(list(texts)).astype(float)
        counts.data = 1.0 + np.log(counts.data)  # sublinear tf, as TfidfVectorizer fitted it
        weighted = counts.multiply(self.idf).tocsr()
        norms = np.sqrt(np.asarray(weighted.multiply(weighted).sum(axis=1))).ravel()
        norms[norms == 0] = 1.0
        return np.asarray(weighted.multiply(1 / norms[:, None]) @ self.coef.T) + self.intercept


def ensemble_logits(embedding_logits: np.ndarray, word_logits: np.ndarray) -> np.ndarray:
    return (1 - WORD_SHARE) * embedding_logits + WORD_SHARE * word_logits


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def grouped_folds(
    y: np.ndarray, groups: Sequence[str] | None, *, folds: int = 5, seed: int = 7
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Whole industries held out together (group k-fold) when there are enough; stratified k-fold otherwise.

    Held-out industries are what a new team is: random folds would score a problem against its near-twin
    from the same industry and flatter the model.
    """
    from sklearn.model_selection import GroupKFold, StratifiedKFold

    if groups is not None and len(set(groups)) >= 5:
        splitter = GroupKFold(n_splits=min(GROUP_FOLDS, len(set(groups))))
        splits = [
            (train, test)
            for train, test in splitter.split(y, y, np.asarray(groups))
            if len(set(y[train].tolist())) == len(KINDS)
        ]
        if splits:
            return splits
    return list(StratifiedKFold(folds, shuffle=True, random_state=seed).split(y, y))


def out_of_fold_logits(
    x: np.ndarray,
    y: np.ndarray,
    *,
    groups: Sequence[str] | None = None,
    folds: int = 5,
    seed: int = 7,
    c: float = REGULARISATION_C,
    texts: Sequence[str] | None = None,
) -> np.ndarray:
    """Logits for every example from a model that never saw it (or, with ``groups``, never saw its industry).

    With ``texts``, the ensemble's: the embedding model's logits averaged with the word model's.
    """
    logits = np.zeros((len(y), len(KINDS)))
    for train, test in grouped_folds(y, groups, folds=folds, seed=seed):
        model = _fit_logistic(x[train], y[train], c)
        logits[test] = model.decision_function(x[test])
        if texts is not None:
            words = WordModel.fit([texts[i] for i in train], y[train])
            logits[test] = ensemble_logits(logits[test], words.logits([texts[i] for i in test]))
    return logits


def neighbour_votes(similarities: np.ndarray, labels: np.ndarray, k: int = STRONG_NEIGHBOURS) -> np.ndarray:
    """For each row, how many of its ``k`` most similar labelled examples have each kind."""
    k = min(k, similarities.shape[1])
    nearest = np.argsort(-similarities, axis=1)[:, :k]
    votes = np.zeros((similarities.shape[0], len(KINDS)))
    for kind in range(len(KINDS)):
        votes[:, kind] = (labels[nearest] == kind).sum(axis=1)
    return votes


def out_of_fold_votes(
    embeddings: np.ndarray, y: np.ndarray, groups: Sequence[str] | None, *, folds: int = 5, seed: int = 7
) -> np.ndarray:
    votes = np.zeros((len(y), len(KINDS)))
    for train, test in grouped_folds(y, groups, folds=folds, seed=seed):
        votes[test] = neighbour_votes(embeddings[test] @ embeddings[train].T, y[train])
    return votes


def strong_evidence(probs: np.ndarray, votes: np.ndarray) -> np.ndarray:
    """The answer may be stated at 95% or more only when the closest labelled examples all agree with it."""
    best = probs.argmax(axis=1)
    return votes[np.arange(len(best)), best] >= votes.sum(axis=1)


def cap_confidence(probs: np.ndarray, strong: np.ndarray, cap: float = MAX_UNSUPPORTED_CONFIDENCE) -> np.ndarray:
    """Without strong evidence, the top probability stops at ``cap``; the rest is shared out as before."""
    probs = probs.copy()
    for i in np.where(~strong & (probs.max(axis=1) > cap))[0]:
        best = int(probs[i].argmax())
        rest = 1 - probs[i, best]
        others = [k for k in range(probs.shape[1]) if k != best]
        share = probs[i, others] / rest if rest > 0 else np.full(len(others), 1 / len(others))
        probs[i, best] = cap
        probs[i, others] = (1 - cap) * share
    return probs


def fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """Temperature that minimises held-out log loss: confidences then mean what they say."""
    from scipy.optimize import minimize_scalar

    def nll(t: float) -> float:
        p = _softmax(logits / t)
        return float(-np.log(np.clip(p[np.arange(len(y)), y], 1e-12, None)).mean())

    return float(minimize_scalar(nll, bounds=(0.05, 20.0), method="bounded").x)


def choose_threshold(
    confidence: np.ndarray, correct: np.ndarray, target: float = TARGET_ACCURACY_ABOVE_THRESHOLD
) -> float:
    """Lowest confidence above which held-out accuracy reaches ``target``; below it, a person decides."""
    for t in np.round(np.arange(0.34, 0.96, 0.01), 2):
        keep = confidence >= t
        if keep.sum() >= max(10, 0.5 * len(correct)) and correct[keep].mean() >= target:
            return float(t)
    return 0.8


@dataclass
class FittedModel:
    coef: np.ndarray
    intercept: np.ndarray
    temperature: float
    threshold: float
    example_embeddings: np.ndarray
    example_labels: np.ndarray
    example_texts: list[str]
    # Figures from fitting with whole industries held out: what the confidences and the threshold were chosen on.
    cv_macro_f1: float = float("nan")
    cv_wrong_at_95: int = -1
    # The team's decisions the model was fit on, as a memory that leans nearby problems to the team's kind.
    team_embeddings: np.ndarray | None = None
    team_labels: np.ndarray | None = None
    words: WordModel | None = None

    def team_evidence(self, embeddings: np.ndarray) -> np.ndarray:
        """Per kind, how many of the team's decisions are close to each text (0 when none is)."""
        evidence = np.zeros((embeddings.shape[0], len(KINDS)))
        if self.team_embeddings is None or self.team_labels is None or not len(self.team_labels):
            return evidence
        low, high = TEAM_NEAR
        sims = embeddings @ self.team_embeddings.T
        nearest = np.argsort(-sims, axis=1)[:, :TEAM_NEIGHBOURS]
        weight = np.clip((np.take_along_axis(sims, nearest, axis=1) - low) / (high - low), 0.0, 1.0)
        for kind in range(len(KINDS)):
            evidence[:, kind] = (weight * (self.team_labels[nearest] == kind)).sum(axis=1)
        return evidence

    def save(self, path: Path) -> None:
        from assistant.array_cache import save_arrays

        save_arrays(
            path,
            coef=self.coef,
            intercept=self.intercept,
            temperature=self.temperature,
            threshold=self.threshold,
            example_embeddings=self.example_embeddings,
            example_labels=self.example_labels,
            example_texts=np.array(self.example_texts),
            cv_macro_f1=self.cv_macro_f1,
            cv_wrong_at_95=self.cv_wrong_at_95,
            team_embeddings=np.zeros((0, self.example_embeddings.shape[1]), dtype=np.float32)
            if self.team_embeddings is None
            else self.team_embeddings,
            team_labels=np.zeros(0, dtype=np.int64) if self.team_labels is None else self.team_labels,
            **(
                {}
                if self.words is None
                else {
                    "word_vocabulary": np.array(self.words.vocabulary),
                    "word_idf": self.words.idf,
                    "word_coef": self.words.coef,
                    "word_intercept": self.words.intercept,
                }
            ),
        )

    @classmethod
    def load(cls, path: Path) -> FittedModel:
        with np.load(path, allow_pickle=False) as data:
            return cls(
                data["coef"],
                data["intercept"],
                float(data["temperature"]),
                float(data["threshold"]),
                data["example_embeddings"],
                data["example_labels"],
                [str(t) for t in data["example_texts"]],
                float(data["cv_macro_f1"]) if "cv_macro_f1" in data else float("nan"),
                int(data["cv_wrong_at_95"]) if "cv_wrong_at_95" in data else -1,
                data["team_embeddings"] if "team_embeddings" in data else None,
                data["team_labels"] if "team_labels" in data else None,
                WordModel(
                    [str(w) for w in data["word_vocabulary"]],
                    data["word_idf"],
                    data["word_coef"],
                    data["word_intercept"],
                )
                if "word_vocabulary" in data
                else None,
            )


def _groups(examples: Sequence[LabelledExample]) -> list[str]:
    return [e.industry.strip().lower() or f"({e.source})" for e in examples]


def fit_model(
    embedder: Embedder, examples: Sequence[LabelledExample], *, embeddings: np.ndarray | None = None
) -> FittedModel:
    """Fit the regression on the shipped examples and keep the team's decisions as its memory.

    Calibration and the review threshold are chosen on predictions for industries held out.
    """
    from sklearn.metrics import f1_score

    texts = [e.text for e in examples]
    y = np.array([KINDS.index(e.kind) for e in examples])
    emb = embedder.embed(texts) if embeddings is None else np.asarray(embeddings, dtype=np.float32)
    team = np.array([e.source == "team" for e in examples], dtype=bool)
    base = ~team
    base_groups = [g for g, is_team in zip(_groups(examples), team, strict=True) if not is_team]
    base_texts = [t for t, is_team in zip(texts, team, strict=True) if not is_team]
    x = features(emb[base], base_texts)
    yb = y[base]
    oof = out_of_fold_logits(x, yb, groups=base_groups, texts=base_texts)
    temperature = fit_temperature(oof, yb)
    votes = out_of_fold_votes(emb[base], yb, base_groups)
    raw = _softmax(oof / temperature)
    calibrated = cap_confidence(raw, strong_evidence(raw, votes))
    confidence, correct = calibrated.max(axis=1), calibrated.argmax(axis=1) == yb
    threshold = choose_threshold(confidence, correct)
    model = _fit_logistic(x, yb)
    return FittedModel(
        model.coef_.astype(np.float64),
        model.intercept_.astype(np.float64),
        temperature,
        threshold,
        emb,
        y,
        texts,
        round(float(f1_score(yb, oof.argmax(axis=1), average="macro")), 4),
        int(((confidence >= 0.95) & ~correct).sum()),
        emb[team],
        y[team],
        WordModel.fit(base_texts, yb),
    )


def cache_key(embedder: Embedder, path: Path = EXAMPLES_PATH) -> str:
    digest = hashlib.sha256(path.read_bytes())
    digest.update(
        f"{embedder.model_id}|{CLASSIFIER_VERSION}|{REGULARISATION_C}|{CUE_SCALE}|{MAX_UNSUPPORTED_CONFIDENCE}".encode()
    )
    return digest.hexdigest()[:16]


def percent(value: float) -> str:
    """A confidence as people read it: never a flat 100%, which would claim certainty."""
    return f"{min(value, 0.999):.1%}" if value >= 0.99 else f"{value:.0%}"


def _short(text: str, limit: int = 90) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _towards_uniform(probs: np.ndarray, keep: float) -> np.ndarray:
    return 1 / len(KINDS) + (probs - 1 / len(KINDS)) * keep


class OfflineClassifier:
    """Embeddings + rubric cues and TF-IDF words, calibrated logistic regressions; no network, no LLM."""

    name = "offline"

    def __init__(
        self,
        embedder: Embedder,
        model: FittedModel,
        *,
        threshold: float | None = None,
        version: str = SHIPPED_VERSION,
    ) -> None:
        self._embedder = embedder
        self._model = model
        self.version = version
        self.threshold = threshold if threshold is not None else model.threshold

    @property
    def model(self) -> FittedModel:
        return self._model

    @property
    def label(self) -> str:
        """What an item records as the classifier that decided it: the model version included."""
        return f"{self.name}:{self.version}"

    @classmethod
    def load_or_fit(
        cls, embedder: Embedder, cache_dir: Path, *, threshold: float | None = None, examples_path: Path = EXAMPLES_PATH
    ) -> OfflineClassifier:
        path = cache_dir / f"classifier-{cache_key(embedder, examples_path)}.npz"
        if path.exists():
            try:
                return cls(embedder, FittedModel.load(path), threshold=threshold)
            except (OSError, ValueError, KeyError) as error:  # a damaged cache is rebuilt, not fatal
                log.warning("rebuilding classifier cache %s: %s", path, error)
        model = fit_model(embedder, load_examples(examples_path))
        model.save(path)
        return cls(embedder, model, threshold=threshold)

    def probabilities(self, texts: Sequence[str], vectors: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Calibrated probabilities before the evidence cap, and the texts' embeddings."""
        emb = self._embedder.embed(list(texts)) if vectors is None else np.asarray(vectors, dtype=np.float32)
        logits = features(emb, texts) @ self._model.coef.T + self._model.intercept
        if self._model.words is not None:
            logits = ensemble_logits(logits, self._model.words.logits(texts))
        memory = TEAM_STRENGTH * self._model.team_evidence(emb)
        return _softmax(logits / self._model.temperature + memory), emb

    def classify(self, texts: Sequence[str], vectors: np.ndarray | None = None) -> list[Classification]:
        """``vectors``: the texts' embeddings when the caller already has them (a problem is embedded once)."""
        if not texts:
            return []
        probs, emb = self.probabilities(texts, vectors)
        sims = emb @ self._model.example_embeddings.T
        votes = neighbour_votes(sims, self._model.example_labels)
        capped = cap_confidence(probs, strong_evidence(probs, votes))
        return [self._explain(text, capped[i], sims[i], votes[i]) for i, text in enumerate(texts)]

    def _explain(self, text: str, probs: np.ndarray, sims: np.ndarray, votes: np.ndarray) -> Classification:
        best = int(probs.argmax())
        kind = KINDS[best]
        nearest = np.argsort(-sims)[:3]
        empty = content_problem(text)
        caveats = []
        if english_share(text) < MIN_ENGLISH_SHARE:
            caveats.append("the text does not read as English, which the example set is written in")
        if float(sims[nearest[0]]) < MIN_NEIGHBOUR_SIMILARITY:
            caveats.append("it is unlike every labelled example")
        if empty:
            # Nothing to go on: any kind would be a guess, so say so instead of sounding sure.
            probs = _towards_uniform(probs, CONTENT_FREE_SHRINK)
        elif caveats:
            # Out of what the model knows: pull the answer towards "can't tell" rather than guess boldly.
            probs = _towards_uniform(probs, OUT_OF_SCOPE_SHRINK)
        confidence = float(probs[best])
        if empty:
            parts = [f"Not classified: {empty}. Best guess {kind.value}, {percent(confidence)} sure."]
        else:
            parts = [f"{kind.value}, {percent(confidence)} sure."]
            hits = find_cues(text)
            own = [h for h in hits if h.kind == kind]
            other = [h for h in hits if h.kind != kind]
            if own:
                parts.append(
                    "Cues for " + kind.value + ": " + "; ".join(f'{h.cue} ("{h.matched}")' for h in own[:3]) + "."
                )
            if other:
                parts.append(
                    "Against: " + "; ".join(f'{h.cue} ("{h.matched}") suggests {h.kind.value}' for h in other[:2]) + "."
                )
            parts.append(neighbour_sentence(kind, confidence, votes))
            neighbours = [
                f'"{_short(self._model.example_texts[j])}" ({KINDS[int(self._model.example_labels[j])].value}, '
                f"similarity {float(sims[j]):.2f})"
                for j in nearest[:2]
            ]
            parts.append("The two closest: " + "; ".join(neighbours) + ".")
            if caveats:
                parts.append("Low confidence because " + " and ".join(caveats) + ".")
        needs_review = confidence < self.threshold or bool(caveats) or bool(empty)
        if needs_review and confidence < self.threshold:
            parts.append(f"Under {percent(self.threshold)} sure, so a person should decide the kind.")
        elif needs_review:
            parts.append("A person should decide the kind.")
        parts.append(version_sentence(self.version))
        return Classification(
            kind=kind,
            confidence=confidence,
            rationale=" ".join(parts),
            needs_review=needs_review,
            probabilities={k.value: round(float(p), 4) for k, p in zip(KINDS, probs, strict=True)},
            similar_examples=tuple(self._model.example_texts[j] for j in nearest[:2]),
            classifier=self.label,
        )


def neighbour_sentence(kind: Kind, confidence: float, votes: np.ndarray) -> str:
    """What the closest labelled examples say, as supporting evidence beside the model's confidence.

    The confidence comes from the whole model (the wording, rubric cues, everything it learned); the closest
    examples are a second opinion. When they disagree, say they are split rather than set a count against the
    percentage, and say why the percentage then stops at 94%.
    """
    asked = int(votes.sum())
    counts = sorted(
        ((int(votes[i]), k) for i, k in enumerate(KINDS) if votes[i] > 0), key=lambda pair: (pair[1] != kind, -pair[0])
    )
    if len(counts) == 1:
        return f"All {asked} most similar example problems it learned from are {kind.value} too."
    split = ", ".join(f"{n} {k.value}" for n, k in counts)
    if int(votes[KINDS.index(kind)]) * 2 > asked:
        sentence = f"The {asked} most similar example problems it learned from mostly agree: {split}."
    else:
        sentence = (
            f"The {asked} most similar example problems it learned from are split: {split}. The percentage comes "
            "from the whole text, weighed against everything the classifier learned; these examples are a second "
            "opinion."
        )
    if confidence >= MAX_UNSUPPORTED_CONFIDENCE - 1e-9:
        sentence += f" It never says more than {percent(MAX_UNSUPPORTED_CONFIDENCE)} unless they all agree."
    return sentence


def version_sentence(version: str) -> str:
    if version == SHIPPED_VERSION:
        return "Classifier: the one that came with the product."
    return f"Classifier: version {version}, retrained on your team's decisions."


_offline_lock = threading.Lock()
_offline: dict[str, OfflineClassifier] = {}


def get_offline_classifier(
    cache_dir: Path, threshold: float | None = None, models_dir: Path | None = None
) -> OfflineClassifier:
    """One fitted classifier per process, always the active model version of ``models_dir``.

    A retrain or restore by another process (the CLI, another app instance on the same data folder) is picked
    up on the next call: the registry says which version is active, and a different one is loaded.
    """
    from assistant.embeddings import get_embedder
    from improvement.model_store import ModelStore

    key = f"{cache_dir}|{threshold}|{models_dir}"
    store = ModelStore(models_dir) if models_dir is not None else None
    try:
        active = store.active_version() if store is not None else SHIPPED_VERSION
    except DomainError as error:  # a damaged registry must not stop classification: the shipped model answers
        log.warning("using the shipped classifier: %s", error)
        active, store = SHIPPED_VERSION, None
    with _offline_lock:
        current = _offline.get(key)
        if current is None or current.version != active:
            current = None
            if store is not None and active != SHIPPED_VERSION:
                try:
                    model = store.load(active)
                    current = OfflineClassifier(get_embedder(), model, threshold=threshold, version=active)
                except (DomainError, OSError, ValueError, KeyError) as error:
                    log.warning("model %s cannot be loaded, using the shipped classifier: %s", active, error)
            if current is None:
                current = OfflineClassifier.load_or_fit(get_embedder(), cache_dir, threshold=threshold)
            _offline[key] = current
        return current
