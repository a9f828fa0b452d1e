"""One base error for the package, and the file:line problems that `sitegate check` prints."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


class SitegateError(Exception):
    """Base of every error the gateway raises on purpose."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong in one file, printed as `FILE:LINE: message`."""

    file: Path | str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


class ConfigError(SitegateError):
    """A configuration, profile, rule or patrol file is invalid; carries every problem found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))
