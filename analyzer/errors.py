"""The project's own error types. Anything else escaping the pipeline is a bug (exit 4)."""

from __future__ import annotations

from dataclasses import dataclass


class AnalyzerError(Exception):
    """Base of every error the tool raises on purpose."""

    exit_code = 4


class UsageError(AnalyzerError):
    """Bad arguments, unknown rule id, broken rule file given by the user."""

    exit_code = 2


class InputRejected(AnalyzerError):
    """The bundle as a whole cannot be read (not an archive we accept, empty, worker killed)."""

    exit_code = 3


class BundleError(AnalyzerError):
    """A problem with one member or one nesting level; the walker reports it and goes on."""

    exit_code = 3


class BudgetExceeded(BundleError):
    """A byte, entry, depth or time budget was hit."""


@dataclass(frozen=True)
class Problem:
    """One input problem shown to the user: which member, what happened."""

    member: str
    message: str

    def __str__(self) -> str:
        return f"{self.member}: {self.message}"
