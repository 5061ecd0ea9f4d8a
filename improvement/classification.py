"""Classify a customer problem as kaizen, kaikaku or kakushin.

The default classifier is offline: sentence embeddings (assistant.embeddings) plus rubric cue counts,
fed to a multinomial logistic regression fit on the project's labelled example set
(``improvement/data/labelled_problems.jsonl``). Its probabilities are calibrated by temperature
scaling on out-of-fold predictions, and the needs-review threshold is chosen on those same held-out
predictions. The fitted model is cached in the data folder, keyed by the example set and model file.
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

from improvement.domain import Classification, Kind
from improvement.rubric import cue_counts, english_share, find_cues

log = logging.getLogger(__name__)

EXAMPLES_PATH = Path(__file__).parent / "data" / "labelled_problems.jsonl"
CLASSIFIER_VERSION = "lr-emb-cues-v1"
KINDS: tuple[Kind, ...] = tuple(Kind)
REGULARISATION_C = 4.0
CUE_SCALE = 0.35
TARGET_ACCURACY_ABOVE_THRESHOLD = 0.97
MIN_ENGLISH_SHARE = 0.08
MIN_NEIGHBOUR_SIMILARITY = 0.20


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


def load_examples(path: Path = EXAMPLES_PATH) -> list[LabelledExample]:
    examples = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                row = json.loads(line)
                examples.append(
                    LabelledExample(row["text"], Kind(row["kind"]), row.get("industry", ""), row.get("touchpoint", ""))
                )
    return examples


def features(embeddings: np.ndarray, texts: Sequence[str]) -> np.ndarray:
    cues = np.array([cue_counts(t) for t in texts], dtype=np.float32) * CUE_SCALE
    return np.hstack([embeddings, cues])


def _fit_logistic(x: np.ndarray, y: np.ndarray, c: float = REGULARISATION_C):  # type: ignore[no-untyped-def]
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=c, max_iter=2000).fit(x, y)


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def out_of_fold_logits(
    x: np.ndarray, y: np.ndarray, *, folds: int = 5, seed: int = 7, c: float = REGULARISATION_C
) -> np.ndarray:
    """Logits for every example from a model that never saw it (stratified k-fold)."""
    from sklearn.model_selection import StratifiedKFold

    logits = np.zeros((len(y), len(KINDS)))
    for train, test in StratifiedKFold(folds, shuffle=True, random_state=seed).split(x, y):
        model = _fit_logistic(x[train], y[train], c)
        logits[test] = model.decision_function(x[test])
    return logits


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
        if keep.sum() >= max(10, 0.6 * len(correct)) and correct[keep].mean() >= target:
            return float(t)
    return 0.6


@dataclass
class FittedModel:
    coef: np.ndarray
    intercept: np.ndarray
    temperature: float
    threshold: float
    example_embeddings: np.ndarray
    example_labels: np.ndarray
    example_texts: list[str]

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
            )


def fit_model(embedder: Embedder, examples: Sequence[LabelledExample]) -> FittedModel:
    texts = [e.text for e in examples]
    y = np.array([KINDS.index(e.kind) for e in examples])
    emb = embedder.embed(texts)
    x = features(emb, texts)
    oof = out_of_fold_logits(x, y)
    temperature = fit_temperature(oof, y)
    calibrated = _softmax(oof / temperature)
    threshold = choose_threshold(calibrated.max(axis=1), calibrated.argmax(axis=1) == y)
    model = _fit_logistic(x, y)
    return FittedModel(
        model.coef_.astype(np.float64), model.intercept_.astype(np.float64), temperature, threshold, emb, y, texts
    )


def cache_key(embedder: Embedder, path: Path = EXAMPLES_PATH) -> str:
    digest = hashlib.sha256(path.read_bytes())
    digest.update(f"{embedder.model_id}|{CLASSIFIER_VERSION}|{REGULARISATION_C}|{CUE_SCALE}".encode())
    return digest.hexdigest()[:16]


def percent(value: float) -> str:
    """A confidence as people read it: never a flat 100%, which would claim certainty."""
    return f"{min(value, 0.999):.1%}" if value >= 0.99 else f"{value:.0%}"


def _short(text: str, limit: int = 90) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


class OfflineClassifier:
    """Embeddings + rubric cues + calibrated logistic regression; no network, no LLM."""

    name = "offline"

    def __init__(self, embedder: Embedder, model: FittedModel, *, threshold: float | None = None) -> None:
        self._embedder = embedder
        self._model = model
        self.threshold = threshold if threshold is not None else model.threshold

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
        emb = self._embedder.embed(list(texts)) if vectors is None else np.asarray(vectors, dtype=np.float32)
        logits = features(emb, texts) @ self._model.coef.T + self._model.intercept
        return _softmax(logits / self._model.temperature), emb

    def classify(self, texts: Sequence[str], vectors: np.ndarray | None = None) -> list[Classification]:
        """``vectors``: the texts' embeddings when the caller already has them (a problem is embedded once)."""
        if not texts:
            return []
        probs, emb = self.probabilities(texts, vectors)
        sims = emb @ self._model.example_embeddings.T
        return [self._explain(text, probs[i], sims[i]) for i, text in enumerate(texts)]

    def _explain(self, text: str, probs: np.ndarray, sims: np.ndarray) -> Classification:
        best = int(probs.argmax())
        kind = KINDS[best]
        confidence = float(probs[best])
        nearest = np.argsort(-sims)[:3]
        caveats = []
        share = english_share(text)
        if share < MIN_ENGLISH_SHARE:
            caveats.append("the text does not read as English, which the example set is written in")
        if float(sims[nearest[0]]) < MIN_NEIGHBOUR_SIMILARITY:
            caveats.append("it is unlike every labelled example")
        if caveats:
            # Out of what the model knows: pull the answer towards "can't tell" rather than guess boldly.
            probs = 1 / 3 + (probs - 1 / 3) * 0.35
            confidence = float(probs[best])
        hits = find_cues(text)
        parts = [f"{kind.value}, {percent(confidence)} sure."]
        own = [h for h in hits if h.kind == kind]
        other = [h for h in hits if h.kind != kind]
        if own:
            parts.append("Cues for " + kind.value + ": " + "; ".join(f'{h.cue} ("{h.matched}")' for h in own[:3]) + ".")
        if other:
            parts.append(
                "Against: " + "; ".join(f'{h.cue} ("{h.matched}") suggests {h.kind.value}' for h in other[:2]) + "."
            )
        neighbours = [
            f'"{_short(self._model.example_texts[j])}" ({KINDS[int(self._model.example_labels[j])].value}, '
            f"similarity {float(sims[j]):.2f})"
            for j in nearest[:2]
        ]
        parts.append("Closest labelled examples: " + "; ".join(neighbours) + ".")
        if caveats:
            parts.append("Low confidence because " + " and ".join(caveats) + ".")
        needs_review = confidence < self.threshold or bool(caveats)
        if needs_review:
            parts.append(f"Below the review threshold ({percent(self.threshold)}): a person should decide.")
        return Classification(
            kind=kind,
            confidence=confidence,
            rationale=" ".join(parts),
            needs_review=needs_review,
            probabilities={k.value: round(float(p), 4) for k, p in zip(KINDS, probs, strict=True)},
            similar_examples=tuple(self._model.example_texts[j] for j in nearest[:2]),
            classifier=self.name,
        )


_offline_lock = threading.Lock()
_offline: dict[str, OfflineClassifier] = {}


def get_offline_classifier(cache_dir: Path, threshold: float | None = None) -> OfflineClassifier:
    """One fitted classifier per process (fitting takes ~2 s; loading the cache ~50 ms)."""
    from assistant.embeddings import get_embedder

    key = f"{cache_dir}|{threshold}"
    with _offline_lock:
        if key not in _offline:
            _offline[key] = OfflineClassifier.load_or_fit(get_embedder(), cache_dir, threshold=threshold)
        return _offline[key]
