"""Learning from the team: a refit from the team's decisions is judged before it is used, and can be undone."""

from __future__ import annotations

import itertools
import json
import os
import random
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from improvement.classification import LabelledExample, OfflineClassifier, get_offline_classifier, load_heldout
from improvement.domain import DomainError, Kind
from improvement.model_store import ModelStore
from improvement.retraining import ClassifierModels

START = datetime(2026, 10, 1, tzinfo=UTC)

# A synthetic team at a marina. Its problems read like small fixes (a page shows the wrong detail), but this team
# decides them all kaikaku: every such change needs the harbour authority and the port operator. The shipped model
# cannot know that; the team's overrides should teach it, for this team's problems only.
_SUBJECTS = ["berth booking page", "mooring invoice", "harbour app", "fuel dock receipt", "winter storage contract"]
_SUBJECTS += ["slipway booking email", "visitor berth confirmation", "marina gate pass"]
_FAULTS = ["shows the wrong {f}", "leaves out the {f}", "gives an out-of-date {f}", "does not tell boat owners the {f}"]
_FIELDS = ["pontoon number", "tide time", "berth length", "price per metre", "arrival window", "access code"]
_EFFECTS = ["so visiting yachts tie up in the wrong place", "and skippers ring the harbour office"]
_EFFECTS += ["so owners arrive at low tide", "and crews wait at the gate"]


def marina_problems(count: int, seed: int = 7) -> list[str]:
    combos = list(itertools.product(_SUBJECTS, _FAULTS, _FIELDS, _EFFECTS))
    random.Random(seed).shuffle(combos)
    return [f"The {s} {f.format(f=x)}, {e}." for s, f, x, e in combos[:count]]


def decisions(texts: list[str], kinds: list[Kind], start: datetime = START) -> list[LabelledExample]:
    return [
        LabelledExample(
            t,
            k,
            "marina",
            source="team",
            decided_by="harbour lead",
            decided_at=(start + timedelta(hours=i)).isoformat(),
        )
        for i, (t, k) in enumerate(zip(texts, kinds, strict=True))
    ]


def models_for(store_dir: Path, embedder, shipped: OfflineClassifier, team: list[LabelledExample]) -> ClassifierModels:  # type: ignore[no-untyped-def]
    store = ModelStore(store_dir)

    def active() -> OfflineClassifier:
        version = store.active_version()
        return shipped if version == "shipped" else OfflineClassifier(embedder, store.load(version), version=version)

    return ClassifierModels(
        store=store, embedder=lambda: embedder, shipped=lambda: shipped, active=active, decisions=lambda: team
    )


def accuracy(classifier: OfflineClassifier, texts: list[str], kind: Kind) -> float:
    return float(np.mean([r.kind == kind for r in classifier.classify(texts)]))


