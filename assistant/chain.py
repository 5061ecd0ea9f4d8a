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

import numpy as np

from assistant import prompts
from assistant.knowledge_base import KnowledgeBase, SearchHit
from assistant.models import LocalModel, ModelUnavailable, load_chat_model, model_label
from assistant.playbook import Playbook
from improvement.models import ProblemFacts, ProblemView

log = logging.getLogger(__name__)
MIN_COVERAGE = 0.30  # vector similarity below which the articles are taken not to cover the question
SOURCES_K = 4
NOT_COVERED = "The articles don't cover this."
MIN_SENTENCE_SIMILARITY = 0.25  # a second or third sentence must still be about the question


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
    kind: str | None = None
    composed: str | None = None  # the retrieval-only answer, built once (it embeds the passages' sentences)


def _problem_text(problem: ProblemView) -> str:
    parts = [problem.title, problem.description]
    if problem.root_cause:
        parts.append(f"Root cause noted: {problem.root_cause}")
    return "\n".join(p for p in parts if p)


def facts_of(problem: ProblemView, kind: str | None) -> ProblemFacts:
    return ProblemFacts.of(
        title=problem.title,
        description=problem.description,
        customer_story=problem.customer_story,
        touchpoint=problem.touchpoint,
        segment=problem.segment,
        industry=problem.industry,
        root_cause=problem.root_cause,
        kind=kind,
    )


def _problem_summary(prepared: Prepared) -> list[str]:
    parts = []
    if prepared.kind:
        parts.append(f"This problem calls for {prepared.kind}.")
    if prepared.fixes:
        best = prepared.fixes[0]
        parts.append(f"Fix it for everyone ({best['title']}): {best['action']}")
        parts.append(f"Reach the affected customers first: {best['proactive']}")
    else:
        parts.append("No proactive-fix pattern in the playbook fits this problem well enough to suggest one.")
    if prepared.ideas:
        idea = prepared.ideas[0]
        parts.append(f"An idea from {idea['industry']}: {idea['idea'].rstrip('.')}. {idea['how_it_transfers']}")
    return parts


_NOT_A_SENTENCE = re.compile(r"^(#|source:|by |summari[sz]ed|notes on|\W*$)", re.I)


def _sentences(text: str) -> list[str]:
    out = []
    for line in text.splitlines():
        line = line.strip().lstrip("-*> ").strip()
        if not line or line.startswith("#"):
            continue
        for sentence in re.split(r"(?<=[.!?])\s+", line):
            sentence = sentence.strip()
            if len(sentence.split()) >= 6 and not _NOT_A_SENTENCE.match(sentence):
                out.append(sentence)
    return out


_LEADING_MARKUP = re.compile(r"^\s*(?:[-*+>]|#{1,6}|\d+[.)])(?:\s+|$)")
_INLINE_HEADING = re.compile(r"\s#{1,6}(?=\s)")
_ONLY_CITATIONS = re.compile(r"(?:\[\d+\]\s*)+")


def plain_text(text: str) -> str:
    """Text to show as plain paragraphs: no Markdown headings, bullets or quote marks at line starts
    ("- # Proactive service ## Why" reads "Proactive service Why"), no ``**``, and a line holding only
    citation markers ("[3]") joined to the line before it instead of standing as an empty bullet."""
    paragraphs: list[str] = []
    for line in text.splitlines():
        previous = None
        while previous != line:
            previous, line = line, _LEADING_MARKUP.sub("", line)
        line = _INLINE_HEADING.sub("", line).replace("**", "").replace("__", "").strip()
        if not line:
            continue
        if _ONLY_CITATIONS.fullmatch(line):
            if paragraphs:
                paragraphs[-1] = f"{paragraphs[-1]} {line}"
            continue
        paragraphs.append(line)
    return "\n\n".join(paragraphs)


def best_sentences(question: str, citations: list[Citation], limit: int = 3) -> list[tuple[int, str]]:
    """The sentences of the cited passages that best answer the question, at most one per passage."""
    from assistant.embeddings import get_embedder

    candidates = [(c.number, sentence) for c in citations for sentence in _sentences(c.text)]
    if not candidates:
        return []
    embedder = get_embedder()
    scores = embedder.embed([text for _, text in candidates]) @ embedder.embed_one(question)
    chosen: list[tuple[int, str]] = []
    used: set[int] = set()
    for index in np.argsort(-scores):
        number, text = candidates[int(index)]
        if number in used or (chosen and scores[index] < MIN_SENTENCE_SIMILARITY):
            continue
        chosen.append((number, text))
        used.add(number)
        if len(chosen) == limit:
            break
    return sorted(chosen)


