"""The LLM classifier path: structured output through LangChain, and the fallback when the model fails."""

from __future__ import annotations

from typing import Any

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.runnables import RunnableLambda

from improvement.classification import OfflineClassifier
from improvement.llm_classification import KindDecision, LLMClassifier


class StructuredFake(GenericFakeChatModel):
    """A fake chat model whose structured output is a fixed decision (what a capable model would return)."""

    decision: Any = None

    def with_structured_output(self, schema: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        assert schema is KindDecision
        return RunnableLambda(lambda messages: self.decision)


def test_structured_decision_is_used_and_disagreement_flags_review(offline_classifier: OfflineClassifier) -> None:
    agree = StructuredFake(
        messages=iter([]),
        decision=KindDecision(kind="kaikaku", confidence=0.92, rationale="Four departments, two months."),
    )
    result = LLMClassifier(agree, fallback=offline_classifier, model_name="ollama:test").classify(
        ["Claims pass through four departments and take two months"]
    )[0]
    assert (result.kind.value, result.confidence, result.classifier) == ("kaikaku", 0.92, "llm:ollama:test")
    assert not result.needs_review
    disagree = StructuredFake(
        messages=iter([]), decision=KindDecision(kind="kakushin", confidence=0.95, rationale="New offering.")
    )
    result = LLMClassifier(disagree, fallback=offline_classifier, model_name="ollama:test").classify(
        ["Claims pass through four departments and take two months"]
    )[0]
    assert result.kind.value == "kakushin" and result.needs_review and result.confidence <= 0.5
    assert "offline classifier says kaikaku" in result.rationale


def test_a_failing_model_falls_back_to_the_offline_answer_and_says_so(offline_classifier: OfflineClassifier) -> None:
    broken = GenericFakeChatModel(messages=iter([]))  # has no structured output: raises
    result = LLMClassifier(broken, fallback=offline_classifier, model_name="ollama:down").classify(
        ["The SMS tracking link is cut off on some phones"]
    )[0]
    assert result.kind.value == "kaizen" and result.classifier.startswith("offline:")
    assert "unavailable" in result.rationale


def test_a_models_own_certainty_is_not_strong_evidence(offline_classifier: OfflineClassifier) -> None:
    text = "Members find out their yearly contract renewed from their bank statement"  # weak evidence either way
    sure = StructuredFake(messages=iter([]), decision=KindDecision(kind="kaizen", confidence=0.999, rationale="Small."))
    result = LLMClassifier(sure, fallback=offline_classifier, model_name="ollama:test").classify([text])[0]
    offline = offline_classifier.classify([text])[0]
    assert offline.confidence < 0.95 and result.confidence <= 0.94
