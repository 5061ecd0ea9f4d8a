"""Priority by kind (pure formulas), target parsing, titles cut for print, and a server without Pango."""

from __future__ import annotations

import builtins
from typing import Any

import pytest

from improvement.domain import DomainError, quarter_bounds
from improvement.prioritisation import ItemInputs, Weights, formula_text, parse_weights, score
from improvement.report import cut, pdf_unavailable
from improvement.review import parse_target


def test_a_quick_win_ranks_money_and_customers_against_effort() -> None:
    easy = score(ItemInputs("kaizen", value_at_risk=10_000, customers_affected=100, effort=1))
    hard = score(ItemInputs("kaizen", value_at_risk=10_000, customers_affected=100, effort=4))
    assert easy.value > hard.value and easy.method == "quick win"
    assert "÷ 1^1" in easy.formula and easy.inputs["effort"] == 1


def test_wsjf_is_cost_of_delay_over_job_size() -> None:
    calm = score(ItemInputs("kaikaku", value_at_risk=120_000, effort=3, urgency=1, risk_reduction=1))
    urgent = score(ItemInputs("kaikaku", value_at_risk=120_000, effort=3, urgency=5, risk_reduction=1))
    assert urgent.value > calm.value and urgent.method == "WSJF"
    assert urgent.inputs["value_per_month"] == 10_000  # value at risk per month of delay
    defaults = score(ItemInputs("kaikaku", value_at_risk=120_000, effort=3))
    assert defaults.inputs["urgency"] == 3 and defaults.inputs["risk_reduction"] == 3


def test_rice_uses_reach_impact_confidence_and_effort_and_reach_defaults_to_customers() -> None:
    hunch = score(ItemInputs("kakushin", customers_affected=999, impact=3, effort=3, rice_confidence=20))
    evidence = score(ItemInputs("kakushin", customers_affected=999, impact=3, effort=3, rice_confidence=80))
    assert evidence.value == pytest.approx(hunch.value * 4, rel=1e-3) and evidence.method == "RICE"
    assert evidence.inputs["reach"] == 999
    wider = score(ItemInputs("kakushin", customers_affected=999, reach=99_999, impact=3, effort=3))
    assert wider.value > score(ItemInputs("kakushin", customers_affected=999, impact=3, effort=3)).value


def test_weights_change_the_score_and_the_formula_text_and_bad_ones_are_refused() -> None:
    item = ItemInputs("kakushin", customers_affected=500, impact=2, effort=2, rice_confidence=50)
    doubled = Weights(by_kind={"kakushin": {"reach": 2.0}})
    assert score(item, doubled).value == pytest.approx(2 * score(item).value, rel=1e-3)
    assert formula_text("kakushin", doubled).startswith("RICE = 2 × log10(1 + reach)")
    assert parse_weights("KAIZEN", {"value": "1.5"})[1] == {"value": 1.5}
    for bad in ({"reach": 1}, {"value": "x"}, {"value": 11}, {"value": "nan"}):
        with pytest.raises(DomainError):
            parse_weights("kaizen", bad)


def test_a_target_must_be_three_whole_percentages_adding_up_to_100() -> None:
    assert parse_target("Effort", {"kaizen": "60%", "kaikaku": 30, "kakushin": "10"}) == (
        "effort",
        {"kaizen": 60, "kaikaku": 30, "kakushin": 10},
    )
    for basis, shares in (
        ("items", {"kaizen": 60, "kaikaku": 30, "kakushin": 5}),
        ("items", {"kaizen": 60.5, "kaikaku": 30, "kakushin": 9.5}),
        ("items", {"kaizen": 110, "kaikaku": -10, "kakushin": 0}),
        ("money", {"kaizen": 70, "kaikaku": 20, "kakushin": 10}),
        ("items", {"kaizen": 70, "kaikaku": 30}),
    ):
        with pytest.raises(DomainError):
            parse_target(basis, shares)


def test_quarter_bounds_and_titles_cut_with_an_ellipsis() -> None:
    start, end = quarter_bounds("2026-Q4")
    assert (start.isoformat(), end.isoformat()) == ("2026-10-01T00:00:00+00:00", "2027-01-01T00:00:00+00:00")
    assert cut("short") == "short"
    long = cut("word " * 40, 30)
    assert len(long) <= 30 and long.endswith("…")


def test_without_pango_the_pdf_says_why_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_pango(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "weasyprint":
            raise OSError("cannot load library 'libpango-1.0-0': No such file\nmore detail")
        return real_import(name, *args, **kwargs)

    pdf_unavailable.cache_clear()
    monkeypatch.setattr(builtins, "__import__", no_pango)
    try:
        problem = pdf_unavailable()
        assert problem is not None and "apt-get install libpango" in problem and "\n" not in problem
    finally:
        monkeypatch.undo()
        pdf_unavailable.cache_clear()
    assert pdf_unavailable() is None  # Pango is installed here
