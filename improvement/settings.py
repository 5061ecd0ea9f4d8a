"""The one settings object. Every value comes from ``BACKLOG_*`` environment variables or a ``.env`` file."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from platformdirs import user_data_dir
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

LLM_PROVIDERS = ("local", "ollama", "openai", "none")


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


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
    warm_up: bool = Field(
        default=True,
        description="load the models, the playbook's ranking and the knowledge base in the background when the "
        "app starts, instead of on the first page that needs them",
    )
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

    # Sign-in: `none` is one person on their own machine; `oidc` is Streamlit's st.login (secrets.toml [auth]).
    auth: str = Field(default="none", description="none (local mode, no sign-in) or oidc")
    admins: str = Field(default="", description="Comma-separated e-mails of the first admins (BACKLOG_AUTH=oidc)")
    default_role: str = Field(default="agent", description="The role of a person signing in for the first time")
    user: str | None = Field(default=None, description="Who the CLI (and local mode) records in the history")

    # Closing the loop (events, webhooks, notifications): all off until configured.
    webhook_urls: str = Field(default="", description="Comma-separated URLs that receive every event as JSON")
    webhook_secret: str = Field(default="", description="The HMAC-SHA256 key that signs webhook bodies")
    notify_urls: str = Field(default="", description="Comma-separated Apprise URLs of team channels")
    mail_url: str = Field(default="", description="An Apprise mailto:// or mailtos:// URL for e-mail to people")
    triage_hours: float = Field(default=48.0, gt=0, description="An item untriaged for longer is flagged")
    base_url: str = Field(default="http://localhost:8501", description="Where people open the app (for links)")
    import_batch_rows: int = Field(
        default=2000, ge=1, le=200_000, description="Rows written per transaction by an import (others write between)"
    )
    delivery_attempts: int = Field(default=8, ge=1, le=50, description="Tries before an event's delivery fails")

    @field_validator("auth")
    @classmethod
    def _known_auth(cls, value: str) -> str:
        if value.strip().lower() not in ("none", "oidc"):
            raise ValueError(f"BACKLOG_AUTH must be none or oidc; got {value!r}")
        return value.strip().lower()

    @field_validator("default_role")
    @classmethod
    def _known_role(cls, value: str) -> str:
        roles = ("viewer", "agent", "owner", "leader", "admin")
        if value.strip().lower() not in roles:
            raise ValueError(f"BACKLOG_DEFAULT_ROLE must be one of {', '.join(roles)}; got {value!r}")
        return value.strip().lower()

    @property
    def admin_emails(self) -> set[str]:
        return {e.lower() for e in _split(self.admins)}

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
    def webhook_url_list(self) -> list[str]:
        return _split(self.webhook_urls)

    @property
    def notify_url_list(self) -> list[str]:
        return _split(self.notify_urls)

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
