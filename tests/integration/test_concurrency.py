"""Several processes logging and editing at once: no lost update, no 'database is locked', history complete."""

from __future__ import annotations

import json
import multiprocessing
import random
from pathlib import Path

from sqlalchemy import func, select

from db.models import Change, Improvement, Problem

WRITERS = 8
OPERATIONS = 200


def _writer(url: str, writer: int, out: str) -> None:
    from db.engine import make_engine, make_session_factory
    from improvement.domain import Classification, Kind, StaleEdit
    from improvement.services import BacklogService

    service = BacklogService(make_session_factory(make_engine(url)))
    rng = random.Random(writer)
    verdict = Classification(Kind.KAIZEN, 0.9, "given by the test", False, {})
    created, edits, stale = [], 0, 0
    for op in range(OPERATIONS):
        if op % 4 == 0 or not created:
            result = service.log_problem(
                {"description": f"writer {writer} problem {op}", "quarter": "2026-Q4"},
                actor=f"w{writer}",
                classification=verdict,
            )
            created.append(result.improvement_id)
        else:
            # Edit anyone's item (ids are dense from 1), as a person would: read, then save with that version.
            target = rng.randint(1, max(created))
            try:
                item = service.get_item(target).item
                service.edit_item(
                    target, {"owner": f"w{writer}-{op}"}, actor=f"w{writer}", expected_version=item.version
                )
                edits += 1
            except StaleEdit:
                stale += 1
            except Exception as error:  # NotFound for an id another writer has not committed yet is fine
                if "no backlog item" not in str(error):
                    raise
    Path(out).write_text(json.dumps({"created": created, "edits": edits, "stale": stale}))


def test_eight_writers_two_hundred_operations_each(sessions, database_url: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    context = multiprocessing.get_context("spawn")
    outputs = [tmp_path / f"writer-{i}.json" for i in range(WRITERS)]
    processes = [context.Process(target=_writer, args=(database_url, i, str(outputs[i]))) for i in range(WRITERS)]
    for p in processes:
        p.start()
    for p in processes:
        p.join(timeout=600)
    assert all(p.exitcode == 0 for p in processes), [p.exitcode for p in processes]
    results = [json.loads(o.read_text()) for o in outputs]
    created = [i for r in results for i in r["created"]]
    edits = sum(r["edits"] for r in results)
    assert len(created) == len(set(created)) == WRITERS * OPERATIONS // 4  # no duplicate ids, nothing lost
    with sessions() as session:
        assert session.scalar(select(func.count(Improvement.id))) == len(created)
        assert session.scalar(select(func.count(Problem.id))) == len(created)
        owner_changes = session.scalar(select(func.count(Change.id)).where(Change.field == "owner"))
        versions = session.scalar(select(func.sum(Improvement.version - 1)))
        # Every successful edit left exactly one history entry and one version bump: no silent overwrite.
        assert edits == versions
        assert owner_changes <= edits  # an edit to the same owner value changes nothing and records nothing
        assert session.scalar(select(func.count(Change.id)).where(Change.field == "created")) == len(created)
