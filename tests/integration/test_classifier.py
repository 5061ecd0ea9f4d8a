"""The offline classifier with the real embedding model, judged on text it was not fit on."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from improvement.classification import KINDS, OfflineClassifier, features, load_examples, out_of_fold_logits

DEV_SET = Path(__file__).resolve().parents[3] / "shared" / "eval" / "classify_dev.jsonl"

# Written for this test, never added to the training set: phrased like real tickets.
HELD_OUT = [
    ("The parking app charges twice when the session is extended.", "kaizen"),
    ("Our store card statement lists the old interest rate.", "kaizen"),
    ("Nobody tells patients the lab is closed on Mondays; they arrive and are sent home.", "kaizen"),
    ("A change of tenancy passes through lettings, legal, maintenance and finance, taking seven weeks.", "kaikaku"),
    (
        "Every product line has its own call centre with different rules, so customers get passed around for days.",
        "kaikaku",
    ),
    ("Sales reps are paid on volume, so they sell contracts customers cannot use and churn follows.", "kaikaku"),
    ("Parents want someone to pick up and drop off school uniforms for alterations without a shop visit.", "kakushin"),
    ("Farmers would pay per hectare for a drone that tells them which fields need water.", "kakushin"),
    ("Small cafés want their coffee beans delivered before they run out, without placing orders.", "kakushin"),
]


def test_embedding_model_is_normalised_and_meaningful(embedder) -> None:  # type: ignore[no-untyped-def]
    vectors = embedder.embed(["The bill is wrong", "The invoice has an error", "I love sunny beaches"])
    assert vectors.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2


def test_labelled_set_is_large_balanced_and_varied() -> None:
    examples = load_examples()
    counts = {k: sum(e.kind == k for e in examples) for k in KINDS}
    assert len(examples) >= 240 and min(counts.values()) >= 80
    assert len({e.industry for e in examples}) >= 12
    assert len({e.text for e in examples}) == len(examples)


def test_cross_validated_macro_f1_on_unseen_folds(embedder) -> None:  # type: ignore[no-untyped-def]
    from sklearn.metrics import f1_score

    examples = load_examples()
    texts = [e.text for e in examples]
    y = np.array([KINDS.index(e.kind) for e in examples])
    logits = out_of_fold_logits(features(embedder.embed(texts), texts), y)
    assert f1_score(y, logits.argmax(axis=1), average="macro") >= 0.85


def test_held_out_problems_and_the_dev_set(offline_classifier: OfflineClassifier) -> None:
    results = offline_classifier.classify([t for t, _ in HELD_OUT])
    assert sum(r.kind.value == label for r, (_, label) in zip(results, HELD_OUT, strict=True)) >= 7
    if DEV_SET.exists():  # the shared dev set: a final sanity check, never used for fitting
        import json

        rows = [json.loads(line) for line in DEV_SET.read_text().splitlines() if line.strip()]
        dev = offline_classifier.classify([r["text"] for r in rows])
        accuracy = np.mean([d.kind.value == r["label"] for d, r in zip(dev, rows, strict=True)])
        assert accuracy >= 0.8


def test_every_answer_explains_itself(offline_classifier: OfflineClassifier) -> None:
    result = offline_classifier.classify(["Claims go through four departments and take two months"])[0]
    assert result.kind.value == "kaikaku"
    assert "four departments" in result.rationale and "Closest labelled examples" in result.rationale
    assert abs(sum(result.probabilities.values()) - 1) < 1e-3
    assert 0 <= result.confidence <= 1


def test_other_languages_get_an_answer_with_honest_low_confidence(offline_classifier: OfflineClassifier) -> None:
    result = offline_classifier.classify(["Die Rechnung ist falsch und niemand ruft uns zurück, seit drei Wochen"])[0]
    assert result.kind.value in ("kaizen", "kaikaku", "kakushin")
    assert result.confidence < 0.6 and result.needs_review
    assert "English" in result.rationale


def test_fitted_model_is_cached_and_reloaded(embedder, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    first = OfflineClassifier.load_or_fit(embedder, tmp_path)
    assert len(list(tmp_path.glob("classifier-*.npz"))) == 1
    second = OfflineClassifier.load_or_fit(embedder, tmp_path)
    text = ["The SMS tracking link is cut off"]
    assert first.classify(text)[0].confidence == second.classify(text)[0].confidence
    cache = next(tmp_path.glob("classifier-*.npz"))
    cache.write_bytes(b"damaged")
    assert OfflineClassifier.load_or_fit(embedder, tmp_path).classify(text)[0].kind.value == "kaizen"


def test_a_text_embedded_again_is_not_recomputed(embedder, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    text = "A one-off sentence about a refund that took thirty days"
    first = embedder.embed([text])
    calls: list[int] = []
    original = embedder._embed_batch
    monkeypatch.setattr(embedder, "_embed_batch", lambda texts: calls.append(len(texts)) or original(texts))
    again = embedder.embed([text])
    assert calls == [] and np.array_equal(first, again)
    again[0, 0] = 42.0  # callers get a copy: the remembered vector stays intact
    assert embedder.embed([text])[0, 0] == first[0, 0]