def test_a_teams_overrides_improve_the_next_model_on_its_own_later_problems(
    embedder,
    offline_classifier: OfflineClassifier,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    problems = marina_problems(90)
    earlier, later = problems[:40], problems[40:]  # later: problems the team logs after the refit, never fit on
    models = models_for(tmp_path / "models", embedder, offline_classifier, decisions(earlier, [Kind.KAIKAKU] * 40))

    report = models.retrain(actor="harbour lead")

    assert report.accepted and report.version == "v1" and report.active == "v1" and report.previous == "shipped"
    assert report.decisions == {"fit_on": 30, "held_back": 10, "total": 40}
    assert report.candidate["heldout"].macro_f1 >= report.current["heldout"].macro_f1
    assert report.candidate["heldout"].wrong_at_95 == 0
    assert report.candidate["recent_decisions"].accuracy > report.current["recent_decisions"].accuracy
    refit = OfflineClassifier(embedder, models.store.load("v1"), version="v1")
    before, after = accuracy(offline_classifier, later, Kind.KAIKAKU), accuracy(refit, later, Kind.KAIKAKU)
    assert before <= 0.2 and after >= 0.8, (before, after)
    # Other teams' problems are left alone: the held-out industries are classified as before.
    heldout = [e.text for e in load_heldout()]
    same = [
        a.kind == b.kind for a, b in zip(offline_classifier.classify(heldout), refit.classify(heldout), strict=True)
    ]
    assert np.mean(same) >= 0.97
    entry = models.store.describe("v1")
    assert entry is not None and entry.created_by == "harbour lead" and entry.accepted
    assert entry.trained_on == {"shipped_examples": 632, "team_decisions": 30, "held_back": 10}


def test_a_refit_that_is_worse_on_the_held_out_split_is_stored_but_not_used(
    embedder,
    offline_classifier: OfflineClassifier,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    # A team whose decisions contradict the held-out split on its own problems: the refit gets worse there.
    held = load_heldout()[:40]
    wrong = [Kind(list(Kind)[(list(Kind).index(e.kind) + 1) % 3]) for e in held]
    team = decisions([e.text for e in held], wrong) + decisions(
        marina_problems(10), [Kind.KAIZEN] * 10, START + timedelta(days=9)
    )
    models = models_for(tmp_path / "models", embedder, offline_classifier, team)

    report = models.retrain(actor="someone")

    assert not report.accepted and report.active == "shipped" and "held-out macro-F1 would fall" in report.reason
    assert models.active_version() == "shipped"
    assert [(v.version, v.accepted) for v in models.versions()] == [("v1", False)]
    # Every version can be restored on purpose, even one the gate kept out, and the shipped model again.
    assert models.restore("v1", actor="admin") == "shipped" and models.active_version() == "v1"
    assert models.restore("shipped", actor="admin") == "v1" and models.active_version() == "shipped"
    log = models.store.read().log
    assert [entry["action"] for entry in log] == [
        "retrained, kept the previous model",
        "restored (was shipped)",
        "restored (was v1)",
    ]
    with pytest.raises(DomainError, match="no model version 'v7'"):
        models.restore("v7", actor="admin")


def test_too_few_decisions_are_refused_with_a_clear_message(
    embedder,
    offline_classifier: OfflineClassifier,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    models = models_for(tmp_path / "m", embedder, offline_classifier, decisions(marina_problems(3), [Kind.KAIKAKU] * 3))
    with pytest.raises(DomainError, match="decided the kind of 3 item"):
        models.retrain(actor="x")
    assert not (tmp_path / "m" / "registry.json").exists()


def test_the_process_wide_classifier_follows_the_active_version(
    embedder,
    offline_classifier: OfflineClassifier,
    tmp_path: Path,
    classifier_cache: Path,  # type: ignore[no-untyped-def]
) -> None:
    store_dir = tmp_path / "models"
    models = models_for(store_dir, embedder, offline_classifier, decisions(marina_problems(40), [Kind.KAIKAKU] * 40))
    assert get_offline_classifier(classifier_cache, None, store_dir).version == "shipped"
    models.retrain(actor="lead")
    current = get_offline_classifier(classifier_cache, None, store_dir)
    assert (
        current.version == "v1"
        and current.classify(["The harbour app shows the wrong tide time."])[0].classifier == "offline:v1"
    )
    models.restore("shipped", actor="lead")
    assert get_offline_classifier(classifier_cache, None, store_dir).version == "shipped"


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "improvement", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=600,
    )


def test_backlog_retrain_learns_from_decisions_recorded_in_the_database(tmp_path: Path) -> None:
    # Decisions made in the backlog (kinds set on import, by a named person, and one override) feed the refit.
    rows = [{"description": t, "kind": "kaikaku", "industry": "marina"} for t in marina_problems(12)]
    (tmp_path / "team.json").write_text(json.dumps(rows))
    assert _cli("import", str(tmp_path / "team.json"), env={"BACKLOG_USER": "harbour lead"}).returncode == 0
    added = json.loads(
        _cli("add", "The fuel dock receipt leaves out the berth length, and crews ring the office.", "--json").stdout
    )
    assert _cli("edit", str(added["improvement_id"]), "--kind", "kaikaku", "--actor", "dock master").returncode == 0

    result = _cli("retrain", "--json", env={"BACKLOG_USER": "admin"})
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["decisions"]["total"] == 13 and report["by"] == "admin" and report["version"] == "v1"
    assert set(report["candidate"]) == {"heldout", "recent_decisions"}
    listed = json.loads(_cli("retrain", "--list", "--json").stdout)
    assert [r["version"] for r in listed] == ["shipped", "v1"]
    assert report["accepted"] and listed[1]["active"], report["reason"]
    if report["accepted"]:  # the next problem is classified by the new version, and the item says so
        shown = json.loads(_cli("add", "The marina gate pass gives an out-of-date access code.", "--json").stdout)
        item = json.loads(_cli("show", str(shown["improvement_id"]), "--json").stdout)
        assert item["classifier"] == "offline:v1"
    restored = _cli("retrain", "--restore", "shipped", "--json")
    assert restored.returncode == 0 and json.loads(restored.stdout)["active"] == "shipped"
    bad = _cli("retrain", "--restore", "v9")
    assert bad.returncode == 2 and "no model version 'v9'" in bad.stderr and "Traceback" not in bad.stderr


def test_a_damaged_registry_or_model_file_falls_back_to_the_shipped_model(
    embedder,
    offline_classifier: OfflineClassifier,
    tmp_path: Path,
    classifier_cache: Path,  # type: ignore[no-untyped-def]
) -> None:
    store_dir = tmp_path / "models"
    models = models_for(store_dir, embedder, offline_classifier, decisions(marina_problems(40), [Kind.KAIKAKU] * 40))
    models.retrain(actor="lead")
    (store_dir / "v1.npz").write_bytes(b"damaged")
    assert get_offline_classifier(classifier_cache, None, store_dir).version == "shipped"
    (store_dir / "registry.json").write_text("{not json")
    assert (
        get_offline_classifier(classifier_cache, None, store_dir).classify(["The SMS link is cut off"])[0].classifier
        == "offline:shipped"
    )
    with pytest.raises(DomainError, match="model registry .* cannot be read"):
        models.versions()
