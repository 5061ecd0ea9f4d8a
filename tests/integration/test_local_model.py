"""The real local model: llama.cpp's server in a supervised child process, never in ours.

These tests start the packaged SmolLM2 GGUF through xllamacpp and kill or freeze the child in the
middle of an answer: the asker gets the retrieval-and-playbook answer with a notice, the next question
starts a new child, and this (the "web server") process keeps running.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from assistant.chain import AnswerStream, Assistant
from assistant.local_server import ServerConfig, server_for
from assistant.models import LocalModel, ModelUnavailable, load_chat_model, packaged_model_path
from improvement.wiring import make_backend

pytestmark = pytest.mark.llm

QUESTION = "How should leaders use customer stories when they report problems?"


@pytest.fixture
def local_assistant(tmp_path: Path):  # type: ignore[no-untyped-def]
    backend = make_backend()
    local = LocalModel(log_path=tmp_path / "model.log")
    assistant = Assistant(backend.knowledge, backend.playbook, llm_spec="local", timeout=20, local=local)
    yield assistant, server_for(ServerConfig(model_path=packaged_model_path(), log_path=local.log_path))
    server_for(ServerConfig(model_path=packaged_model_path(), log_path=local.log_path)).stop()


def _act_when_streaming(assistant: Assistant, action) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    """Stream one answer; after its first token, run ``action`` (kill or freeze the model)."""
    prepared = assistant.prepare(QUESTION)
    pieces: list[str] = []
    try:
        for piece in assistant.stream_text(prepared):
            if not pieces:
                action()
            pieces.append(piece)
    except ModelUnavailable as error:
        return "".join(pieces), str(error)
    return "".join(pieces), ""


def test_the_model_runs_in_a_child_process_and_answers(local_assistant) -> None:  # type: ignore[no-untyped-def]
    assistant, server = local_assistant
    answer = assistant.ask(QUESTION)
    assert server.pid is not None and server.pid != os.getpid()
    assert not answer.notice and answer.citations and len(answer.answer) > 20
    assert answer.model.startswith("SmolLM2-135M-Instruct") and "local" in answer.model


def test_killing_the_model_mid_answer_gives_a_notice_and_the_next_question_restarts_it(local_assistant) -> None:  # type: ignore[no-untyped-def]
    assistant, server = local_assistant

    def kill() -> None:
        assert server.pid is not None
        os.kill(server.pid, signal.SIGKILL)

    partial, notice = _act_when_streaming(assistant, kill)
    assert notice and "unavailable" in notice  # this process is alive and was told
    prepared = assistant.prepare(QUESTION)
    answer = assistant.finish(prepared, partial, notice=notice)
    assert answer.citations and answer.model.startswith("none (") and answer.grounding == "retrieval"
    assert answer.answer == assistant.retrieval_only_answer(prepared)  # the cut-off words are not shown

    first_pid_starts = server.starts
    again = assistant.ask(QUESTION)
    assert not again.notice and server.starts == first_pid_starts + 1 and server.pid is not None


def test_a_frozen_model_times_out_and_is_replaced(local_assistant) -> None:  # type: ignore[no-untyped-def]
    assistant, server = local_assistant
    assistant._timeout = 3  # a frozen child never answers; the asker waits 3 s, not forever
    frozen: list[int] = []

    def freeze() -> None:
        assert server.pid is not None
        frozen.append(server.pid)
        os.kill(server.pid, signal.SIGSTOP)

    _, notice = _act_when_streaming(assistant, freeze)
    assert notice
    assistant._timeout = 60
    answer = assistant.ask(QUESTION)  # the health check finds the frozen child, kills it, starts another
    assert not answer.notice and server.pid not in frozen


def test_two_sessions_share_one_model_server(local_assistant) -> None:  # type: ignore[no-untyped-def]
    assistant, server = local_assistant
    answers: list[object] = []
    threads = [threading.Thread(target=lambda: answers.append(assistant.ask(QUESTION))) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert len(answers) == 2 and server.starts == 1


def test_a_missing_model_file_is_a_clear_notice(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable, match="BACKLOG_LOCAL_MODEL does not name a file"):
        load_chat_model("local", local=LocalModel(path=tmp_path / "nope.gguf"))
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF" + b"\0" * 64)
    with pytest.raises(ModelUnavailable, match="could not start"):
        load_chat_model("local", local=LocalModel(path=bad, log_path=tmp_path / "m.log"))


def test_bring_your_own_gguf_is_named_in_the_answer(tmp_path: Path) -> None:
    own = tmp_path / "our-team-model.gguf"
    own.symlink_to(packaged_model_path())  # any GGUF instruct model; the packaged one stands in
    env = {**os.environ, "BACKLOG_LLM": "local", "BACKLOG_LOCAL_MODEL": str(own)}
    result = subprocess.run(
        [sys.executable, "-m", "improvement", "ask", QUESTION, "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["model"].startswith("our-team-model (local") and data["citations"]


def test_backlog_ask_prints_each_piece_as_the_model_writes_it(capsys: pytest.CaptureFixture[str]) -> None:
    from improvement.cli import _stream_answer

    seen_before_next: list[str] = []

    class SlowModelAssistant:
        """The real Assistant's prepare/finish, with a stream that checks what was printed so far."""

        def __init__(self) -> None:
            self.inner = Assistant(make_backend().knowledge, make_backend().playbook, llm_spec="none")

        def prepare(self, question, problem, kind=None):  # type: ignore[no-untyped-def]
            return self.inner.prepare(question, problem, kind)

        def stream_text(self, prepared):  # type: ignore[no-untyped-def]
            for piece in ("Tell it ", "as a story ", "[1]."):
                yield piece
                seen_before_next.append(capsys.readouterr().out)

        def finish(self, prepared, text, notice=""):  # type: ignore[no-untyped-def]
            return self.inner.finish(prepared, text, notice)

        def answer_stream(self, question, problem, kind=None):  # type: ignore[no-untyped-def]
            return AnswerStream(self, self.prepare(question, problem, kind))

    answer = _stream_answer(SlowModelAssistant(), QUESTION, None)
    assert seen_before_next[:2] == ["Tell it ", "as a story "]  # printed before the model wrote on
    assert answer.answer == "Tell it as a story [1]."
