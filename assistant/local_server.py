"""The bundled local model, served out of the web server's process.

llama.cpp is native code: a crash in it would end the process it runs in. So the model never runs in
the Streamlit (or CLI) process. ``LocalModelServer`` starts llama.cpp's own OpenAI-compatible server
(from the prebuilt ``xllamacpp`` wheel) as a child process on loopback, once and only when the first
question needs it, and the assistant talks to it through the same client as ``openai:<model>``. If the
child dies or stops answering, the question in flight gets the retrieval-and-playbook answer and the
next question starts a fresh child; other sessions only ever see a slower answer.

Run as a program (``python -m assistant.local_server MODEL.gguf``) this module *is* the child: it
starts the server, prints ``READY <url>`` and serves until its standard input closes, which happens
when the parent exits for any reason, so no model server outlives the app.
"""

from __future__ import annotations

import argparse
import atexit
import logging
import os
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import IO

log = logging.getLogger(__name__)

READY = "READY "


class LocalServerError(RuntimeError):
    """The local model server could not be started or reached."""


@dataclass(frozen=True)
class ServerConfig:
    model_path: Path
    threads: int = 1
    context: int = 2048
    start_timeout: float = 60.0
    log_path: Path | None = None


class LocalModelServer:
    """One supervised llama.cpp server child for one model file. Thread-safe."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._process: subprocess.Popen[str] | None = None
        self._url = ""
        self.starts = 0  # how many children this supervisor has started (restarts show up here)

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process and self._process.poll() is None else None

    def url(self) -> str:
        """The base URL of a live, healthy server, starting (or restarting) one if needed."""
        with self._lock:
            if self._process is not None and self._process.poll() is None and _healthy(self._url):
                return self._url
            if self._process is not None:
                log.warning("local model server (pid %s) is down or not answering; restarting it", self._process.pid)
            self._stop_locked()
            self._start_locked()
            return self._url

    def stop(self) -> None:
        with self._lock:
            self._stop_locked()

    def _start_locked(self) -> None:
        config = self.config
        if not config.model_path.is_file():
            raise LocalServerError(f"the model file does not exist: {config.model_path}")
        stderr: IO[str] | int = subprocess.DEVNULL
        if config.log_path is not None:
            config.log_path.parent.mkdir(parents=True, exist_ok=True)
            stderr = open(config.log_path, "a", encoding="utf-8")  # noqa: SIM115 (handed to the child)
        command = [
            sys.executable,
            "-m",
            "assistant.local_server",
            str(config.model_path),
            "--threads",
            str(config.threads),
            "--context",
            str(config.context),
        ]
        try:
            process = subprocess.Popen(  # noqa: S603 (our own interpreter and module)
                command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                # Its own process group: a Ctrl-C in a terminal running the app reaches the app, which then
                # closes the child's stdin; the child never sees a half-handled signal mid-write.
                start_new_session=True,
            )
        finally:
            if not isinstance(stderr, int):
                stderr.close()
        self.starts += 1
        url = _wait_for_ready(process, config.start_timeout)
        if not url:
            exited = process.poll() is not None
            process.kill()
            process.wait(timeout=5)
            why = (
                f"exited with code {process.returncode} before it was ready"
                if exited
                else f"did not start within {config.start_timeout:.0f} s"
            )
            raise LocalServerError(f"the local model server {why}; see {config.log_path or 'its log'}")
        self._process, self._url = process, url
        log.info("local model server pid %s serving %s at %s", process.pid, config.model_path.name, url)

    def _stop_locked(self) -> None:
        process, self._process, self._url = self._process, None, ""
        if process is None:
            return
        if process.poll() is None:
            process.kill()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover - a kill that does not land in 10 s
            log.error("local model server pid %s ignored SIGKILL", process.pid)
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                stream.close()


def _wait_for_ready(process: subprocess.Popen[str], timeout: float) -> str:
    """The URL the child announces, or '' if it exits or stays silent for ``timeout`` seconds."""
    result: list[str] = []

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith(READY):
                result.append(line[len(READY) :].strip())
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout)
    return result[0] if result and _healthy(result[0], timeout=5) else ""


def _healthy(url: str, timeout: float = 2.0) -> bool:
    if not url:
        return False
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=timeout) as response:  # noqa: S310 (loopback)
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


_SERVERS: dict[ServerConfig, LocalModelServer] = {}
_SERVERS_LOCK = threading.Lock()


def server_for(config: ServerConfig) -> LocalModelServer:
    """The process-wide supervisor for this configuration (one child per model, shared by all sessions)."""
    with _SERVERS_LOCK:
        server = _SERVERS.get(config)
        if server is None:
            server = _SERVERS[config] = LocalModelServer(config)
        return server


@atexit.register
def _stop_all() -> None:
    for server in list(_SERVERS.values()):
        server.stop()


def _serve(argv: list[str] | None = None) -> int:
    """The child: start llama.cpp's server on a free loopback port and serve until stdin closes."""
    parser = argparse.ArgumentParser(prog="python -m assistant.local_server")
    parser.add_argument("model", type=Path)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--context", type=int, default=2048)
    args = parser.parse_args(argv)

    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = str(args.model)
    params.hostnames = ["127.0.0.1"]
    params.port = 0  # the system picks a free port; the server reports it
    params.n_ctx = args.context
    params.n_parallel = 1
    params.cpuparams.n_threads = args.threads
    params.cpuparams_batch.n_threads = args.threads
    server = xllamacpp.Server(params)
    print(f"{READY}{server.listening_address}", flush=True)
    # Serve until the parent closes our stdin (it exited, crashed or stopped us).
    sys.stdin.read()
    os._exit(0)  # skip interpreter teardown of native threads that are still serving


if __name__ == "__main__":
    sys.exit(_serve())
