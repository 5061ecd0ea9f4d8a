"""A chat model earns the right to classify: it must beat the offline classifier on held-out examples.

Small local models (and some hosted ones) classify worse than the offline classifier: SmolLM2-135M
turned 11 of 12 right answers into 6. So before a model's kind is stored, the model classifies a fixed
held-out slice of the project's labelled examples, and the offline classifier, refitted without that
slice, classifies the same slice. The model is trusted only if it gets strictly more right. The result
is cached per model, so each model is trialled once.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from improvement.classification import KINDS, Embedder, LabelledExample, OfflineClassifier, fit_model, load_examples
from improvement.domain import Kind

log = logging.getLogger(__name__)

TRIAL_PER_KIND = 10  # 30 problems: enough to separate a capable model from a weak one, ~1 min on SmolLM2


@dataclass(frozen=True)
class ModelTrial:
    model: str
    examples: int
    model_correct: int
    offline_correct: int
    error: str = ""

    @property
    def trusted(self) -> bool:
        return not self.error and self.model_correct > self.offline_correct

    def explain(self) -> str:
        if self.error:
            return f"The model {self.model} could not be trialled ({self.error}), so the offline classifier decides."
        verdict = "so its kind is used" if self.trusted else "so the offline classifier's kind stands"
        return (
            f"On {self.examples} held-out labelled problems the model {self.model} was right {self.model_correct} "
            f"times and the offline classifier {self.offline_correct} times, {verdict}."
        )


def trial_examples(examples: Sequence[LabelledExample] | None = None) -> tuple[list[int], list[LabelledExample]]:
    """A fixed, stratified slice of the labelled examples (indices and examples), the same on every machine."""
    examples = list(examples or load_examples())
    rng = np.random.default_rng(20261125)
    chosen: list[int] = []
    for kind in KINDS:
        indices = [i for i, e in enumerate(examples) if e.kind == kind]
        chosen.extend(int(i) for i in rng.choice(indices, size=min(TRIAL_PER_KIND, len(indices)), replace=False))
    chosen.sort()
    return chosen, examples


def offline_correct_on_held_out(embedder: Embedder, threshold: float | None = None) -> int:
    """How many of the trial problems an offline classifier fitted *without them* gets right."""
    chosen, examples = trial_examples()
    held_out = set(chosen)
    model = fit_model(embedder, [e for i, e in enumerate(examples) if i not in held_out])
    classifier = OfflineClassifier(embedder, model, threshold=threshold)
    trial = [examples[i] for i in chosen]
    return sum(c.kind == e.kind for c, e in zip(classifier.classify([e.text for e in trial]), trial, strict=True))


def run_trial(model_name: str, classify: Callable[[list[str]], list[Kind | None]], offline_correct: int) -> ModelTrial:
    """The model classifies the trial problems; an unusable answer counts as wrong."""
    chosen, examples = trial_examples()
    trial = [examples[i] for i in chosen]
    try:
        kinds = classify([e.text for e in trial])
    except Exception as error:  # a model that fails the trial is simply not trusted
        return ModelTrial(model_name, len(trial), 0, offline_correct, error=f"{type(error).__name__}: {error}"[:200])
    correct = sum(k == e.kind for k, e in zip(kinds, trial, strict=True))
    return ModelTrial(model_name, len(trial), correct, offline_correct)


class TrialCache:
    """The trial result of one model on disk; a trial runs at most once at a time per process."""

    _running: set[Path] = set()
    _lock = threading.Lock()

    def __init__(self, cache_dir: Path, model_key: str) -> None:
        digest = hashlib.sha256(model_key.encode()).hexdigest()[:16]
        self.path = cache_dir / "model-trials" / f"{digest}.json"

    def get(self) -> ModelTrial | None:
        try:
            return ModelTrial(**json.loads(self.path.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):
            return None

    def put(self, trial: ModelTrial) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(trial)), encoding="utf-8")
        tmp.replace(self.path)

    def run_once(self, run: Callable[[], ModelTrial], *, background: bool) -> ModelTrial | None:
        """The cached result, or run the trial (in a thread if ``background``; ``None`` until it ends)."""
        cached = self.get()
        if cached is not None:
            return cached
        with self._lock:
            if self.path in self._running:
                return None
            self._running.add(self.path)

        def work() -> ModelTrial:
            try:
                trial = run()
                self.put(trial)
                log.info("%s", trial.explain())
                return trial
            finally:
                with self._lock:
                    self._running.discard(self.path)

        if background:
            threading.Thread(target=work, name="model-trial", daemon=True).start()
            return None
        return work()
