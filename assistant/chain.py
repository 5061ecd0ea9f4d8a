"""The assistant: retrieval -> numbered sources -> grounded answer, plus playbook suggestions.

The structure of the answer (citations, proactive fixes, cross-industry ideas) is assembled by code
from retrieval and the playbook, never parsed from model output, so neither a small model nor text
injected into a document or problem can change the format or invent a citation. The model writes
only the prose of ``answer``; when it is unavailable, a retrieval-only answer says so.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from assistant import prompts
from assistant.knowledge_base import KnowledgeBase, SearchHit
from assistant.models import LocalModel, ModelUnavailable, load_chat_model, model_label
from assistant.playbook import Playbook
from improvement.models import ProblemView

log = logging.getLogger(__name__)
MIN_COVERAGE = 0.30  # vector similarity below which the articles are taken not to cover the question
SOURCES_K = 4
NOT_COVERED = "The articles don't cover this."


@dataclass(frozen=True)
class Citation:
    number: int
    source: str
    title: str
    text: str
    url: str = ""
    author: str = ""

    def as_json(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "source": self.source,
            "title": self.title,
            "text": self.text,
            "url": self.url,
            "author": self.author,
        }


@dataclass
class Answer:
    answer: str
    citations: list[Citation]
    proactive_fixes: list[dict[str, Any]]
    cross_industry_ideas: list[dict[str, Any]]
    model: str
    covered: bool
    notice: str = ""
    problem_id: int | None = None
    grounding: str = ""  # "retrieval" when the answer text was built from the passages, not by the model
    dropped: str = ""  # why the model's own text was left out, if it was

    def as_json(self) -> dict[str, Any]:
        return {
            "answer": self.answer,
            "citations": [c.as_json() for c in self.citations],
            "proactive_fixes": self.proactive_fixes,
            "cross_industry_ideas": self.cross_industry_ideas,
            "model": self.model,
            "covered": self.covered,
            "notice": self.notice,
            "dropped": self.dropped,
            "problem_id": self.problem_id,
        }


@dataclass
class Prepared:
    question: str
    problem: ProblemView | None
    hits: list[SearchHit]
    citations: list[Citation]
    fixes: list[dict[str, Any]]
    ideas: list[dict[str, Any]]
    covered: bool
    messages: list[tuple[str, str]] = field(default_factory=list)


def _problem_text(problem: ProblemView) -> str:
    parts = [problem.title, problem.description]
    if problem.root_cause:
        parts.append(f"Root cause noted: {problem.root_cause}")
    return "\n".join(p for p in parts if p)


def _escape(text: str) -> str:
    # A passage cannot close its own fence and smuggle text outside it.
    return text.replace("</source>", "</ source>").replace("</problem>", "</ problem>").replace("<source", "< source")


def _first_sentences(text: str, limit: int = 260) -> str:
    sentences = re.split(r"(?<=[.!?])\s+", " ".join(text.split()))
    out = ""
    for sentence in sentences:
        if len(out) + len(sentence) > limit and out:
            break
        out = f"{out} {sentence}".strip()
    return out


class Assistant:
    def __init__(
        self,
        knowledge: KnowledgeBase,
        playbook: Playbook,
        *,
        llm_spec: str,
        chat_model: Any = None,
        timeout: float = 60.0,
        local: LocalModel | None = None,
    ) -> None:
        self._knowledge = knowledge
        self._playbook = playbook
        self._llm_spec = llm_spec
        self._chat_model = chat_model
        self._timeout = timeout
        self._local = local
        # The bundled 135M model reads ~1,000 tokens of prompt in ~3 s on 2 cores and gains nothing from long
        # passages; it gets the opening of each passage. Capable models get the passages whole.
        self._source_chars = 300 if llm_spec.split(":", 1)[0] == "local" else 4000
        self.model_name = (
            model_label(llm_spec, local)
            if chat_model is None
            else getattr(chat_model, "model_name", None)
            or getattr(chat_model, "model", None)
            or type(chat_model).__name__
        )

    @classmethod
    def from_backend(cls, backend: Any) -> Assistant:
        return cls(
            backend.knowledge,
            backend.playbook,
            llm_spec=backend.settings.llm,
            timeout=backend.settings.llm_timeout_seconds,
            local=backend.local_model(),
        )

    def _model(self) -> Any:
        if self._chat_model is not None:
            return self._chat_model
        if self._llm_spec.split(":", 1)[0] == "none":
            return None
        # Loaded per question: for `local` this is where a model server that died or hung is restarted.
        return load_chat_model(self._llm_spec, timeout=self._timeout, local=self._local)

    def prepare(self, question: str, problem: ProblemView | None = None) -> Prepared:
        question = question.strip()
        about = _problem_text(problem) if problem else ""
        query = " ".join(p for p in (question, about) if p)
        if not question and problem:
            question = "How should we address this customer problem, and what could we do proactively?"
        hits = self._knowledge.search(query, k=SOURCES_K)
        covered = any(h.similarity >= MIN_COVERAGE for h in hits)
        citations = [Citation(i, h.source, h.title, h.text, h.url, h.author) for i, h in enumerate(hits, 1)]
        focus = about or question
        fixes = [f.as_json(score) for f, score in self._playbook.proactive_fixes(focus, None, k=3)]
        ideas = [i.as_json(score) for i, score in self._playbook.ideas_for(focus, k=3)]
        sources = "\n\n".join(
            prompts.SOURCE_TEMPLATE.format(
                number=c.number, title=_escape(c.title), text=_escape(_first_sentences(c.text, self._source_chars))
            )
            for c in citations
        )
        human = prompts.ANSWER_HUMAN.format(
            sources=sources or "(none)",
            question=_escape(question),
            problem=prompts.PROBLEM_TEMPLATE.format(text=_escape(about)) if about else "",
        )
        return Prepared(
            question,
            problem,
            hits,
            citations,
            fixes,
            ideas,
            covered,
            [("system", prompts.ANSWER_SYSTEM), ("human", human)],
        )

    def retrieval_only_answer(self, prepared: Prepared) -> str:
        if not prepared.covered:
            return NOT_COVERED + " The playbook suggestions below still apply."
        lines = [f"{_first_sentences(c.text)} [{c.number}]" for c in prepared.citations[:3]]
        return "From the articles:\n" + "\n".join(f"- {line}" for line in lines)

    def stream_text(self, prepared: Prepared) -> Iterator[str]:
        """Tokens of the model's answer; raises ModelUnavailable if the model cannot be reached."""
        model = self._model()
        if model is None:
            yield self.retrieval_only_answer(prepared)
            return
        try:
            for chunk in model.stream(prepared.messages):
                text = chunk.content if isinstance(chunk.content, str) else str(chunk.content)
                if text:
                    yield text
        except ModelUnavailable:
            raise
        except Exception as error:  # any provider failure: connection, timeout, bad model name
            raise ModelUnavailable(
                f"{self.model_name} is unavailable ({type(error).__name__}: "
                f"{str(error).splitlines()[0] if str(error) else 'no detail'})"
            ) from error

    def finish(self, prepared: Prepared, text: str, notice: str = "") -> Answer:
        text = text.strip()
        model = self.model_name
        if notice:
            model = f"none ({notice})"
        # Only numbers that exist may be cited: drop any the model made up.
        text = re.sub(
            r"\[(\d+)\]", lambda m: m.group(0) if 1 <= int(m.group(1)) <= len(prepared.citations) else "", text
        )
        dropped = ""
        if text and not notice and not re.search(r"\[\d+\]", text):
            # Prose that cites nothing cannot be checked against the articles (a small model writes fluent,
            # ungrounded text): it is left out, and the answer is built from the passages instead.
            dropped = f"{self.model_name} wrote an answer that cites no source, so it is not shown."
            text = ""
        if not prepared.covered and text and NOT_COVERED not in text:
            text = f"{NOT_COVERED} {text}"
        return Answer(
            answer=text or self.retrieval_only_answer(prepared),
            grounding="" if text else "retrieval",
            citations=prepared.citations,
            proactive_fixes=prepared.fixes,
            cross_industry_ideas=prepared.ideas,
            model=model,
            covered=prepared.covered,
            notice=notice,
            dropped=dropped,
            problem_id=prepared.problem.id if prepared.problem else None,
        )

    def ask(self, question: str, problem: ProblemView | None = None) -> Answer:
        prepared = self.prepare(question, problem)
        if self._llm_spec.split(":", 1)[0] == "none" and self._chat_model is None:
            return self.finish(prepared, self.retrieval_only_answer(prepared))
        try:
            text = "".join(self.stream_text(prepared))
        except ModelUnavailable as error:
            log.warning("%s", error)
            return self.finish(prepared, self.retrieval_only_answer(prepared), notice=str(error))
        return self.finish(prepared, text)
