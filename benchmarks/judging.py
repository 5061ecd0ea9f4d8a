"""Blind second judgement of the held-out suggestions (pooling, as in TREC).

    python -m benchmarks.judging pool OUT.jsonl       # the pairs to judge, shuffled, no ranking named
    python -m benchmarks.judging merge JUDGED.jsonl   # their verdicts into suggestion_heldout_judgements.jsonl

The labels of a held-out problem list the cards its writer thought of; a ranking can put a card the
writer missed but a CX lead would accept in its top three. Every such card of every ranking
(``benchmarks/results-suggestions.json``: first release, previous release, now) becomes one pair for a
judge who sees the problem and one card at a time, in shuffled order, never which ranking proposed it.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results-suggestions.json"
HELDOUT = ROOT / "benchmarks" / "data" / "suggestion_heldout.jsonl"
JUDGEMENTS = ROOT / "benchmarks" / "data" / "suggestion_heldout_judgements.jsonl"
FIELDS = ("title", "description", "customer_story", "touchpoint", "segment", "industry", "root_cause")


def _cards() -> dict[str, dict[str, Any]]:
    data = ROOT / "assistant" / "data"
    fixes = json.loads((data / "proactive_fixes.json").read_text())["proactive_fixes"]
    ideas = json.loads((data / "cross_industry_ideas.json").read_text())["cross_industry_ideas"]
    cards: dict[str, dict[str, Any]] = {}
    for f in fixes:
        cards[f["id"]] = {k: f[k] for k in ("title", "applies_when", "not_when", "fix")}
    for i in ideas:
        cards[i["id"]] = {k: i[k] for k in ("industry", "customer_job", "mechanism", "idea", "how_it_transfers")}
    return cards


def pool(out: Path) -> int:
    problems = {p["id"]: p for p in map(json.loads, HELDOUT.read_text().splitlines()) if p}
    rankings = json.loads(RESULTS.read_text())["rankings"]
    judged = {(r["problem_id"], r["card"]) for r in map(json.loads, _lines(JUDGEMENTS))}
    cards = _cards()
    pairs: set[tuple[str, str]] = set()
    for r in rankings:
        problem = problems[r["problem"]]
        labelled = set(problem["accepted_fixes"]) | set(problem["accepted_ideas"])
        for key in ("fixes", "ideas", "previous_fixes", "previous_ideas", "v1_fixes", "v1_ideas"):
            pairs |= {(r["problem"], card) for card in r[key][:3] if card not in labelled and card in cards}
    todo = sorted(pairs - judged)
    random.Random(7).shuffle(todo)
    with out.open("w") as handle:
        for n, (problem_id, card) in enumerate(todo, 1):
            problem = {k: problems[problem_id][k] for k in FIELDS if problems[problem_id][k]}
            row = {"pair": n, "problem_id": problem_id, "problem": problem, "card": card, "card_text": cards[card]}
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    return len(todo)


def merge(judged: Path) -> int:
    rows = [json.loads(line) for line in _lines(judged)]
    kept = {(r["problem_id"], r["card"]): r for r in map(json.loads, _lines(JUDGEMENTS))}
    for r in rows:
        kept[(r["problem_id"], r["card"])] = {
            "problem_id": r["problem_id"],
            "card": r["card"],
            "accept": bool(r["accept"]),
        }
    JUDGEMENTS.write_text("".join(json.dumps(v) + "\n" for _, v in sorted(kept.items())))
    return len(rows)


def _lines(path: Path) -> list[str]:
    return [line for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def main() -> None:
    command, path = sys.argv[1], Path(sys.argv[2])
    count = pool(path) if command == "pool" else merge(path)
    print(f"{command}: {count} pairs")


if __name__ == "__main__":
    main()
