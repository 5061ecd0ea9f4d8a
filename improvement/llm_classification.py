"""Classify with a capable chat model (Ollama or an OpenAI-compatible server), falling back offline.

Structured output through LangChain; on any error or timeout the offline classifier answers and
the rationale says so. The bundled tiny local model is never used for this.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, Field

from improvement.classification import OfflineClassifier
from improvement.domain import Classification, Kind

log = logging.getLogger(__name__)


class KindDecision(BaseModel):
    kind: Literal["kaizen", "kaikaku", "kakushin"]
    confidence: float = Field(ge=0, le=1)
    rationale: str = Field(max_length=600)


class LLMClassifier:
    def __init__(self, chat_model: Any, *, fallback: OfflineClassifier, model_name: str) -> None:
        self._model = chat_model
        self._fallback = fallback
        self.name = f"llm:{model_name}"

    def _messages(self, text: str) -> list[tuple[str, str]]:
        from assistant.prompts import CLASSIFY_EXAMPLES, CLASSIFY_SYSTEM

        examples = "\n".join(f"Problem: {t}\nKind: {k}" for t, k in CLASSIFY_EXAMPLES)
        return [
            ("system", f"{CLASSIFY_SYSTEM}\n\nExamples:\n{examples}"),
            ("human", f"<problem>\n{text.replace('</problem>', '')}\n</problem>"),
        ]

    def classify(self, texts: Sequence[str]) -> list[Classification]:
        offline = self._fallback.classify(texts)
        try:
            structured = self._model.with_structured_output(KindDecision)
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
                    "offline",
                )
                for c in offline
            ]
        results = []
        for decision, fallback in zip(decisions, offline, strict=True):
            kind = Kind(decision.kind)
            # Two independent classifiers disagreeing is itself a reason for a person to look.
            disagree = kind != fallback.kind
            confidence = min(decision.confidence, 0.5) if disagree else decision.confidence
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
