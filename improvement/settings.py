"""The one settings object. Every value comes from ``BACKLOG_*`` environment variables or a ``.env`` file."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from platformdirs import user_data_dir
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

LLM_PROVIDERS = ("local", "ollama", "openai", "none")


def _default_data_dir() -> Path:
    return Path(user_data_dir("improvement-backlog", appauthor=False))


class Settings(BaseSettings):
    """Typed configuration; build it with :func:`get_settings`, never at import time."""

    model_config = SettingsConfigDict(env_prefix="BACKLOG_", env_file=".env", extra="ignore")

    data_dir: Path = Field(default_factory=_default_data_dir)
    database_url: str | None = None
    chroma_host: str | None = None
    chroma_port: int = 8000
    starter_knowledge: bool = True
    llm: str = "local"
    llm_timeout_seconds: float = 60.0
    local_model: Path | None = Field(
        default=None, description="A GGUF instruct model for BACKLOG_LLM=local; default: the packaged SmolLM2"
    )
    local_threads: int = Field(
        default=1, ge=1, le=64, description="CPU threads for the local model (1 is fastest on 2 cores: BENCHMARKS.md)"
    )
    classifier_cache: Path | None = Field(
        default=None, description="Where the fitted classifier is cached; default: <data dir>/cache"
    )
    review_threshold: float | None = Field(
        default=None, description="Confidence below which an item needs review; default: chosen on held-out data"
    )

    @field_validator("llm")
    @classmethod
    def _known_provider(cls, value: str) -> str:
        provider = value.split(":", 1)[0].strip().lower()
        if provider not in LLM_PROVIDERS:
            raise ValueError(f"BACKLOG_LLM must be one of local, ollama:<model>, openai:<model>, none; got {value!r}")
        if provider in ("ollama", "openai") and not value.split(":", 1)[1:]:
            raise ValueError(f"BACKLOG_LLM={value!r} needs a model name, e.g. {provider}:llama3.1")
        return value.strip()

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'backlog.db'}"

    @property
    def chroma_path(self) -> Path:
        return self.data_dir / "chroma"

    @property
    def cache_dir(self) -> Path:
        return self.data_dir / "cache"

    @property
    def models_dir(self) -> Path:
        """The classifier's model versions (``backlog retrain``): state to keep, unlike the cache."""
        return self.data_dir / "models"

    @property
    def classifier_cache_dir(self) -> Path:
        return self.classifier_cache or self.cache_dir

    def ensure_dirs(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.cache_dir.mkdir(parents=True, exist_ok=True)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
