from improvement.domain import Kind
from improvement.rubric import english_share, find_cues


def test_cues_point_to_the_kinds_of_the_rubric() -> None:
    kinds = {h.kind for h in find_cues("Claims pass through four departments and customers wait six weeks")}
    assert Kind.KAIKAKU in kinds
    assert Kind.KAIZEN in {h.kind for h in find_cues("The confirmation email shows the wrong date")}
    assert Kind.KAKUSHIN in {h.kind for h in find_cues("Drivers want to pay per use instead of owning a car")}


def test_english_share_tells_other_languages_apart() -> None:
    assert english_share("The bill is wrong and nobody calls us back about it") > 0.2
    assert english_share("La factura es incorrecta y nadie nos devuelve la llamada nunca") < 0.08


def test_a_contract_length_is_not_a_lead_time() -> None:
    # "months" alone once counted as kaikaku lead time: a gym's 12-month contract read as a radical redesign.
    assert Kind.KAIKAKU not in {h.kind for h in find_cues("My 12-month gym contract renewed without a reminder")}
    assert Kind.KAIKAKU in {h.kind for h in find_cues("Customers wait six weeks for the refund")}


def test_cues_that_only_echoed_the_projects_own_examples_are_gone() -> None:
    from improvement.rubric import CUES

    patterns = " ".join(p for cues in CUES.values() for _, p in cues)
    for echo in ("9-point", "cubic metre", "a week before", "re-typed"):
        assert echo not in patterns
