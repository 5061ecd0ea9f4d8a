"""Who may do what: roles, the actions they allow, and the acting identity every use case receives.

Pure Python (no framework): the use cases check permissions here, so a page that forgets to hide a
button, or a script that calls a service directly, is still refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from improvement.domain import DomainError

EMAIL = re.compile(r"^[^@\s<>\"',;]+@[^@\s<>\"',;]+\.[A-Za-z]{2,}$")


class Role(StrEnum):
    VIEWER = "viewer"
    AGENT = "agent"
    OWNER = "owner"
    LEADER = "leader"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return list(Role).index(self)


class Action(StrEnum):
    READ = "read"  # see the backlog, the review, ask the assistant
    LOG = "log"  # log problems, add reports, keep the suggestions chosen for one's problem
    TRIAGE = "triage"  # edit items, move statuses, decide kinds, merge, bulk change, import
    LEAD = "lead"  # review settings such as the quarter's target mix
    ADMINISTER = "administer"  # people and roles, the knowledge base, backup and restore, retraining


# The least role each action needs; every role can do what the roles below it can.
NEEDS: dict[Action, Role] = {
    Action.READ: Role.VIEWER,
    Action.LOG: Role.AGENT,
    Action.TRIAGE: Role.OWNER,
    Action.LEAD: Role.LEADER,
    Action.ADMINISTER: Role.ADMIN,
}

WHAT = {
    Action.READ: "read the backlog",
    Action.LOG: "log problems",
    Action.TRIAGE: "change backlog items",
    Action.LEAD: "change review settings",
    Action.ADMINISTER: "manage people, knowledge and backups",
}


class Forbidden(DomainError):
    """The acting person's role does not allow the action: nothing was changed."""


def parse_role(value: object) -> Role:
    text = str(value or "").strip().lower()
    try:
        return Role(text)
    except ValueError:
        raise DomainError(
            f"unknown role {str(value)!r}: use one of {', '.join(r.value for r in Role)}", field="role"
        ) from None


def parse_email(value: object) -> str:
    text = str(value or "").strip().lower()
    if len(text) > 320 or not EMAIL.match(text):
        raise DomainError(f"{str(value)[:80]!r} is not an e-mail address", field="email")
    return text


@dataclass(frozen=True)
class Actor:
    """The person (or tool) making a change, as the history records them."""

    name: str
    email: str | None = None
    role: Role = Role.ADMIN

    @classmethod
    def local(cls, name: str) -> Actor:
        """One person on their own machine, or the CLI: direct access to the database, so every right."""
        return cls(name=name.strip() or "local", email=None, role=Role.ADMIN)

    @property
    def label(self) -> str:
        """What the history shows: the name and, for a signed-in person, the e-mail address."""
        if self.email and self.name and self.name.lower() != self.email:
            return f"{self.name} <{self.email}>"[:200]
        return (self.email or self.name or "anonymous")[:200]

    def __str__(self) -> str:
        return self.label

    def can(self, action: Action) -> bool:
        return self.role.rank >= NEEDS[action].rank

    def require(self, action: Action) -> str:
        """The history label if the role allows ``action``; :class:`Forbidden` otherwise."""
        if not self.can(action):
            raise Forbidden(
                f"{self.label} is a {self.role.value} and may not {WHAT[action]} "
                f"(needs {NEEDS[action].value} or above); ask an admin for a role",
                field="role",
            )
        return self.label


def as_actor(actor: Actor | str) -> Actor:
    """A plain name is the CLI's ``BACKLOG_USER`` or the single person of local mode (no sign-in)."""
    return actor if isinstance(actor, Actor) else Actor.local(actor)
