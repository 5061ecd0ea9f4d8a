"""Does the assistant know when the articles cover a question, and is its model-free answer grounded?

    python -m benchmarks.answers

``benchmarks/data/coverage_questions.jsonl``: 80 questions labelled covered (with the note that answers
it) or not. The "covered" rule is a threshold on the best vector match; it is chosen on the odd-numbered
questions and reported on the even-numbered ones, so the figure is not a fit to itself. The composed
answer (no model) is checked for what a reader sees: a sentence from the right note, inline [n], and
never a heading, title or byline.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.report import replace_section

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = ROOT / "benchmarks" / "data" / "coverage_questions.jsonl"


def _errors(rows: list[dict[str, Any]], threshold: float) -> dict[str, Any]:
    covered = [r for r in rows if r["covered"]]
    not_covered = [r for r in rows if not r["covered"]]
    false_negatives = sum(r["best"] < threshold for r in covered)
    false_positives = sum(r["best"] >= threshold for r in not_covered)
    return {
        "threshold": round(threshold, 3),
        "covered_questions": len(covered),
        "said_not_covered_wrongly": false_negatives,
        "uncovered_questions": len(not_covered),
        "answered_wrongly": false_positives,
        "accuracy": round((len(rows) - false_negatives - false_positives) / len(rows), 3),
    }


def run() -> dict[str, Any]:
    os.environ.setdefault("BACKLOG_DATA_DIR", tempfile.mkdtemp())
    os.environ["BACKLOG_LLM"] = "none"
    from assistant.chain import MIN_COVERAGE, Assistant
    from improvement.wiring import make_backend

    backend = make_backend()
    assistant = Assistant(backend.knowledge, backend.playbook, llm_spec="none")
    rows = []
    for line in QUESTIONS.read_text().splitlines():
        q = json.loads(line)
        prepared = assistant.prepare(q["question"])
        best = max((h.similarity for h in backend.knowledge.search(q["question"], k=4)), default=0.0)
        answer = assistant.finish(prepared, assistant.retrieval_only_answer(prepared))
        cited = {int(n) for n in re.findall(r"\[(\d+)\]", answer.answer)}
        sources = {c.source for c in answer.citations if c.number in cited}
        rows.append(
            {
                "id": q["id"],
                "covered": q["covered"],
                "source": q["source"],
                "best": best,
                "predicted": prepared.covered,
                "answer": answer.answer,
                "right_note_cited": bool(q["source"]) and q["source"] in sources,
                "bad_line": bool(re.search(r"(^|\n)\s*(#|Source:)|Summari[sz]ed here", answer.answer)),
                "cards": len(answer.proactive_fixes) + len(answer.cross_industry_ideas),
            }
        )
    tune = [r for r in rows if int(r["id"][1:]) % 2 == 1]
    report = [r for r in rows if int(r["id"][1:]) % 2 == 0]
    candidates = sorted({round(r["best"], 3) for r in tune} | {MIN_COVERAGE})
    chosen = max(candidates, key=lambda t: (_errors(tune, t)["accuracy"], -abs(t - MIN_COVERAGE)))
    covered_report = [r for r in report if r["covered"] and r["predicted"]]
    return {
        "questions": len(rows),
        "rule_in_use": _errors(report, MIN_COVERAGE),
        "best_on_tuning_half": {"threshold": round(chosen, 3), "on_report_half": _errors(report, chosen)},
        "composed_answers_on_covered_report_questions": {
            "answers": len(covered_report),
            "cite_the_note_that_answers": sum(r["right_note_cited"] for r in covered_report),
            "show_a_heading_or_byline": sum(r["bad_line"] for r in rows),
        },
        "uncovered_questions_showing_cards": sum(1 for r in rows if not r["covered"] and r["cards"]),
        "uncovered_questions": sum(1 for r in rows if not r["covered"]),
        "samples": [{k: r[k] for k in ("id", "covered", "answer")} for r in report[:6]],
    }


def markdown(r: dict[str, Any]) -> list[str]:
    used, best = r["rule_in_use"], r["best_on_tuning_half"]
    c = r["composed_answers_on_covered_report_questions"]
    return [
        "## Assistant answers without a model",
        "",
        f"`python -m benchmarks.answers`: {r['questions']} questions (`benchmarks/data/coverage_questions.jsonl`), "
        "labelled covered by the starter notes or not; rules chosen on the odd-numbered half, reported on the even.",
        "",
        '| on the report half | covered questions called "not covered" | uncovered questions answered | accuracy |',
        "|---|---|---|---|",
        f"| rule in use (best match >= {used['threshold']}) | {used['said_not_covered_wrongly']} of "
        f"{used['covered_questions']} | {used['answered_wrongly']} of {used['uncovered_questions']} "
        f"| {used['accuracy']:.0%} |",
        f"| best threshold on the tuning half ({best['threshold']}) | "
        f"{best['on_report_half']['said_not_covered_wrongly']} of {best['on_report_half']['covered_questions']} | "
        f"{best['on_report_half']['answered_wrongly']} of {best['on_report_half']['uncovered_questions']} | "
        f"{best['on_report_half']['accuracy']:.0%} |",
        "",
        f"Composed answers to covered questions: {c['cite_the_note_that_answers']} of {c['answers']} cite the note "
        f"that answers the question; answers showing a heading, title or byline line: {c['show_a_heading_or_byline']}. "
        f"Uncovered questions that still showed playbook cards: {r['uncovered_questions_showing_cards']} of "
        f"{r['uncovered_questions']}.",
        "",
    ]


def main() -> None:
    results = run()
    (ROOT / "benchmarks" / "results-answers.json").write_text(json.dumps(results, indent=2))
    replace_section(ROOT / "BENCHMARKS.md", "answers", markdown(results))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
