"""Classify with a chat model (local GGUF, Ollama or an OpenAI-compatible server), falling back offline.

Structured output through LangChain; on any error or timeout the offline classifier answers and
the rationale says so. A model's kind is used only once the model has beaten the offline classifier
on held-out examples (:mod:`improvement.model_trial`); until then the offline kind stands.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any, Literal

from pydantic import BaseModel, Field

from improvement.classification import MAX_UNSUPPORTED_CONFIDENCE, OfflineClassifier
from improvement.domain import Classification, Kind
from improvement.model_trial import ModelTrial

log = logging.getLogger(__name__)


class KindDecision(BaseModel):
    kind: Literal["kaizen", "kaikaku", "kakushin"]
    confidence: float = Field(ge=0, le=1)
    rationale: str = Field(max_length=600)


class LLMClassifier:
    def __init__(
        self,
        chat_model: Any = None,
        *,
        fallback: OfflineClassifier,
        model_name: str,
        model_factory: Callable[[], Any] | None = None,
        trial: Callable[[], ModelTrial | None] | None = None,
    ) -> None:
        """``trial`` returns the model's trial verdict (``None`` while it has none); without it the model is trusted.

        ``model_factory`` builds the chat model on first use instead (starting a local model server costs
        a second, and a model that has not earned trust is never started for classification).
        """
        self._model = chat_model
        self._model_factory = model_factory
        self._fallback = fallback
        self._trial = trial
        self.name = f"llm:{model_name}"

    def _chat_model(self) -> Any:
        if self._model is None and self._model_factory is not None:
            return self._model_factory()
        return self._model

    def kinds(self, texts: Sequence[str]) -> list[Kind | None]:
        """The model's kinds alone (used to trial it); ``None`` where its answer was unusable."""
        structured = self._chat_model().with_structured_output(KindDecision)
        decisions = structured.batch([self._messages(t) for t in texts], return_exceptions=True)
        return [Kind(d.kind) if isinstance(d, KindDecision) else None for d in decisions]

    def _messages(self, text: str) -> list[tuple[str, str]]:
        from assistant.prompts import CLASSIFY_EXAMPLES, CLASSIFY_SYSTEM, fence_text

        examples = "\n".join(f"Problem: {t}\nKind: {k}" for t, k in CLASSIFY_EXAMPLES)
        return [
            ("system", f"{CLASSIFY_SYSTEM}\n\nExamples:\n{examples}"),
            ("human", f"<problem>\n{fence_text(text)}\n</problem>"),
        ]

    def classify(self, texts: Sequence[str], vectors: Any = None) -> list[Classification]:
        offline = self._fallback.classify(texts, vectors)
        if self._trial is not None:
            verdict = self._trial()
            if verdict is None or not verdict.trusted:
                note = (
                    verdict.explain()
                    if verdict is not None
                    else f"The model {self.name[4:]} has not yet been trialled on held-out examples "
                    "(`backlog trial-model`), so the offline classifier decides."
                )
                return [replace(c, rationale=f"{c.rationale} {note}") for c in offline]
        try:
            structured = self._chat_model().with_structured_output(KindDecision)
            decisions = structured.batch([self._messages(t) for t in texts])
        except Exception as error:  # provider down, timeout, malformed output: the offline answer stands
            log.warning("LLM classifier unavailable, using the offline classifier: %s", error)
            return [
                Classification(
                    c.kind,
                    c.confidence,
                    c.rationale + f" (The model {self.name[4:]} was "
                    "unavailable; this is the offline classifier's answer.)",
                    c.needs_review,
                    c.probabilities,
                    c.similar_examples,
                    c.classifier,
                )
                for c in offline
            ]
        results = []
        for decision, fallback in zip(decisions, offline, strict=True):
            kind = Kind(decision.kind)
            # Two independent classifiers disagreeing is itself a reason for a person to look.
            disagree = kind != fallback.kind
            # A model's own say-so is not strong evidence: above 94% only when the offline classifier's is.
            agreed = min(decision.confidence, max(fallback.confidence, MAX_UNSUPPORTED_CONFIDENCE))
            confidence = min(decision.confidence, 0.5) if disagree else agreed
            note = f" The offline classifier says {fallback.kind.value}." if disagree else ""
            results.append(
                Classification(
                    kind,
                    confidence,
                    decision.rationale + note,
                    confidence < self._fallback.threshold or disagree,
                    fallback.probabilities,
                    fallback.similar_examples,
                    self.name,
                )
            )
        return results
