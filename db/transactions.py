"""Write transactions that survive the database breaking a deadlock.

PostgreSQL aborts one of two transactions that wait on each other's row locks (SQLSTATE 40P01), and
refuses a serializable transaction that lost a race (40001); two writers bulk-editing different items
can meet on the same rollup rows in opposite orders. SQLite can stay busy past its timeout. In each
case nothing was written, so the whole transaction runs again after a short random pause.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

T = TypeVar("T")
log = logging.getLogger(__name__)
RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})
ATTEMPTS = 5


def is_transient(error: BaseException) -> bool:
    """True when the database gave up on the transaction for a reason that trying again can fix."""
    if not isinstance(error, DBAPIError):
        return False
    if getattr(error.orig, "sqlstate", None) in RETRYABLE_SQLSTATES:
        return True
    return isinstance(error, OperationalError) and "database is locked" in str(error.orig)


def run_in_transaction(sessions: sessionmaker[Session], work: Callable[[Session], T]) -> T:
    """Run ``work`` in one transaction, again (up to five times in all) if the database aborted it.

    ``work`` must be safe to repeat: it should only touch the session, or reset what it collects.
    """
    # Imported here: only writers pay for it, not `backlog list`.
    from tenacity import Retrying, before_sleep_log, retry_if_exception, stop_after_attempt, wait_random_exponential

    retrying = Retrying(
        retry=retry_if_exception(is_transient),
        stop=stop_after_attempt(ATTEMPTS),
        wait=wait_random_exponential(multiplier=0.05, max=1.0),
        before_sleep=before_sleep_log(log, logging.INFO),
        reraise=True,
    )
    for attempt in retrying:
        with attempt, sessions.begin() as session:
            return work(session)
    raise AssertionError("unreachable: tenacity either returns or re-raises")