def _escape(text: str) -> str:
    # A passage cannot close its own fence and smuggle text outside it.
    return prompts.fence_text(text)


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

    def prepare(self, question: str, problem: ProblemView | None = None, kind: str | None = None) -> Prepared:
        """Retrieve passages, rank playbook cards for the problem's facts, and build the model's prompt.

        ``kind`` is the problem's item kind (the person's decision or the classifier's): it steers the cards.
        """
        question = question.strip()
        about = _problem_text(problem) if problem else ""
        query = " ".join(p for p in (question, about) if p)
        if not question and problem:
            question = "How should we address this customer problem, and what could we do proactively?"
        hits = self._knowledge.search(query, k=SOURCES_K)
        covered = self.covers(hits)
        if problem is None and not covered:
            hits = []  # passages that do not answer the question are not offered as its sources
        citations = [Citation(i, h.source, h.title, h.text, h.url, h.author) for i, h in enumerate(hits, 1)]
        facts = facts_of(problem, kind) if problem else ProblemFacts.of(title="", description=question)
        if problem is not None:
            facts = facts.with_vector(self._playbook.facts_vector(facts))  # embedded once for fixes and ideas
        # Cards are for problems: the ranking, its cut-off and its "no good match" gate were learned on
        # problems, and a general question matched against them gets weak cards (BENCHMARKS.md).
        fix_cards, idea_cards = self._playbook.cards(facts, k=3) if problem is not None else ([], [])
        fixes = [f.as_json(score, facts) for f, score in fix_cards]
        ideas = [i.as_json(score) for i, score in idea_cards]
        if problem is not None:
            # The chosen cards are sources too: a model that tailors them cites the entry it used.
            for fix, _ in fix_cards[:1]:
                fix_text, proactive = fix.written_for(facts)
                citations.append(
                    Citation(len(citations) + 1, "playbook", f"Proactive fix: {fix.title}", f"{fix_text} {proactive}")
                )
            for idea, _ in idea_cards[:1]:
                citations.append(
                    Citation(len(citations) + 1, "playbook", f"Idea from {idea.industry}", idea.sentence())
                )
        sources = "\n\n".join(
            prompts.SOURCE_TEMPLATE.format(
                number=c.number,
                title=prompts.fence_attribute(c.title),
                text=_escape(_first_sentences(c.text, self._source_chars)),
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
            kind=facts.kind,
        )

    @staticmethod
    def covers(hits: list[SearchHit]) -> bool:
        """Whether the articles cover a question: the best vector match is close enough (BENCHMARKS.md
        "Assistant answers" measures this rule's misses on questions it was not tuned on)."""
        return any(h.similarity >= MIN_COVERAGE for h in hits)

    def retrieval_only_answer(self, prepared: Prepared) -> str:
        """A short answer composed by code: the playbook's cards for a problem, and the passages' sentences
        that best answer the question, each with its [n]. Never a heading, title or byline."""
        if prepared.composed is None:
            prepared.composed = self._compose(prepared).strip()
        return prepared.composed

    def _compose(self, prepared: Prepared) -> str:
        parts: list[str] = []
        if prepared.problem is not None:
            parts += _problem_summary(prepared)
        if prepared.covered:
            sentences = best_sentences(prepared.question, [c for c in prepared.citations if c.source != "playbook"])
            if sentences:
                lead = "What the articles say: " if parts else ""
                parts.append(lead + " ".join(f"{text} [{number}]" for number, text in sentences))
        elif not parts:
            return NOT_COVERED + (" The playbook suggestions below still apply." if prepared.fixes else "")
        return "\n\n".join(parts) if parts else NOT_COVERED

    def stream_text(self, prepared: Prepared) -> Iterator[str]:
        """Tokens of the model's answer; raises ModelUnavailable if the model cannot be reached."""
        if prepared.problem is None and not prepared.covered:
            # Nothing to ground an answer in: the model is not asked (it would only write uncited prose).
            yield self.retrieval_only_answer(prepared)
            return
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
            text = ""  # what a model wrote before it failed is cut off mid-sentence: the composed answer stands
        # Only numbers that exist may be cited: drop any the model made up.
        text = re.sub(
            r"\[(\d+)\]", lambda m: m.group(0) if 1 <= int(m.group(1)) <= len(prepared.citations) else "", text
        )
        dropped = ""
        if text and not notice and not re.search(r"\[\d+\]", text) and text != self.retrieval_only_answer(prepared):
            # Prose that cites nothing cannot be checked against the articles (a small model writes fluent,
            # ungrounded text): it is left out, and the answer is built from the passages instead.
            dropped = f"{self.model_name} wrote an answer that cites no source, so it is not shown."
            text = ""
        if not prepared.covered and text and NOT_COVERED not in text:
            text = f"{NOT_COVERED} {text}"
        return Answer(
            answer=text or self.retrieval_only_answer(prepared),
            grounding="retrieval" if not text or text == prepared.composed else "",
            citations=prepared.citations,
            proactive_fixes=prepared.fixes,
            cross_industry_ideas=prepared.ideas,
            model=model,
            covered=prepared.covered,
            notice=notice,
            dropped=dropped,
            problem_id=prepared.problem.id if prepared.problem else None,
        )

    def answer_stream(self, question: str, problem: ProblemView | None = None, kind: str | None = None) -> AnswerStream:
        """The one way to ask: iterate it for the answer's text as it is written, then read ``.answer``.

        A model that fails mid-answer ends the stream quietly; the answer then carries the notice and the
        composed, cited answer, so a caller (page or CLI) never handles the fallback itself."""
        return AnswerStream(self, self.prepare(question, problem, kind))

    def ask(self, question: str, problem: ProblemView | None = None, kind: str | None = None) -> Answer:
        stream = self.answer_stream(question, problem, kind)
        for _chunk in stream:
            pass
        return stream.answer


class AnswerStream:
    """An answer being written: yields text chunks once, then holds the finished :class:`Answer`."""

    def __init__(self, assistant: Assistant, prepared: Prepared) -> None:
        self._assistant = assistant
        self.prepared = prepared
        self._chunks: list[str] = []
        self._answer: Answer | None = None

    def __iter__(self) -> Iterator[str]:
        if self._answer is not None:
            return
        notice = ""
        try:
            for chunk in self._assistant.stream_text(self.prepared):
                self._chunks.append(chunk)
                yield chunk
        except ModelUnavailable as error:
            log.warning("%s", error)
            notice = str(error)
        self._answer = self._assistant.finish(self.prepared, "".join(self._chunks), notice=notice)

    @property
    def answer(self) -> Answer:
        if self._answer is None:
            raise RuntimeError("read the stream to its end before asking for the answer")
        return self._answer
