"""The `backlog` command as a user runs it: real processes, real files, exit codes and stderr."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def run(*args: str, stdin: str | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "improvement", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=300,
    )


def test_round_trip_add_list_export_import_list_loses_nothing(tmp_path: Path) -> None:
    added = run(
        "add",
        "Our chat widget always says two minutes wait",
        "--value",
        "1200",
        "--quarter",
        "2026-Q4",
        "--story",
        "Grace waited 25 minutes",
        "--customers",
        "40",
        "--json",
    )
    assert added.returncode == 0, added.stderr
    data = json.loads(added.stdout)
    assert data["kind"] in ("kaizen", "kaikaku", "kakushin") and 0 <= data["confidence"] <= 1
    assert (
        run(
            "add", "Customers want repairs without losing their car for a week", "--kind", "kakushin", "--json"
        ).returncode
        == 0
    )
    assert run("edit", str(data["improvement_id"]), "--status", "triaged", "--owner", "Ana").returncode == 0
    before = json.loads(run("list", "--json").stdout)
    assert {"id", "title", "text", "kind", "status", "quarter", "created_at"} <= set(before[0])
    export = tmp_path / "backlog.json"
    assert run("export", "--format", "json", "--output", str(export)).returncode == 0
    csv_export = tmp_path / "backlog.csv"
    assert run("export", "--format", "csv", "--output", str(csv_export)).returncode == 0
    for path in (export, csv_export):
        fresh = {"BACKLOG_DATA_DIR": str(tmp_path / f"fresh-{path.suffix[1:]}")}
        imported = run("import", str(path), "--json", env=fresh)
        assert imported.returncode == 0, imported.stderr
        after = json.loads(run("list", "--json", env=fresh).stdout)
        keys = (
            "title",
            "text",
            "kind",
            "status",
            "quarter",
            "owner",
            "value_at_risk",
            "customers_affected",
            "kind_decided_by",
            "created_at",
        )
        assert sorted([{k: i[k] for k in keys} for i in after], key=str) == sorted(
            [{k: i[k] for k in keys} for i in before], key=str
        )


def test_review_json_has_the_contract_fields() -> None:
    run("add", "Refund approvals wait for a weekly finance batch across three teams", "--quarter", "2026-Q4")
    review = run("review", "--quarter", "2026-Q4", "--json")
    assert review.returncode == 0, review.stderr
    data = json.loads(review.stdout)
    assert {"quarter", "counts_by_kind", "counts_by_status", "value_at_risk_by_kind"} <= set(data)
    assert sum(data["counts_by_kind"].values()) == 1


@pytest.mark.parametrize(
    "args",
    [
        ("add", "   "),
        ("add", "\x01\x02"),
        ("add", "x" * 20_001),
        ("add", "ok text", "--kind", "radical"),
        ("add", "ok text", "--quarter", "2026-Q9"),
        ("list", "--status", "finished"),
        ("list", "--quarter", "2026-Q5"),
        ("review", "--quarter", "2026-Q9"),
        ("add", "ok text", "--value", "-5"),
        ("import", "/no/such/file.csv"),
        ("edit", "999", "--owner", "x"),
        ("ask", ""),
    ],
)
def test_bad_input_exits_2_with_one_line_and_writes_nothing(args: tuple[str, ...]) -> None:
    result = run(*args)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("backlog: ")
    assert "Traceback" not in result.stderr
    assert json.loads(run("list", "--json").stdout) == []


def test_malformed_and_partly_bad_imports_write_nothing(tmp_path: Path) -> None:
    bad_csv = tmp_path / "bad.csv"
    bad_csv.write_text("description,kind,quarter\nfine problem,kaizen,2026-Q4\n,kaizen,2026-Q4\nok,radical,2026-Q9\n")
    result = run("import", str(bad_csv))
    assert result.returncode == 2
    assert "row 2, field description" in result.stderr and "row 3, field kind" in result.stderr
    assert "row 3, field quarter" in result.stderr
    for name, content in [
        ("broken.json", b'[{"description": "x"'),
        ("latin.csv", "description\ncaf\xe9".encode("latin-1")),
        ("empty.csv", b""),
        ("binary.csv", b"\x00\x01\x02PK"),
        ("notes.txt", b"description\nhi"),
    ]:
        path = tmp_path / name
        path.write_bytes(content)
        result = run("import", str(path))
        assert result.returncode == 2, (name, result.stderr)
        assert "Traceback" not in result.stderr
    assert json.loads(run("list", "--json").stdout) == []


def test_classify_keeps_order_and_flags_empty_lines() -> None:
    stdin = (
        'The invoice shows the wrong VAT number\n\n{"text": "Claims pass through five teams and take two months"}\n'
        "{not json, so plain text about customers wanting to rent tools instead of buying them\n"
    )
    result = run("classify", "--json", stdin=stdin)
    assert result.returncode == 2
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 4
    assert lines[0]["kind"] == "kaizen" and "error" in lines[1] and lines[2]["kind"] == "kaikaku"
    assert lines[3]["kind"] == "kakushin"
    assert "line 2" in result.stderr
    assert set(lines[0]) == {"kind", "confidence", "rationale", "needs_review"}


def test_list_and_review_do_not_import_streamlit_langchain_or_chroma() -> None:
    code = (
        "import sys\nfrom improvement.cli import main\nmain(['list', '--json'])\nmain(['review', '--quarter', "
        "'2026-Q4', '--json'])\nheavy = [m for m in sys.modules if m.split('.')[0] in "
        "('streamlit', 'langchain', 'langchain_core', 'chromadb', 'onnxruntime', 'sklearn')]\n"
        "print('HEAVY', heavy)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "HEAVY []" in result.stdout


def test_seed_demo_fills_every_kind_status_and_quarter() -> None:
    assert run("seed-demo", "--count", "600").returncode == 0
    items = json.loads(run("list", "--json", "--limit", "1000").stdout)
    assert len(items) == 600
    assert {i["kind"] for i in items} == {"kaizen", "kaikaku", "kakushin"}
    assert {i["status"] for i in items} == {"new", "triaged", "planned", "in_progress", "done", "dropped"}
    assert len({i["quarter"] for i in items}) >= 8
    assert len({i["owner"] for i in items}) > 10


def test_seeded_demo_problems_are_found_as_similar_and_leave_no_drift() -> None:
    seeded = json.loads(run("seed-demo", "--count", "40", "--json").stdout)
    assert seeded == {"items": 40, "indexed_for_similar_problems": 40}
    assert json.loads(run("doctor", "--json").stdout)["ok"]
    demo = json.loads(run("show", "1", "--json").stdout)["problems"][0]["description"]
    logged = json.loads(run("add", demo, "--json").stdout)
    assert logged["similar"] and logged["similar"][0]["similarity"] > 0.9
    assert json.loads(run("seed-demo", "--count", "5", "--no-index", "--json").stdout) == {"items": 5}


def test_db_upgrade_reports_the_revision() -> None:
    from db.engine import HEAD_REVISION

    result = run("db", "upgrade", "--json")
    assert result.returncode == 0 and json.loads(result.stdout)["revision"] == HEAD_REVISION


def test_bad_setting_is_one_clear_line() -> None:
    result = run("list", env={"BACKLOG_LLM": "gpt:foo"})
    assert result.returncode == 2 and "BACKLOG_LLM" in result.stderr and "Traceback" not in result.stderr


def test_people_decisions_export_as_labelled_examples() -> None:
    added = json.loads(run("add", "Customers want their bikes serviced at home", "--json").stdout)
    run("add", "The receipt lists the wrong store phone number")
    assert run("edit", str(added["improvement_id"]), "--kind", "kakushin", "--actor", "lee").returncode == 0
    lines = [json.loads(line) for line in run("export-labels").stdout.splitlines()]
    assert len(lines) == 1
    decided_at = lines[0].pop("decided_at")
    assert lines == [
        {
            "text": "Customers want their bikes serviced at home",
            "kind": "kakushin",
            "industry": "",
            "touchpoint": "",
            "decided_by": "lee",
            "classified_by": "offline:shipped",
        }
    ]
    assert decided_at.startswith("20") and decided_at.endswith("+00:00")


def test_similar_problems_are_found_and_can_be_merged() -> None:
    first = json.loads(run("add", "Parcel cards don't say which depot holds the parcel", "--json").stdout)
    second = json.loads(run("add", "The missed-delivery card has no depot address on it", "--json").stdout)
    assert [s["improvement_id"] for s in second["similar"]] == [first["improvement_id"]]
    assert run("merge", str(first["improvement_id"]), str(second["improvement_id"])).returncode == 0
    third = json.loads(run("add", "Delivery cards never say where the depot is", "--json").stdout)
    assert {s["improvement_id"] for s in third["similar"]} == {first["improvement_id"]}


def test_ingest_reports_each_bad_file_and_exits_2(tmp_path: Path) -> None:
    good = tmp_path / "good.md"
    good.write_text("# Proactive service\n\nCall customers before they call you when a delivery is late.\n")
    huge = tmp_path / "huge.txt"
    huge.write_bytes(b"a" * (50 * 1024 * 1024))
    result = run("ingest", str(good), str(huge), str(tmp_path / "missing.pdf"), "--json")
    assert result.returncode == 2
    data = json.loads(result.stdout)
    assert data["documents"] == 1 and len(data["failed"]) == 2
    assert any("limit" in f["error"] for f in data["failed"])


def test_the_head_revision_constant_matches_the_migrations() -> None:
    from alembic.script import ScriptDirectory

    from db.engine import HEAD_REVISION, alembic_config, make_engine

    head = ScriptDirectory.from_config(alembic_config(make_engine("sqlite://"))).get_current_head()
    assert head == HEAD_REVISION


def test_a_refused_edit_writes_nothing_not_even_the_other_fields() -> None:
    added = json.loads(run("add", "The delivery SMS shows yesterday's date", "--json").stdout)
    item_id = str(added["improvement_id"])
    before = json.loads(run("show", item_id, "--json").stdout)
    refused = run("edit", item_id, "--owner", "Ana", "--status", "done")  # new -> done is not allowed
    assert refused.returncode == 2 and "Traceback" not in refused.stderr and refused.stderr.count("\n") == 1
    after = json.loads(run("show", item_id, "--json").stdout)
    assert after["owner"] == before["owner"] and after["version"] == before["version"]
    assert len(after["history"]) == len(before["history"])
    saved = run("edit", item_id, "--owner", "Ana", "--status", "triaged", "--kind", "kaikaku", "--json")
    assert saved.returncode == 0, saved.stderr
    item = json.loads(saved.stdout)
    assert (item["owner"], item["status"], item["kind"], item["version"]) == ("Ana", "triaged", "kaikaku", 2)
