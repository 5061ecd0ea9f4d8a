"""Evaluate the offline classifier honestly: cross-validated on the project's set, then held-out data once.

Cross-validation holds out whole industries (group k-fold), so no number here comes from data the scoring
model was fit on, nor from a near-twin of it in the same industry. The project's held-out split
(``improvement/data/heldout_problems.jsonl``: industries absent from training) and the shared dev set
(``shared/eval/classify_dev.jsonl``) are never used for fitting or for choosing anything; they are scored
once, at the end.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from improvement.classification import (
    KINDS,
    REGULARISATION_C,
    Embedder,
    LabelledExample,
    OfflineClassifier,
    _fit_logistic,
    _softmax,
    choose_threshold,
    features,
    fit_temperature,
    load_content_free,
    load_examples,
    load_heldout,
    out_of_fold_logits,
)
from improvement.domain import Kind


def _scores(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, Any]:
    from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support

    precision, recall, f1, support = precision_recall_fscore_support(y_true, y_pred, labels=range(3), zero_division=0)
    return {
        "macro_f1": round(float(f1_score(y_true, y_pred, average="macro", labels=range(3), zero_division=0)), 4),
        "accuracy": round(float((y_true == y_pred).mean()), 4),
        "per_kind": {
            k.value: {
                "precision": round(float(p), 3),
                "recall": round(float(r), 3),
                "f1": round(float(f), 3),
                "support": int(s),
            }
            for k, p, r, f, s in zip(KINDS, precision, recall, f1, support, strict=True)
        },
        "confusion_matrix": {
            "labels": [k.value for k in KINDS],
            "rows_true_cols_predicted": confusion_matrix(y_true, y_pred, labels=range(3)).tolist(),
        },
    }


def calibration_table(
    confidence: np.ndarray, correct: np.ndarray, bins: Sequence[float] = (0.33, 0.5, 0.7, 0.8, 0.9, 0.95, 1.0001)
) -> tuple[list[dict[str, Any]], float]:
    rows, ece = [], 0.0
    for low, high in zip(bins[:-1], bins[1:], strict=True):
        mask = (confidence >= low) & (confidence < high)
        if mask.any():
            gap = abs(float(confidence[mask].mean()) - float(correct[mask].mean()))
            ece += gap * mask.sum() / len(correct)
            rows.append(
                {
                    "bin": f"{low:.2f}-{min(high, 1):.2f}",
                    "n": int(mask.sum()),
                    "mean_confidence": round(float(confidence[mask].mean()), 3),
                    "accuracy": round(float(correct[mask].mean()), 3),
                }
            )
    return rows, round(float(ece), 4)


def compare_learners(
    x: np.ndarray, emb: np.ndarray, y: np.ndarray, groups: list[str] | None = None, seed: int = 7
) -> dict[str, float]:
    """Macro-F1, industries held out, of the candidate learners the default was chosen from."""
    from sklearn.metrics import f1_score
    from sklearn.neighbors import NearestCentroid

    from improvement.classification import grouped_folds

    results: dict[str, list[float]] = {
        "logistic_regression_embeddings_plus_cues": [],
        "logistic_regression_embeddings_only": [],
        "nearest_centroid_embeddings": [],
    }
    for train, test in grouped_folds(y, groups, seed=seed):
        pred = _fit_logistic(x[train], y[train]).predict(x[test])
        results["logistic_regression_embeddings_plus_cues"].append(f1_score(y[test], pred, average="macro"))
        pred = _fit_logistic(emb[train], y[train]).predict(emb[test])
        results["logistic_regression_embeddings_only"].append(f1_score(y[test], pred, average="macro"))
        pred = NearestCentroid().fit(emb[train], y[train]).predict(emb[test])
        results["nearest_centroid_embeddings"].append(f1_score(y[test], pred, average="macro"))
    return {name: round(float(np.mean(v)), 4) for name, v in results.items()}


def load_dev_set(path: Path) -> list[LabelledExample]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [LabelledExample(r["text"], Kind(r["label"])) for r in rows]


def evaluate(embedder: Embedder, *, dev_path: Path | None, cache_dir: Path, repeats: int = 3) -> dict[str, Any]:
    examples = load_examples()
    texts = [e.text for e in examples]
    y = np.array([KINDS.index(e.kind) for e in examples])
    emb = embedder.embed(texts)
    x = features(emb, texts)
    groups = [e.industry or "(none)" for e in examples]
    # Whole industries held out. Group folds do not depend on a seed, so one run; the stratified run beside it
    # shows how much random folds of near-duplicates flatter the model.
    cv_runs = [_scores(y, out_of_fold_logits(x, y, groups=groups, texts=texts).argmax(axis=1))]
    stratified = _scores(y, out_of_fold_logits(x, y, seed=0, texts=texts).argmax(axis=1))
    grouped_logits = out_of_fold_logits(x, y, groups=groups, texts=texts)  # the shipped ensemble
    temperature = fit_temperature(grouped_logits, y)
    held = _softmax(grouped_logits / temperature)
    confidence, correct = held.max(axis=1), held.argmax(axis=1) == y
    table, ece = calibration_table(confidence, correct)
    threshold = choose_threshold(confidence, correct)
    report: dict[str, Any] = {
        "examples": len(examples),
        "examples_per_kind": {k.value: int((y == i).sum()) for i, k in enumerate(KINDS)},
        "industries": len({e.industry for e in examples}),
        "regularisation_C": REGULARISATION_C,
        "cross_validation": {
            "folds": "industries held out (group k-fold)",
            "repeats": 1,
            "stratified_random_folds_macro_f1": stratified["macro_f1"],
            "macro_f1_mean": round(float(np.mean([r["macro_f1"] for r in cv_runs])), 4),
            "macro_f1_min": round(float(np.min([r["macro_f1"] for r in cv_runs])), 4),
            "first_run": cv_runs[0],
        },
        "learners_compared_macro_f1": compare_learners(x, emb, y, groups),
        "calibration": {
            "temperature": round(temperature, 3),
            "expected_calibration_error": ece,
            "bins": table,
            "needs_review_threshold": threshold,
            "share_flagged_for_review": round(float((confidence < threshold).mean()), 3),
            "accuracy_above_threshold": round(float(correct[confidence >= threshold].mean()), 3),
        },
    }
    classifier = OfflineClassifier.load_or_fit(embedder, cache_dir)
    heldout = load_heldout()
    results = classifier.classify([h.text for h in heldout])
    y_held = np.array([KINDS.index(h.kind) for h in heldout])
    pred_held = np.array([KINDS.index(r.kind) for r in results])
    report["heldout"] = {
        "examples": len(heldout),
        "industries": sorted({h.industry for h in heldout}),
        **_scores(y_held, pred_held),
        "wrong_at_95": sum(
            1 for r, h in zip(results, heldout, strict=True) if r.kind != h.kind and r.confidence >= 0.95
        ),
        "flagged_for_review": sum(r.needs_review for r in results),
    }
    empty = classifier.classify(load_content_free())
    report["content_free"] = {"examples": len(empty), "flagged": sum(r.needs_review for r in empty)}
    if dev_path is not None and dev_path.exists():
        dev = load_dev_set(dev_path)
        results = classifier.classify([d.text for d in dev])
        y_dev = np.array([KINDS.index(d.kind) for d in dev])
        pred = np.array([KINDS.index(r.kind) for r in results])
        report["dev_set"] = {
            "path": str(dev_path),
            **_scores(y_dev, pred),
            "flagged_for_review": sum(r.needs_review for r in results),
            "errors": [
                {"text": d.text, "label": d.kind.value, "predicted": r.kind.value, "confidence": round(r.confidence, 3)}
                for d, r in zip(dev, results, strict=True)
                if r.kind != d.kind
            ],
        }
    return report
