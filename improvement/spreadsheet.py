"""Every CSV the product writes goes through here, so no cell can act as a spreadsheet formula.

OWASP's advice for CSV injection: a cell that starts with ``=``, ``+``, ``-``, ``@``, TAB or CR is
prefixed with a single quote (spreadsheets then show it as text), and every cell is quoted. To keep
exports lossless, a cell that already starts with quotes followed by one of those characters gets one
more quote, and :func:`restore_cell` (used when a CSV is imported) removes exactly one: a round trip
through export and import gives back the text that was typed.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

_FORMULA = re.compile(r"\A'*[=+\-@\t\r]")
_NEUTRALISED = re.compile(r"\A'+[=+\-@\t\r]")


def safe_cell(value: Any) -> Any:
    """The value, with a leading quote if a spreadsheet could read it as a formula. Numbers stay numbers."""
    if isinstance(value, str) and _FORMULA.match(value):
        return "'" + value
    return value


def restore_cell(value: Any) -> Any:
    """Undo :func:`safe_cell` on a cell read from a CSV the product wrote."""
    if isinstance(value, str) and _NEUTRALISED.match(value):
        return value[1:]
    return value


class SafeWriter:
    """``csv.writer`` with every cell quoted and neutralised."""

    def __init__(self, out: Any) -> None:
        self._writer = csv.writer(out, quoting=csv.QUOTE_ALL)

    def writerow(self, row: Iterable[Any]) -> None:
        self._writer.writerow([safe_cell(value) for value in row])


class SafeDictWriter:
    """``csv.DictWriter`` with every cell quoted and neutralised (unknown keys are ignored)."""

    def __init__(self, out: Any, fieldnames: Sequence[str]) -> None:
        self._writer = csv.DictWriter(out, fieldnames=fieldnames, extrasaction="ignore", quoting=csv.QUOTE_ALL)

    def writeheader(self) -> None:
        self._writer.writeheader()

    def writerow(self, row: Mapping[str, Any]) -> None:
        self._writer.writerow({key: safe_cell(value) for key, value in row.items()})
