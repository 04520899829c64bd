"""The condition language of rules, parsed with pyparsing.

Grammar::

    expr    := term (("and" | "or") term)*      (and binds tighter than or)
    term    := "not" term | "(" expr ")" | quant | name
    quant   := (INT | "all" | "any") "of" glob   e.g. "1 of ext_*", "all of snap_*"

>>> cond = parse_condition("net_timeout and not recovered")
>>> cond.evaluate({"net_timeout": True, "recovered": False})
True
>>> parse_condition("2 of ext_*").evaluate({"ext_a": True, "ext_b": True, "other": False})
True
>>> sorted(parse_condition("(a or b) and not 1 of c_*").names())
['a', 'b', 'c_*']
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyparsing as pp


class ConditionError(ValueError):
    def __init__(self, message: str, col: int = 1) -> None:
        super().__init__(message)
        self.col = col


class Condition:
    def evaluate(self, values: Mapping[str, bool]) -> bool:
        raise NotImplementedError

    def names(self) -> set[str]:
        raise NotImplementedError

    def positive_names(self, values: Mapping[str, bool]) -> list[str]:
        """Names whose truth made the condition true (evidence comes from these)."""
        raise NotImplementedError


@dataclass(frozen=True)
class Name(Condition):
    name: str

    def evaluate(self, values: Mapping[str, bool]) -> bool:
        return bool(values.get(self.name, False))

    def names(self) -> set[str]:
        return {self.name}

    def positive_names(self, values: Mapping[str, bool]) -> list[str]:
        return [self.name] if self.evaluate(values) else []


@dataclass(frozen=True)
class Not(Condition):
    operand: Condition

    def evaluate(self, values: Mapping[str, bool]) -> bool:
        return not self.operand.evaluate(values)

    def names(self) -> set[str]:
        return self.operand.names()

    def positive_names(self, values: Mapping[str, bool]) -> list[str]:
        return []


@dataclass(frozen=True)
class And(Condition):
    operands: tuple[Condition, ...]

    def evaluate(self, values: Mapping[str, bool]) -> bool:
        return all(o.evaluate(values) for o in self.operands)

    def names(self) -> set[str]:
        return set().union(*(o.names() for o in self.operands))

    def positive_names(self, values: Mapping[str, bool]) -> list[str]:
        return [n for o in self.operands for n in o.positive_names(values)]


@dataclass(frozen=True)
class Or(Condition):
    operands: tuple[Condition, ...]

    def evaluate(self, values: Mapping[str, bool]) -> bool:
        return any(o.evaluate(values) for o in self.operands)

    def names(self) -> set[str]:
        return set().union(*(o.names() for o in self.operands))

    def positive_names(self, values: Mapping[str, bool]) -> list[str]:
        return [n for o in self.operands if o.evaluate(values) for n in o.positive_names(values)]


@dataclass(frozen=True)
class OfGlob(Condition):
    """``N of glob`` (at least N), ``all of glob``, ``any of glob``."""

    quantity: int | str
    glob: str

    def matching(self, values: Iterable[str]) -> list[str]:
        return sorted(n for n in values if fnmatch.fnmatchcase(n, self.glob))

    def evaluate(self, values: Mapping[str, bool]) -> bool:
        names = self.matching(values)
        true = sum(1 for n in names if values[n])
        if self.quantity == "all":
            return bool(names) and true == len(names)
        needed = 1 if self.quantity == "any" else int(self.quantity)
        return true >= needed

    def names(self) -> set[str]:
        return {self.glob}

    def positive_names(self, values: Mapping[str, bool]) -> list[str]:
        if not self.evaluate(values):
            return []
        return [n for n in self.matching(values) if values[n]]


def _build_grammar() -> pp.ParserElement:
    import pyparsing as pp  # deferred: only needed when rule files are (re)loaded

    # Without memoisation infix_notation backtracks exponentially in the nesting depth on older
    # pyparsing releases (3.1: seconds at 12 levels). This module is pyparsing's only user.
    pp.ParserElement.enable_packrat(cache_size_limit=1024)

    identifier = pp.Regex(r"[A-Za-z_][A-Za-z0-9_]*")
    glob = pp.Regex(r"[A-Za-z_*?][A-Za-z0-9_*?]*")
    keyword = pp.Keyword("and") | pp.Keyword("or") | pp.Keyword("not") | pp.Keyword("of")
    quantity = pp.Regex(r"[1-9][0-9]*") | pp.Keyword("all") | pp.Keyword("any")
    quant = (quantity + pp.Keyword("of").suppress() + glob).set_parse_action(
        lambda t: OfGlob(t[0] if t[0] in ("all", "any") else int(t[0]), t[1])
    )
    name = (~keyword + identifier).set_parse_action(lambda t: Name(t[0]))
    operand = quant | name

    def fold(cls: type[And] | type[Or]) -> Any:
        return lambda t: cls(tuple(t[0][0::2]))

    return pp.infix_notation(
        operand,
        [
            (pp.Keyword("not"), 1, pp.OpAssoc.RIGHT, lambda t: Not(t[0][1])),
            (pp.Keyword("and"), 2, pp.OpAssoc.LEFT, fold(And)),
            (pp.Keyword("or"), 2, pp.OpAssoc.LEFT, fold(Or)),
        ],
    )


@lru_cache(maxsize=1)
def _grammar() -> pp.ParserElement:
    return _build_grammar()


MAX_CONDITION_CHARS = 2000
# Real conditions nest two or three levels. A limit of our own keeps pyparsing's recursion (about
# 40 frames per level, and a tolerance that changes between releases) far from the interpreter's
# stack limit, with the oldest and the newest allowed pyparsing alike.
MAX_NESTING = 16

_TOKEN = re.compile(r"[ \t\r\n]+|\(|\)|[A-Za-z0-9_*?]+")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_GLOB = re.compile(r"[A-Za-z_*?][A-Za-z0-9_*?]*")
_KEYWORDS = frozenset({"and", "or", "not", "of"})


@dataclass(frozen=True)
class _Token:
    text: str
    col: int  # 1-based, as shown to rule authors


def _tokens(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise ConditionError(
                f"unexpected character {text[pos]!r} at column {pos + 1}", col=pos + 1
            )
        if not match.group().isspace():
            tokens.append(_Token(match.group(), pos + 1))
        pos = match.end()
    return tokens


def _describe(token: _Token | None) -> str:
    return "the end of the condition" if token is None else repr(token.text)


class _Checker:
    """Walks the tokens once and explains the first mistake in plain words.

    pyparsing's own messages are grammar dumps whose wording and columns change between
    releases; this check makes every error ours, so pyparsing only ever sees valid text.
    """

    def __init__(self, tokens: list[_Token]) -> None:
        self.tokens = tokens
        self.index = 0

    def peek(self) -> _Token | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def previous(self) -> _Token | None:
        return self.tokens[self.index - 1] if self.index else None

    def fail(self, expected: str) -> None:
        found, before = self.peek(), self.previous()
        if found is None and before is not None:
            raise ConditionError(
                f"expected {expected} after {before.text!r} at column {before.col}",
                col=before.col,
            )
        if found is None:
            raise ConditionError("empty condition", col=1)
        raise ConditionError(
            f"expected {expected} at column {found.col}, found {found.text!r}", col=found.col
        )

    def run(self) -> None:
        opened: list[tuple[_Token, int]] = []  # "(" tokens and the nesting depth before each
        depth = 0
        while True:
            depth = self.operand(opened, depth)
            while (token := self.peek()) is not None and token.text == ")":
                if not opened:
                    raise ConditionError(
                        f"unmatched ')' at column {token.col}", col=token.col
                    )
                depth = opened.pop()[1]
                self.index += 1
            token = self.peek()
            if token is None:
                if opened:
                    first = opened[-1][0]
                    raise ConditionError(
                        f"'(' at column {first.col} is never closed", col=first.col
                    )
                return
            if token.text not in ("and", "or"):
                self.fail("'and', 'or' or ')'")
            self.index += 1

    def operand(self, opened: list[tuple[_Token, int]], depth: int) -> int:
        """One operand with its leading ``not``s and ``(``s; returns the nesting depth."""
        level = depth
        while (token := self.peek()) is not None and token.text in ("not", "("):
            level += 1
            if level > MAX_NESTING:
                raise ConditionError(
                    f"condition nested too deeply (more than {MAX_NESTING} levels)",
                    col=token.col,
                )
            if token.text == "(":
                opened.append((token, depth))
                depth = level
            self.index += 1
        token = self.peek()
        if token is None or token.text in _KEYWORDS or token.text in ("(", ")"):
            self.fail("a check name")
        assert token is not None
        if token.text.isdigit() or token.text in ("all", "any"):
            self.quantifier(token)
        elif _NAME.fullmatch(token.text) is None:
            hint = (
                f"; a wildcard needs a count, e.g. 'any of {token.text}'"
                if _GLOB.fullmatch(token.text) else ""
            )
            raise ConditionError(
                f"{token.text!r} at column {token.col} is not a check name{hint}", col=token.col
            )
        self.index += 1
        return depth

    def quantifier(self, count: _Token) -> None:
        if count.text.isdigit() and (count.text.startswith("0")):
            raise ConditionError(
                f"the count {count.text!r} at column {count.col} must be 1 or more",
                col=count.col,
            )
        self.index += 1
        if (token := self.peek()) is None or token.text != "of":
            self.fail(f"'of' after the count {count.text!r}")
        self.index += 1
        token = self.peek()
        if token is None or token.text in _KEYWORDS or _GLOB.fullmatch(token.text) is None:
            self.fail("a check name or wildcard such as 'ext_*'")


def parse_condition(text: str) -> Condition:
    import pyparsing as pp

    if len(text) > MAX_CONDITION_CHARS:
        raise ConditionError(f"condition longer than {MAX_CONDITION_CHARS} characters")
    _Checker(_tokens(text)).run()
    try:
        result = _grammar().parse_string(text, parse_all=True)
    except pp.ParseBaseException as error:  # the check above should make this unreachable
        raise ConditionError(f"invalid condition at column {error.col}", col=error.col) from None
    except RecursionError:
        raise ConditionError("condition nested too deeply") from None
    condition = result[0]
    assert isinstance(condition, Condition)
    return condition
