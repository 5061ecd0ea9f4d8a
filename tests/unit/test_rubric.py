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
