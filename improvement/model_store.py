"""Classifier model versions in the data folder: each refit kept, one active, any earlier one restorable.

Layout of ``<data dir>/models/``: one ``vN.npz`` per refit (never rewritten) and ``registry.json``, which says
which version is active and holds every version's evaluation and the log of who retrained or restored what,
when. The version ``shipped`` is the model fit on the project's own examples alone; it is always available
and is what runs until a refit is accepted. Writers take a file lock, and the registry is replaced
atomically, so two people retraining at once cannot corrupt it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from improvement.domain import DomainError

if TYPE_CHECKING:  # numpy and scikit-learn stay out of commands that only list versions
    from improvement.classification import FittedModel

SHIPPED = "shipped"


class UnknownModelVersion(DomainError):
    pass


@dataclass
class ModelVersion:
    version: str
    created_at: str
    created_by: str
    accepted: bool
    reason: str
    trained_on: dict[str, int] = field(default_factory=dict)
    evaluation: dict[str, Any] = field(default_factory=dict)


@dataclass
class Registry:
    active: str = SHIPPED
    versions: list[ModelVersion] = field(default_factory=list)
    log: list[dict[str, str]] = field(default_factory=list)
    shipped_evaluation: dict[str, Any] = field(default_factory=dict)


class ModelStore:
    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    @property
    def _registry_path(self) -> Path:
        return self.directory / "registry.json"

    def read(self) -> Registry:
        try:
            raw = json.loads(self._registry_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return Registry()
        except (OSError, ValueError) as error:
            raise DomainError(f"the model registry {self._registry_path} cannot be read ({error})") from None
        return Registry(
            active=raw.get("active", SHIPPED),
            versions=[ModelVersion(**v) for v in raw.get("versions", [])],
            log=list(raw.get("log", [])),
            shipped_evaluation=dict(raw.get("shipped_evaluation", {})),
        )

    def active_version(self) -> str:
        return self.read().active

    def versions(self) -> list[ModelVersion]:
        return self.read().versions

    def describe(self, version: str) -> ModelVersion | None:
        return next((v for v in self.versions() if v.version == version), None)

    def path(self, version: str) -> Path:
        return self.directory / f"{version}.npz"

    def load(self, version: str) -> FittedModel:
        from improvement.classification import FittedModel

        path = self.path(version)
        if version == SHIPPED or not path.exists():
            raise UnknownModelVersion(f"no stored model version {version!r}", field="version")
        return FittedModel.load(path)

    @contextmanager
    def _locked(self) -> Iterator[Registry]:
        from filelock import FileLock

        self.directory.mkdir(parents=True, exist_ok=True)
        with FileLock(str(self.directory / "registry.lock"), timeout=60):
            registry = self.read()
            yield registry
            tmp = self._registry_path.with_suffix(".json.tmp")
            tmp.write_text(json.dumps(asdict(registry), indent=2, ensure_ascii=False), encoding="utf-8")
            os.replace(tmp, self._registry_path)

    def add(
        self,
        model: FittedModel,
        *,
        created_at: str,
        created_by: str,
        accepted: bool,
        reason: str,
        trained_on: dict[str, int],
        evaluation: dict[str, Any],
        shipped_evaluation: dict[str, Any] | None = None,
    ) -> ModelVersion:
        """Store a refit as the next version; it becomes active only if ``accepted``."""
        with self._locked() as registry:
            number = 1 + max((int(v.version[1:]) for v in registry.versions if v.version[1:].isdigit()), default=0)
            entry = ModelVersion(f"v{number}", created_at, created_by, accepted, reason, trained_on, evaluation)
            model.save(self.path(entry.version))
            registry.versions.append(entry)
            if shipped_evaluation and not registry.shipped_evaluation:
                registry.shipped_evaluation = shipped_evaluation
            action = "retrained, now active" if accepted else "retrained, kept the previous model"
            registry.log.append({"at": created_at, "by": created_by, "action": action, "version": entry.version})
            if accepted:
                registry.active = entry.version
            return entry

    def restore(self, version: str, *, by: str, at: str) -> str:
        """Make an earlier version (or ``shipped``) the active one again; returns the version it replaced."""
        with self._locked() as registry:
            known = {v.version for v in registry.versions} | {SHIPPED}
            if version not in known:
                choices = ", ".join(sorted(known))
                raise UnknownModelVersion(f"no model version {version!r}; known: {choices}", field="version")
            if version != SHIPPED and not self.path(version).exists():
                raise UnknownModelVersion(f"the file of model version {version!r} is missing", field="version")
            previous = registry.active
            registry.active = version
            registry.log.append({"at": at, "by": by, "action": f"restored (was {previous})", "version": version})
            return previous
