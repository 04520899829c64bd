"""The one error type the structured-document parsers raise."""

from __future__ import annotations

from analyzer.errors import BundleError


class ParseError(BundleError):
    """A member could not be parsed (bad syntax, wrong shape, over a size cap, hostile XML).

    ``str(error)`` is the message alone; the member's provenance is kept in ``member`` so the
    walker can build ``Problem(member, message)`` without repeating the path.

    >>> e = ParseError("invalid XML: Document is empty", "case.tgz!GoalState.1.xml")
    >>> str(e), e.member
    ('invalid XML: Document is empty', 'case.tgz!GoalState.1.xml')
    """

    def __init__(self, message: str, member: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.member = member
