"""List filters as Compute accepts them: AIP-160 (``labels.course = ml``) or RE2 (``name eq x.*``).

Supported AIP-160 forms: ``field = v``, ``!=``, ``<``, ``<=``, ``>``, ``>=``, ``field:v`` (has /
contains), ``field:*`` (present), ``*`` wildcards in ``=`` values, ``AND`` / ``OR`` / ``NOT`` /
``-`` and parentheses; adjacent terms are ANDed. RE2 forms: ``field eq regex`` and ``field ne
regex`` (full match), several in parentheses ANDed, as gcloud sends them. A field that holds a
URL (zone, machineType...) also matches on its last path segment, so ``zone = us-central1-a``
works.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable
from typing import Any

from labctl.emulator.errors import ApiError

Predicate = Callable[[dict[str, Any]], bool]

_OPS = ("!=", "<=", ">=", "=", ":", "<", ">")
_MAX_DEPTH = 50


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, why: str) -> ApiError:
        return ApiError(400, f"Invalid list filter expression '{self.text}': {why}", "invalid")

    def skip_ws(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def at_end(self) -> bool:
        self.skip_ws()
        return self.pos >= len(self.text)

    def peek(self, s: str) -> bool:
        self.skip_ws()
        return self.text.startswith(s, self.pos)

    def keyword(self, word: str) -> bool:
        self.skip_ws()
        end = self.pos + len(word)
        if self.text[self.pos : end] == word and (
            end >= len(self.text) or self.text[end].isspace() or self.text[end] == "("
        ):
            self.pos = end
            return True
        return False

    def field(self) -> str:
        self.skip_ws()
        m = re.compile(r"[A-Za-z_][\w.-]*").match(self.text, self.pos)
        if not m:
            raise self.fail(f"expected a field name at position {self.pos}")
        self.pos = m.end()
        return m.group(0)

    def value(self) -> str:
        self.skip_ws()
        if self.pos < len(self.text) and self.text[self.pos] in "\"'":
            quote = self.text[self.pos]
            out = []
            i = self.pos + 1
            while i < len(self.text) and self.text[i] != quote:
                if self.text[i] == "\\" and i + 1 < len(self.text):
                    nxt = self.text[i + 1]
                    # Keep regex escapes such as \b; unescape only the quote and backslash.
                    out.append(nxt if nxt in (quote, "\\") and quote == '"' else "\\" + nxt)
                    i += 2
                    continue
                out.append(self.text[i])
                i += 1
            if i >= len(self.text):
                raise self.fail("unterminated string")
            self.pos = i + 1
            return "".join(out)
        start = self.pos
        depth = 0
        while self.pos < len(self.text):
            ch = self.text[self.pos]
            if ch.isspace() and depth == 0:
                break
            if ch == "(":
                depth += 1
            elif ch == ")":
                if depth == 0:
                    break
                depth -= 1
            self.pos += 1
        if self.pos == start:
            raise self.fail("expected a value")
        return self.text[start : self.pos]

    # expr := and_expr ; and_expr := or_expr ((AND)? or_expr)* ; or_expr := unary (OR unary)*
    def expr(self, depth: int = 0) -> Predicate:
        if depth > _MAX_DEPTH:
            raise self.fail("too deeply nested")
        terms = [self.or_expr(depth)]
        while not self.at_end() and not self.peek(")"):
            self.keyword("AND")
            terms.append(self.or_expr(depth))
        return lambda r: all(t(r) for t in terms)

    def or_expr(self, depth: int) -> Predicate:
        terms = [self.unary(depth)]
        while self.keyword("OR"):
            terms.append(self.unary(depth))
        return lambda r: any(t(r) for t in terms)

    def unary(self, depth: int) -> Predicate:
        if self.keyword("NOT") or self.peek("-"):
            if self.peek("-"):
                self.pos += 1
            inner = self.unary(depth)
            return lambda r: not inner(r)
        if self.peek("("):
            self.pos += 1
            inner = self.expr(depth + 1)
            if not self.peek(")"):
                raise self.fail("missing ')'")
            self.pos += 1
            return inner
        return self.comparison()

    def comparison(self) -> Predicate:
        name = self.field()
        self.skip_ws()
        for word in ("eq", "ne"):
            if self.keyword(word):
                regex = self.value()
                try:
                    compiled = re.compile(regex)
                except re.error as exc:
                    raise self.fail(f"bad regular expression {regex!r}: {exc}") from exc
                if word == "eq":
                    return lambda r: _any_value(_lookup(r, name), _full(compiled))
                return lambda r: not _any_value(_lookup(r, name), _full(compiled))
        for op in _OPS:
            if self.text.startswith(op, self.pos):
                self.pos += len(op)
                return _compare(name, op, self.value())
        raise self.fail(f"expected an operator after '{name}'")


def _full(regex: re.Pattern[str]) -> Callable[[str], bool]:
    return lambda v: regex.fullmatch(v) is not None


def _lookup(resource: dict[str, Any], dotted: str) -> Any:
    cur: Any = resource
    for part in dotted.split("."):
        if isinstance(cur, list):
            cur = [c.get(part) for c in cur if isinstance(c, dict)]
        elif isinstance(cur, dict):
            cur = cur.get(part)
        else:
            return None
    return cur


def _as_text(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _any_value(value: Any, test: Callable[[str], bool]) -> bool:
    """Apply ``test`` to a scalar, or to each element of a list (any match); unset is no match."""
    if value is None:
        return False
    if isinstance(value, list):
        return any(_any_value(v, test) for v in value)
    text = _as_text(value)
    if test(text):
        return True
    # URL-valued fields also match on their last segment.
    return "/" in text and test(text.rstrip("/").rsplit("/", 1)[-1])


def _ordered(a: str, b: str) -> tuple[Any, Any]:
    try:
        return float(a), float(b)
    except ValueError:
        return a, b


def _compare(name: str, op: str, want: str) -> Predicate:
    def eq(v: str) -> bool:
        if "*" in want:
            return fnmatch.fnmatchcase(v, want)
        if want.lower() in ("true", "false"):
            return v.lower() == want.lower()
        return v == want

    def test(resource: dict[str, Any]) -> bool:
        value = _lookup(resource, name)
        if op == ":":
            if want == "*":
                return value not in (None, "", [], {})
            return _any_value(value, lambda v: want in v)
        if op == "=":
            return _any_value(value, eq)
        if op == "!=":
            return not _any_value(value, eq)
        if value is None or isinstance(value, list | dict):
            return False
        a, b = _ordered(_as_text(value), want)
        try:
            return bool({"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op])
        except TypeError:
            return False

    return test


def parse_filter(text: str | None) -> Predicate:
    """Compile a Compute list filter; an empty filter matches everything."""
    if not text or not text.strip():
        return lambda _r: True
    parser = _Parser(text)
    pred = parser.expr()
    if not parser.at_end():
        raise parser.fail(f"unexpected text at position {parser.pos}")
    return pred
