"""Fitted models cached as NumPy arrays on disk: written atomically, read without pickle."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def save_arrays(path: Path, **arrays: object) -> None:
    """Write ``arrays`` to ``path`` (.npz) so that two processes fitting at once never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, **arrays)  # type: ignore[arg-type]
    tmp.replace(path)


def load_arrays(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return {name: data[name] for name in data.files}
