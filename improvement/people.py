"""People and roles: signing in, granting and revoking roles (admins only), never losing the last admin."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from db.models import Person
from db.transactions import run_in_transaction
from improvement import domain
from improvement.access import Action, Actor, Forbidden, Role, as_actor, parse_email, parse_role
from improvement.domain import DomainError, NotFound


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class PersonView:
    email: str
    name: str
    role: str | None  # None: access revoked
    role_changed_by: str
    role_changed_at: datetime
    last_seen_at: datetime | None


def _view(row: Person) -> PersonView:
    return PersonView(
        email=row.email,
        name=row.name,
        role=row.role,
        role_changed_by=row.role_changed_by,
        role_changed_at=row.role_changed_at,
        last_seen_at=row.last_seen_at,
    )


class AccessRevoked(Forbidden):
    pass


class People:
    def __init__(self, sessions: sessionmaker[Session], *, admins: set[str], default_role: Role) -> None:
        self._sessions = sessions
        self._admins = {a.lower() for a in admins}
        self._default_role = default_role

    def sign_in(self, email: str, name: str = "") -> Actor:
        """The identity provider vouched for ``email``: the person's role, created on their first sign-in."""
        address = parse_email(email)
        display = domain.clean_text(name, field="name", required=False, limit=domain.MAX_SHORT) or address
        now = utcnow()

        def work(session: Session) -> Actor:
            row = session.get(Person, address)
            if row is None:
                first_role = Role.ADMIN if address in self._admins else self._default_role
                row = Person(
                    email=address,
                    name=display,
                    role=first_role.value,
                    role_changed_by="first sign-in" + (" (BACKLOG_ADMINS)" if first_role is Role.ADMIN else ""),
                    role_changed_at=now,
                    created_at=now,
                )
                session.add(row)
            row.name = display
            row.last_seen_at = now
            if row.role is None:
                raise AccessRevoked(f"{address} has no access to this backlog any more; ask an admin", field="role")
            return Actor(name=display, email=address, role=parse_role(row.role))

        return run_in_transaction(self._sessions, work)

    def everyone(self) -> list[PersonView]:
        with self._sessions() as session:
            return [_view(p) for p in session.scalars(select(Person).order_by(Person.email))]

    def grant(self, actor: Actor | str, email: str, role: str) -> PersonView:
        """Give ``email`` a role (a person not seen yet is added, so a team can be set up in advance)."""
        label = as_actor(actor).require(Action.ADMINISTER)
        address = parse_email(email)
        new_role = parse_role(role)

        def work(session: Session) -> PersonView:
            row = session.get(Person, address)
            if row is None:
                row = Person(email=address, name=address, created_at=utcnow())
                session.add(row)
            elif row.role == Role.ADMIN.value and new_role is not Role.ADMIN:
                self._keep_an_admin(session, address)
            row.role = new_role.value
            row.role_changed_by = label
            row.role_changed_at = utcnow()
            session.flush()
            return _view(row)

        return run_in_transaction(self._sessions, work)

    def revoke(self, actor: Actor | str, email: str) -> PersonView:
        label = as_actor(actor).require(Action.ADMINISTER)
        address = parse_email(email)

        def work(session: Session) -> PersonView:
            row = session.get(Person, address)
            if row is None:
                raise NotFound(f"nobody with the e-mail {address} has signed in or been granted a role", field="email")
            if row.role == Role.ADMIN.value:
                self._keep_an_admin(session, address)
            row.role = None
            row.role_changed_by = label
            row.role_changed_at = utcnow()
            session.flush()
            return _view(row)

        return run_in_transaction(self._sessions, work)

    @staticmethod
    def _keep_an_admin(session: Session, leaving: str) -> None:
        others = session.scalar(
            select(func.count()).select_from(Person).where(Person.role == Role.ADMIN.value, Person.email != leaving)
        )
        if not others:
            raise DomainError(
                f"{leaving} is the last admin: grant someone else admin first, so the backlog keeps one",
                field="role",
            )

    def owners(self) -> list[str]:
        """Who can own an item (the owner picker): everyone with the owner role or above, labelled as the
        history labels them ("Name <email>"), so an owner's e-mail reaches them."""
        eligible = [r.value for r in Role if r.rank >= Role.OWNER.rank]
        with self._sessions() as session:
            rows = session.scalars(select(Person).where(Person.role.in_(eligible)).order_by(Person.name))
            return [Actor(name=p.name, email=p.email).label for p in rows]
