"""The same knowledge base and similar-problem index against a Chroma server (`chroma run`) on loopback."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from improvement.settings import get_settings
from improvement.wiring import make_backend
from tests.conftest import free_port, wait_for_port


@pytest.fixture
def chroma_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    port = free_port()
    chroma = shutil.which("chroma") or str(Path(sys.executable).with_name("chroma"))
    process = subprocess.Popen(
        [chroma, "run", "--path", str(tmp_path / "server"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for_port(port, timeout=60)
    monkeypatch.setenv("BACKLOG_CHROMA_HOST", "127.0.0.1")
    monkeypatch.setenv("BACKLOG_CHROMA_PORT", str(port))
    get_settings.cache_clear()
    try:
        yield port
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_knowledge_and_similar_problems_on_a_chroma_server(chroma_server: int, tmp_path: Path) -> None:
    backend = make_backend()
    assert "Chroma server" in backend.describe()["knowledge"]
    hits = backend.knowledge.search("report in money, account value at risk", k=3)
    assert hits and hits[0].source.startswith("02-eight-questions")
    assert not (tmp_path / "data" / "chroma").exists()  # nothing went to the embedded store
    service = backend.backlog()
    first = service.log_problem({"description": "Parcel cards don't say which depot holds the parcel"}, actor="t")
    second = service.log_problem({"description": "The missed-delivery card has no depot address"}, actor="t")
    assert [s.problem_id for s in second.similar] == [first.problem_id]
