"""Ingestion reads only what it was given, keys documents by path, survives bad files, and can be rebuilt.

Runs on SQLite and PostgreSQL (the document registry is in SQL; chunks in an embedded Chroma folder).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from improvement.wiring import make_backend

PARAGRAPH = "Leaders who pre-empt problems call customers before they call us, and fix the cause for everyone. "


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "improvement", *args], capture_output=True, text=True, timeout=300, env=dict(os.environ)
    )


def article(title: str, words: str = "") -> str:
    return f"# {title}\n\n{PARAGRAPH * 3}{words}\n"


def decompression_bomb() -> bytes:
    """A valid one-page PDF whose content stream inflates to 100 MB from about 100 KB."""
    packer = zlib.compressobj(9)
    block = b" " * (1 << 20)
    stream = b"".join(packer.compress(block) for _ in range(100)) + packer.flush()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << >> /Contents 4 0 R >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(stream) + stream + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


@pytest.fixture
def knowledge(sessions, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("BACKLOG_STARTER_KNOWLEDGE", "false")
    from improvement.settings import get_settings

    get_settings.cache_clear()
    return make_backend().knowledge


def test_only_regular_files_inside_the_folder_are_read(knowledge, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "shadow.md").write_text("root:$6$SECRETHASHVALUE:19000:0:99999:7:::\n" * 5)
    kb = tmp_path / "kb"
    (kb / "sub").mkdir(parents=True)
    (kb / "normal.md").write_text(article("Top-level note", "alpha"))
    (kb / "sub" / "normal.md").write_text(article("Nested note", "beta"))
    (kb / "passwords.md").symlink_to(outside / "shadow.md")
    (kb / "elsewhere").symlink_to(outside, target_is_directory=True)
    os.mkfifo(kb / "pipe.md")  # reading it would block forever

    report = knowledge.ingest_paths([kb])

    assert report.documents == 2 and report.replaced == []
    assert {d.source for d in knowledge.documents()} == {"kb/normal.md", "kb/sub/normal.md"}
    failed = {Path(f["path"]).name: f["error"] for f in report.failed}
    assert set(failed) == {"passwords.md", "elsewhere", "pipe.md"}, failed
    assert "symbolic link" in failed["passwords.md"] and "regular file" in failed["pipe.md"]
    assert not any("SECRETHASH" in hit.text for hit in knowledge.search("root SECRETHASHVALUE", k=10))

    again = knowledge.ingest_paths([kb])  # re-ingesting replaces, says so, and never duplicates
    assert again.documents == 2 and sorted(again.replaced) == ["kb/normal.md", "kb/sub/normal.md"]
    assert len(knowledge.documents()) == 2


def test_an_upload_never_replaces_a_starter_note(sessions, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    knowledge = make_backend().knowledge
    knowledge.ensure_starter_knowledge()
    starters = {d.source for d in knowledge.documents()}
    name = sorted(starters)[0]
    first = knowledge.ingest_upload(name, article("My own note with a starter's file name").encode())
    assert first.source == f"uploads/{name}" and not first.replaced
    documents = {d.source: d for d in knowledge.documents()}
    assert len(documents) == len(starters) + 1 and documents[name].starter
    assert knowledge.ingest_upload(name, article("Second version").encode()).replaced
    assert len(knowledge.documents()) == len(starters) + 1


def test_one_bad_file_is_reported_and_the_rest_are_ingested(
    knowledge,  # type: ignore[no-untyped-def]
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import trafilatura

    def missing_cleaner(*args: object, **kwargs: object) -> str:
        raise ImportError("lxml.html.clean module is now a separate project lxml_html_clean")

    monkeypatch.setattr(trafilatura, "extract", missing_cleaner)  # an install without lxml-html-clean
    kb = tmp_path / "mixed"
    kb.mkdir()
    (kb / "a-first.md").write_text(article("First"))
    (kb / "b-page.html").write_text(f"<html><body><article><p>{PARAGRAPH * 3}</p></article></body></html>")
    (kb / "c-bomb.pdf").write_bytes(decompression_bomb())
    (kb / "d-last.md").write_text(article("Last"))

    report = knowledge.ingest_paths([kb])

    assert report.documents == 2
    assert {d.source for d in knowledge.documents()} == {"mixed/a-first.md", "mixed/d-last.md"}
    failed = {Path(f["path"]).name: f["error"] for f in report.failed}
    assert set(failed) == {"b-page.html", "c-bomb.pdf"}
    assert "lxml" in failed["b-page.html"] and "decompression bomb" in failed["c-bomb.pdf"]


def test_html_is_read_on_this_install(knowledge, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    page = tmp_path / "page.html"
    page.write_text(
        f"<html><head><title>A page</title></head><body><article><p>{PARAGRAPH * 4}</p></article></body></html>"
    )
    report = knowledge.ingest_paths([page])
    assert report.documents == 1 and not report.failed


def test_repair_rebuilds_the_knowledge_base_when_the_chroma_folder_is_gone(
    knowledge,  # type: ignore[no-untyped-def]
    tmp_path: Path,
) -> None:
    kb = tmp_path / "kb"
    kb.mkdir()
    for i in range(3):
        (kb / f"note-{i}.md").write_text(article(f"Note {i}", f"marker{i}"))
    assert knowledge.ingest_paths([kb]).documents == 3
    knowledge.ingest_upload("uploaded.md", article("Uploaded note", "zebracrossing").encode())
    shutil.rmtree(tmp_path / "kb")  # the source files are gone too: only the kept originals remain
    shutil.rmtree(make_backend().settings.chroma_path)

    before = json.loads(_cli("doctor", "--json").stdout)
    assert not before["ok"] and len(before["documents_with_wrong_chunk_count"]) == 4
    repaired = json.loads(_cli("doctor", "--repair", "--json").stdout)
    assert sorted(repaired["repaired"]["documents_reindexed"]) == [
        "kb/note-0.md",
        "kb/note-1.md",
        "kb/note-2.md",
        "uploads/uploaded.md",
    ]
    assert repaired["repaired"]["documents_not_rebuilt"] == []
    assert json.loads(_cli("doctor", "--json").stdout)["ok"]
    assert len(make_backend().knowledge.documents()) == 4
    hits = json.loads(_cli("search", "zebracrossing", "--json").stdout)
    assert hits and hits[0]["source"] == "uploads/uploaded.md"


def test_repair_keeps_a_document_it_cannot_rebuild(knowledge, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    note = tmp_path / "lonely.md"
    note.write_text(article("Lonely note"))
    knowledge.ingest_paths([note])
    shutil.rmtree(make_backend().settings.data_dir / "originals")
    shutil.rmtree(make_backend().settings.chroma_path)
    repaired = json.loads(_cli("doctor", "--repair", "--json").stdout)
    assert repaired["repaired"]["documents_not_rebuilt"] == ["lonely.md"]
    assert [d.source for d in make_backend().knowledge.documents()] == ["lonely.md"]  # never deleted


def test_a_running_app_sees_what_the_cli_ingests_without_a_restart(knowledge, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The app's knowledge base (one process, its vector index in memory) and `backlog ingest` in another
    process: the next search finds the new document by meaning, a replaced one by its new text, and a
    document removed elsewhere is gone."""
    first = tmp_path / "first.md"
    first.write_text(article("Proactive calls", "Call the customer before they call you."))
    knowledge.ingest_paths([first])
    assert knowledge.search("call customers before they call", k=1)[0].source == "first.md"  # index loaded

    zebra = tmp_path / "zebra.md"
    zebra.write_text("# Crossings\n\nThe lollipop warden at the zebra crossing helps children cross every morning.\n")
    assert _cli("ingest", str(zebra)).returncode == 0  # another process
    hits = knowledge.search("a school crossing guard", k=2)  # no word in common: only the vectors find it
    assert hits and hits[0].source == "zebra.md" and hits[0].similarity > 0.3, hits
    assert {d.source for d in knowledge.documents()} == {"first.md", "zebra.md"}

    zebra.write_text("# Crossings\n\nThe platypus keeper feeds the wombat at the petting zoo every afternoon.\n")
    assert json.loads(_cli("ingest", str(zebra), "--json").stdout)["replaced"] == ["zebra.md"]
    hits = knowledge.search("platypus wombat petting zoo", k=1)
    assert hits[0].source == "zebra.md" and "platypus" in hits[0].text and hits[0].similarity > 0.3
    assert all("lollipop" not in h.text for h in knowledge.search("lollipop warden zebra crossing", k=5))
