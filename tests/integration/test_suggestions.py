"""Suggestions that fit the problem: the playbook's data, its ranking, and the log use case around it.

The problems here are written for these tests (the issue's own three cases among them); the figures
that judge the ranking come from the held-out set in benchmarks/suggestions.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant.playbook import Playbook
from assistant.suggestion_ranker import load_training
from improvement.models import ProblemFacts
from improvement.wiring import make_backend

ROOT = Path(__file__).resolve().parents[2]
SEEDS = ROOT.parent / "shared" / "seeds"


@pytest.fixture(scope="module")
def playbook(classifier_cache: Path) -> Playbook:
    return Playbook.load(classifier_cache)


def facts(text: str, **fields: str) -> ProblemFacts:
    return ProblemFacts.of(title="", description=text, **fields)


def test_the_playbook_is_rich_and_in_our_own_words(playbook: Playbook) -> None:
    assert len([f for f in playbook.fixes if not f.generic]) >= 40 and len(playbook.ideas) >= 150
    for kind in ("kaizen", "kaikaku", "kakushin"):
        assert sum(f.kinds[0] == kind for f in playbook.fixes) >= 10
    assert all(f.applies_when and f.not_when and f.fix != f.proactive for f in playbook.fixes)
    assert all(i.customer_job and i.mechanism and i.sector for i in playbook.ideas)
    text = json.dumps([f.__dict__ for f in playbook.fixes] + [i.__dict__ for i in playbook.ideas])
    for seed in SEEDS.glob("*.txt"):
        words = seed.read_text().split()
        copied = [" ".join(words[i : i + 10]) for i in range(len(words) - 10) if " ".join(words[i : i + 10]) in text]
        assert not copied, copied[:2]


def test_training_labels_name_real_cards_and_never_an_idea_from_the_problems_own_sector(playbook: Playbook) -> None:
    training = load_training()
    fix_ids = {f.id for f in playbook.fixes if not f.generic}
    ideas = {i.id: i for i in playbook.ideas}
    assert len(training) >= 150
    for problem in training:
        assert set(problem.accepted_fixes) <= fix_ids, problem.id
        own = playbook.industries.sector(problem.facts.industry)
        assert all(ideas[i].sector != own for i in problem.accepted_ideas), problem.id


@pytest.mark.parametrize(
    ("text", "kind", "expected"),
    [
        (
            "A home insurance claim passes through four departments, each re-checks the file, and the customer "
            "waits seven weeks for a decision",
            "kaikaku",
            {"fix-remove-handoffs", "fix-single-owner", "fix-case-manager", "fix-cut-steps"},
        ),
        (
            "Agents are measured on average handle time, so they end calls before the customer's problem is solved",
            "kaikaku",
            {"fix-incentives"},
        ),
        (
            "The delivery estimate shown at checkout is wrong for items shipped from the supplier's warehouse",
            "kaizen",
            {"fix-eta-accuracy", "fix-correct-information"},
        ),
    ],
)
def test_the_card_that_fits_comes_first(playbook: Playbook, text: str, kind: str, expected: set[str]) -> None:
    options = playbook.suggest(facts(text, kind=kind)).fix_options
    assert options and options[0].id in expected, [o.id for o in options]


def test_an_idea_from_the_problems_own_sector_is_never_cross_industry(playbook: Playbook) -> None:
    cases = [
        ("Passengers queue at the gate to rebook after a cancelled flight", "airline"),
        ("Customers can't see when their new broadband line will be connected", "telecom"),
        ("Patients don't know how long they will wait in the emergency department", "hospital"),
        ("Shoppers wait two weeks for a refund after returning an online order", "online retail"),
    ]
    for text, industry in cases:
        own = playbook.industries.sector(industry)
        assert own is not None
        ideas = playbook.suggest(facts(text, industry=industry)).idea_options
        assert ideas and all(playbook.industries.sector(i.industry) != own for i in ideas), (industry, ideas)


def test_nothing_fits_an_off_topic_text_and_the_product_says_so(playbook: Playbook) -> None:
    for text in ("The office coffee machine is broken again", "test test 123", "lorem ipsum dolor sit amet"):
        suggestions = playbook.suggest(facts(text))
        assert not suggestions.fix_options and not suggestions.proposed_fix, (text, suggestions.fix_options)


def test_the_fix_and_the_proactive_action_differ_and_name_the_touchpoint_and_segment(playbook: Playbook) -> None:
    suggestions = playbook.suggest(
        facts(
            "Our renewal letter does not say the price goes up by 30%, and customers only notice on the bill",
            kind="kaizen",
            touchpoint="renewal letter",
            segment="small-business customers",
        )
    )
    assert 2 <= len(suggestions.fix_options) <= 3
    for option in suggestions.fix_options:
        assert option.fix != option.proactive
        assert "renewal letter" in option.fix and "small-business customers" in (option.fix + option.proactive)


def test_logging_a_problem_offers_ranked_options_and_the_person_picks_one(sessions) -> None:  # type: ignore[no-untyped-def]
    service = make_backend().backlog()
    logged = service.log_problem(
        {
            "title": "Refund takes three weeks",
            "description": "Refunds for cancelled orders pass through customer service, finance and the bank "
            "team in turn, and customers wait three weeks",
            "touchpoint": "refund email",
            "industry": "retail",
        },
        actor="Ana",
    )
    options = logged.suggestions.fix_options
    assert options and logged.suggestions.proposed_fix.startswith(options[0].title)
    assert logged.suggestions.proactive_action == options[0].proactive
    chosen = options[-1]
    item = service.choose_suggestions(logged.improvement_id, fix=chosen, actor="Ana", expected_version=1)
    detail = service.get_item(item.id)
    assert detail.proposed_fix == f"{chosen.title}: {chosen.fix}" and detail.proactive_action == chosen.proactive
    assert any(c.field == "proposed_fix" and c.changed_by == "Ana" for c in detail.history)


def test_a_logged_problem_is_embedded_once(sessions, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    from assistant.embeddings import MiniLMEmbedder, get_embedder

    backend = make_backend()
    service = backend.backlog()
    _ = backend.playbook, backend.classifier(), backend.problem_index()  # loading them embeds their own data
    text = "The parcel locker code in our SMS expires before customers can collect the parcel"
    embedded: list[str] = []
    real = MiniLMEmbedder.embed  # counted above the embedder's short memory of recent texts, which would hide repeats

    def counting(self: MiniLMEmbedder, texts: list[str]):  # type: ignore[no-untyped-def]
        embedded.extend(texts)
        return real(self, texts)

    monkeypatch.setattr(MiniLMEmbedder, "embed", counting)
    assert get_embedder() is not None
    service.log_problem({"description": text, "industry": "logistics"}, actor="Ana")
    assert embedded.count(text) == 1, embedded


def test_held_out_hit_rates_stay_well_above_the_first_release() -> None:
    """A floor under the figures in BENCHMARKS.md (held-out problems, labels only: 72% / 81% now): a change
    that breaks the ranking falls back towards the first release's 8% / 27% or the previous release's
    57% first fixes and fails here."""
    from benchmarks.suggestions import run

    results = run()
    after, before, previous = results["after"], results["before"], results["previous"]
    assert after["fix_top1"] >= 0.62 and after["fix_top1"] > previous["fix_top1"] > 2 * before["fix_top1"]
    assert after["idea_top3"] >= 0.65 and after["idea_top3"] > 2 * before["idea_top3"]
    assert after["off_topic_shown_nothing"] == 1.0 and after["ideas_from_the_problems_own_sector"] == 0
    assert results["fix_equal_to_proactive_action"] == 0
