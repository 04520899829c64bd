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


def parse_condition(text: str) -> Condition:
    import pyparsing as pp

    if len(text) > 2000:
        raise ConditionError("condition longer than 2000 characters")
    try:
        result = _grammar().parse_string(text, parse_all=True)
    except pp.ParseBaseException as error:
        raise ConditionError(f"invalid condition: {error.msg}", col=error.col) from None
    except RecursionError:
        raise ConditionError("condition nested too deeply") from None
    condition = result[0]
    assert isinstance(condition, Condition)
    return condition
