"""Retrieval quality on the four source articles: recall@3 and MRR over the project's own questions.

The questions are written by the project (not taken from the articles) and name the article that
answers them. Run with the real articles ingested from ``shared/seeds``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

SEEDS = Path(__file__).resolve().parents[2] / "shared" / "seeds"
THYS_3 = "000_679dc1a814373969.txt"  # Alain Thys: three leadership moves
THYS_8 = "001_60033123f19082c5.txt"  # Alain Thys: eight questions
JAISWAL = "002_c20e67beb73db993.txt"  # Vivek Jaiswal: three steps
SOKOL = "003_39ff7f9bd8ef2f67.txt"  # Marc Sokol: raise the temperature

# (question, article that answers it, a phrase the answering passage contains)
QUESTIONS: list[tuple[str, str, str]] = [
    ("How can a strategy be turned into a story employees care about?", THYS_3, "story"),
    ("What are empathy walks and why use them?", THYS_3, "empathy walks"),
    ("How do you start a customer movement inside a company?", THYS_3, "movement"),
    ("Why should data be turned into stories about individual customers?", THYS_3, "suzie"),
    ("Why do most transformation programmes fail to change behaviour?", THYS_3, "transformation programmes"),
    ("Should we celebrate employees who already act in a customer-centric way?", THYS_3, "celebrate"),
    ("Is the experience itself the product customers buy?", THYS_8, "is the product"),
    ("How do I check whether a customer statement is a fact or an assumption?", THYS_8, "verified fact"),
    ("What is the reason behind the reason when looking for root causes?", THYS_8, "root cause"),
    ("Why report account value at risk instead of NPS scores?", THYS_8, "value at risk"),
    ("What do kaizen, kaikaku and kakushin mean for customer experience?", THYS_8, "kaikaku"),
    ("Should we call customers before they call us about a mistake?", THYS_8, "call them before"),
    ("How do we make customer focus easy for employees, not just for customers?", THYS_8, "employee experience"),
    ("How explicit should experience standards be for every employee?", THYS_8, "standards"),
    ("How often should leaders review customer feedback with their team?", JAISWAL, "once a month"),
    ("Should customer objectives be part of performance reviews?", JAISWAL, "performance reviews"),
    ("Why is customer centricity a cultural change rather than a project?", JAISWAL, "cultural"),
    ("Should customer lifetime value be used in investment decisions?", JAISWAL, "lifetime value"),
    ("What is an adaptive challenge compared with a technical problem?", SOKOL, "adaptive"),
    ("Why should leaders protect gadflies and oddballs?", SOKOL, "gadflies"),
    ("What does raising the temperature mean in adaptive leadership?", SOKOL, "temperature"),
    ("Why do call centre scripts sound insincere to customers?", SOKOL, "scripts"),
    ("What is the balcony and the dance floor in leading change?", SOKOL, "balcony"),
]


def evaluate_retrieval(k: int = 3) -> dict[str, Any]:
    from improvement.wiring import make_backend

    backend = make_backend()
    report = backend.knowledge.ingest_paths([SEEDS])
    hits_at_k = 0
    reciprocal = 0.0
    misses = []
    for question, expected, phrase in QUESTIONS:
        results = backend.knowledge.search(question, k=10)
        # A hit is a passage from the right article that contains the answer, not just the right file.
        relevant = [Path(r.source).name == expected and phrase in r.text.lower() for r in results]  # keyed by path
        rank = relevant.index(True) + 1 if True in relevant else None
        if rank is not None and rank <= k:
            hits_at_k += 1
        else:
            misses.append({"question": question, "expected": expected, "rank": rank})
        reciprocal += 1.0 / rank if rank else 0.0
    return {
        "questions": len(QUESTIONS),
        "documents": report.documents,
        "chunks": report.chunks,
        "hit_definition": "a passage of the answering article containing the answer phrase",
        f"recall_at_{k}": round(hits_at_k / len(QUESTIONS), 3),
        "mrr": round(reciprocal / len(QUESTIONS), 3),
        "misses": misses,
    }
