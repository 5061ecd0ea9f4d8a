"""Browser tests start the app in a child process that shares the test session's model cache."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session", autouse=True)
def _models_fitted_before_any_app_starts(offline_classifier: object, classifier_cache: Path) -> None:
    """Fit the classifier and the playbook's ranking once, in this process, into the shared cache: an app started
    by a test then loads them in seconds instead of fitting them (a minute or more) while a browser waits."""
    from assistant.playbook import Playbook

    Playbook.load(classifier_cache)
