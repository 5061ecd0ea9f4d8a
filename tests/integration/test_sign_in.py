"""Sign-in and roles (issue 15) where they are enforced: the use cases and the people store. SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from improvement.access import Action, Actor, Forbidden, Role
from improvement.domain import DomainError
from improvement.people import AccessRevoked, People
from improvement.services import BacklogService

VIEWER = Actor("Vera Viewer", "vera@example.com", Role.VIEWER)
AGENT = Actor("Ana Agent", "ana@example.com", Role.AGENT)
OWNER = Actor("Omar Owner", "omar@example.com", Role.OWNER)
ADMIN = Actor("Ada Admin", "ada@example.com", Role.ADMIN)


@pytest.fixture
def service(sessions, offline_classifier) -> BacklogService:  # type: ignore[no-untyped-def]
    return BacklogService(sessions, classifier_provider=lambda: offline_classifier, signed_in_only=True)


@pytest.fixture
def people(sessions) -> People:  # type: ignore[no-untyped-def]
    return People(sessions, admins={"ada@example.com"}, default_role=Role.AGENT)


def test_each_role_does_what_it_may_and_nothing_more(service: BacklogService) -> None:
    with pytest.raises(Forbidden, match="viewer and may not log problems"):
        service.log_problem({"description": "Parcels arrive without tracking"}, actor=VIEWER)
    logged = service.log_problem({"description": "Parcels arrive without tracking"}, actor=AGENT)
    with pytest.raises(Forbidden, match="may not change backlog items"):
        service.update_item(logged.improvement_id, {"owner": "Omar"}, status="triaged", actor=AGENT)
    with pytest.raises(Forbidden):
        service.update_item(logged.improvement_id, {"owner": "Omar"}, actor=VIEWER)
    with pytest.raises(Forbidden):
        service.merge(logged.improvement_id, [logged.improvement_id + 1], actor=AGENT)
    with pytest.raises(Forbidden):
        service.bulk_change([logged.improvement_id], status="triaged", actor=VIEWER)
    detail = service.get_item(logged.improvement_id)
    assert detail.item.version == 1 and detail.item.owner is None  # nothing written by the refused calls
    service.update_item(logged.improvement_id, {"owner": "Omar"}, status="triaged", actor=OWNER)
    history = service.get_item(logged.improvement_id).history
    assert {c.changed_by for c in history} == {"Ana Agent <ana@example.com>", "Omar Owner <omar@example.com>"}
    assert service.get_item(logged.improvement_id).problems[0].reporter == "Ana Agent <ana@example.com>"


def test_with_sign_in_on_a_bare_name_cannot_change_anything(service: BacklogService) -> None:
    with pytest.raises(Forbidden, match="sign in"):
        service.log_problem({"description": "The chatbot forgets the order number"}, actor="anonymous")


def test_the_first_admins_come_from_the_settings_and_everyone_else_gets_the_default_role(people: People) -> None:
    assert people.sign_in("Ada@Example.com", "Ada Admin").role is Role.ADMIN
    first = people.sign_in("ben@example.com", "Ben")
    assert first.role is Role.AGENT and first.label == "Ben <ben@example.com>"
    people.grant(ADMIN, "ben@example.com", "owner")
    assert people.sign_in("ben@example.com", "Ben").role is Role.OWNER  # the role is kept in SQL


def test_granting_and_revoking_are_for_admins_and_checked(people: People) -> None:
    people.sign_in("ada@example.com", "Ada Admin")
    with pytest.raises(Forbidden):
        people.grant(OWNER, "x@example.com", "admin")
    with pytest.raises(DomainError, match="unknown role"):
        people.grant(ADMIN, "x@example.com", "superuser")
    with pytest.raises(DomainError, match="not an e-mail"):
        people.grant(ADMIN, "not-an-address", "agent")
    with pytest.raises(DomainError, match="last admin"):
        people.revoke(ADMIN, "ada@example.com")
    with pytest.raises(DomainError, match="last admin"):
        people.grant(ADMIN, "ada@example.com", "viewer")
    people.grant(ADMIN, "zoe@example.com", "admin")  # granted before her first sign-in
    people.revoke(ADMIN, "ada@example.com")  # now allowed: Zoe is an admin
    with pytest.raises(AccessRevoked, match="no access"):
        people.sign_in("ada@example.com")
    assert people.sign_in("zoe@example.com").can(Action.ADMINISTER)
    with pytest.raises(DomainError, match="nobody"):
        people.revoke(ADMIN, "ghost@example.com")


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "improvement", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "BACKLOG_USER": "ops@example.com"},
        timeout=120,
    )


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_users_from_the_command_line(sessions) -> None:  # type: ignore[no-untyped-def]
    granted = _cli("users", "grant", "Lee@Example.com", "leader", "--json")
    assert granted.returncode == 0 and json.loads(granted.stdout) == {"email": "lee@example.com", "role": "leader"}
    listed = json.loads(_cli("users", "list", "--json").stdout)
    assert listed == [{"email": "lee@example.com", "name": "lee@example.com", "role": "leader",
                       "changed_by": "ops@example.com"}]  # fmt: skip
    for args, message in (
        (("users", "grant", "lee@example.com", "boss"), "unknown role"),
        (("users", "grant", "lee(at)example.com", "agent"), "not an e-mail"),
        (("users", "revoke", "nobody@example.com"), "nobody"),
        (("users", "grant"), "name the person"),
    ):
        result = _cli(*args)
        assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr
    assert _cli("users", "revoke", "lee@example.com").returncode == 0


def test_only_admins_change_the_knowledge_base(sessions, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    from improvement.wiring import make_backend

    monkeypatch.setenv("BACKLOG_STARTER_KNOWLEDGE", "false")
    knowledge = make_backend().knowledge
    note = b"# Call them first\n\nTell customers about a late parcel before they ask."
    with pytest.raises(Forbidden, match="may not manage"):
        knowledge.ingest_upload("note.md", note, actor=OWNER)
    added = knowledge.ingest_upload("note.md", note, actor=ADMIN)
    with pytest.raises(Forbidden):
        knowledge.remove(added.source, actor=AGENT)
    with pytest.raises(Forbidden):
        knowledge.reload_starter_knowledge(actor=VIEWER)
    assert [d.source for d in knowledge.documents()] == [added.source]
    assert knowledge.remove(added.source, actor=ADMIN)


def test_the_owner_picker_lists_people_who_may_own_items(people: People) -> None:
    people.sign_in("ada@example.com", "Ada Admin")
    people.grant(ADMIN, "omar@example.com", "owner")
    people.grant(ADMIN, "ana@example.com", "agent")
    assert people.owners() == ["Ada Admin <ada@example.com>", "omar@example.com"]


def test_review_settings_need_a_leader(sessions) -> None:  # type: ignore[no-untyped-def]
    from improvement.review import set_target, set_weights

    shares = {"kaizen": 60, "kaikaku": 25, "kakushin": 15}
    with pytest.raises(Forbidden, match="may not change review settings"):
        set_target(sessions, "2026-Q4", "items", shares, actor=OWNER)
    with pytest.raises(Forbidden):
        set_weights(sessions, "kakushin", {"reach": 2}, actor=AGENT)
    leader = Actor("Lee Leader", "lee@example.com", Role.LEADER)
    assert set_target(sessions, "2026-Q4", "items", shares, actor=leader).set_by == "Lee Leader <lee@example.com>"
