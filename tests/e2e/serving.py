"""What the browser tests share: Debian's chromium, and `streamlit run` of the app on a loopback port."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from tests.conftest import free_port, wait_for_port

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def app_env(data_dir: Path, **extra_env: str) -> dict[str, str]:
    """The environment of the app and of `backlog` commands run beside it: one data folder."""
    return {**os.environ, "BACKLOG_DATA_DIR": str(data_dir), **extra_env}


def backlog(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "improvement", *args], env=env, capture_output=True, text=True, timeout=timeout
    )


@contextmanager
def serve(
    env: dict[str, str],
    *,
    flags: Sequence[str] = (),
    port: int | None = None,
    wait_for: Sequence[int] = (),
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`streamlit run streamlit_app.py` with ``env`` and any extra ``flags`` (``--secrets.files ...``), from the
    project folder, so on the project's own config (.streamlit/config.toml: loopback only, no usage statistics,
    no error details); yields its URL and process, and stops it afterwards.
    ``port``: when the caller must know it first (a sign-in redirect URI); ``wait_for``: other servers' ports."""
    port = port or free_port()
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(ROOT / "streamlit_app.py"),
        "--server.headless",
        "true",
        "--server.port",
        str(port),
        *flags,
    ]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    try:
        for other in wait_for:
            wait_for_port(other)
        wait_for_port(port)
        yield f"http://127.0.0.1:{port}", process
    finally:
        process.terminate()
        process.wait(timeout=30)
