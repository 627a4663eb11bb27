"""Liberty boolean functions, parsed the way OpenSTA parses them, and their activities.

`parse_function` reads `function`/`when` strings, `infer_when` finds the condition under
which an input toggles an output (OpenSTA's "inferred when"), and `eval_activity`
propagates switching activity through an expression of independent signals.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import NamedTuple

from eda.core.errors import EdaError

# An expression is a nested tuple: ("port", name), ("not", e), ("and"|"or"|"xor", a, b),
# ("one",), ("zero",).  Binary nodes are left-associative like OpenSTA's FuncExpr trees,
# which matters for `infer_when`: it only looks at the top-level operands.
Expr = tuple

_EXPR_TOKEN_RE = re.compile(r"\s*(?:([A-Za-z_][\w.\[\]]*)|([01])|(.))")


def parse_function(text: str) -> Expr:
    """Parse a liberty `function`/`when` string.

    Precedence as in OpenSTA's LibExprParse.yy: `+ |` (or) < `* &` (and) < `^` (xor) <
    juxtaposition (implicit and) < prefix `!` and postfix `'` (not).
    """
    tokens: list[tuple[str, str]] = []
    for match in _EXPR_TOKEN_RE.finditer(text.strip()):
        name, constant, symbol = match.groups()
        if name:
            tokens.append(("port", name))
        elif constant:
            tokens.append(("const", constant))
        elif symbol and not symbol.isspace():
            tokens.append(("op", symbol))
    position = 0

    def peek() -> tuple[str, str] | None:
        return tokens[position] if position < len(tokens) else None

    def take() -> tuple[str, str]:
        nonlocal position
        if position >= len(tokens):
            raise EdaError(f"liberty function {text!r} ends unexpectedly")
        position += 1
        return tokens[position - 1]

    def starts_terminal(token: tuple[str, str] | None) -> bool:
        return token is not None and (token[0] in ("port", "const") or token[1] in ("(", "!"))

    def terminal() -> Expr:
        kind, value = take()
        if kind == "port":
            expr: Expr = ("port", value)
        elif kind == "const":
            expr = ("one",) if value == "1" else ("zero",)
        elif value == "(":
            expr = binary(0)
            if take() != ("op", ")"):
                raise EdaError(f"liberty function {text!r}: missing ')'")
        elif value == "!":
            return ("not", terminal())
        else:
            raise EdaError(f"liberty function {text!r}: unexpected {value!r}")
        while peek() == ("op", "'"):
            take()
            expr = ("not", expr)
        return expr

    def implicit_and() -> Expr:
        expr = terminal()
        while starts_terminal(peek()):
            expr = ("and", expr, terminal())
        return expr

    levels = ({"+": "or", "|": "or"}, {"*": "and", "&": "and"}, {"^": "xor"})

    def binary(level: int) -> Expr:
        if level == len(levels):
            return implicit_and()
        expr = binary(level + 1)
        while (token := peek()) is not None and token[0] == "op" and token[1] in levels[level]:
            take()
            expr = (levels[level][token[1]], expr, binary(level + 1))
        return expr

    if not tokens:
        raise EdaError("empty liberty function")
    result = binary(0)
    if peek() not in (None, ("op", ";")):
        raise EdaError(f"liberty function {text!r}: unexpected {peek()[1]!r}")
    return result


def expr_ports(expr: Expr) -> frozenset[str]:
    """Names of the ports an expression reads."""
    if expr[0] == "port":
        return frozenset((expr[1],))
    return frozenset().union(*(expr_ports(child) for child in expr[1:]))


def _is_port_ref(expr: Expr, port: str) -> bool:
    return expr == ("port", port) or expr == ("not", ("port", port))


def _negate(expr: Expr) -> Expr:
    return expr[1] if expr[0] == "not" else ("not", expr)


def infer_when(function: Expr, from_port: str) -> Expr | None:
    """Condition under which `from_port` toggles the output, as OpenSTA 2.0.17 infers it.

    Mirrors Power::inferedWhen: only a port operand directly under the top (possibly
    negated) and/or/xor is recognised; anything else gives None (then duty 0.5).
    """
    op = function[0]
    if op == "port":
        return ("one",) if function[1] == from_port else None
    if op == "not":
        return infer_when(function[1], from_port)
    if op in ("or", "xor"):
        left, right = function[1], function[2]
        if _is_port_ref(left, from_port):
            return _negate(right)
        if _is_port_ref(right, from_port):
            return _negate(left)
    if op == "and":
        left, right = function[1], function[2]
        if _is_port_ref(left, from_port):
            return right
        if _is_port_ref(right, from_port):
            return left
    return None


class Activity(NamedTuple):
    """Switching activity of a signal: transitions per second, and probability of 1."""

    density_per_s: float
    duty: float


def eval_activity(expr: Expr, pin_activity: Callable[[str], Activity | None]) -> Activity:
    """Activity of a boolean expression of independent signals (OpenSTA's evalActivity).

    `pin_activity(port)` gives a port's activity, or None if the instance has no such
    pin (OpenSTA then takes the port as constant 0).
    """
    op = expr[0]
    if op == "port":
        activity = pin_activity(expr[1])
        return activity if activity is not None else Activity(0.0, 0.0)
    if op == "one":
        return Activity(0.0, 1.0)
    if op == "zero":
        return Activity(0.0, 0.0)
    if op == "not":
        inner = eval_activity(expr[1], pin_activity)
        return Activity(inner.density_per_s, 1.0 - inner.duty)
    first = eval_activity(expr[1], pin_activity)
    second = eval_activity(expr[2], pin_activity)
    if op == "and":
        return Activity(
            first.density_per_s * second.duty + second.density_per_s * first.duty, first.duty * second.duty
        )
    if op == "or":
        first_low, second_low = 1.0 - first.duty, 1.0 - second.duty
        return Activity(
            first.density_per_s * second_low + second.density_per_s * first_low, 1.0 - first_low * second_low
        )
    if op == "xor":
        first_only = first.duty * (1.0 - second.duty)
        second_only = second.duty * (1.0 - first.duty)
        return Activity(
            first.density_per_s * first_only + second.density_per_s * second_only, first_only + second_only
        )
    raise EdaError(f"unknown expression node {op!r}")
