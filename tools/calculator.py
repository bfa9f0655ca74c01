"""``calculate``: arithmetic on a parsed expression, never ``eval``.

The expression is parsed with :mod:`ast` (``mode="eval"``) and walked by a small interpreter that accepts only
number literals, ``+ - * / // % **`` (and ``^`` as a power), unary ``+``/``-``, the constants ``pi``, ``e``,
``tau`` and a few :mod:`math` functions. Limits: :data:`MAX_EXPRESSION_CHARS` characters, integers of at most
:data:`MAX_INT_BITS` bits at every step (so ``9**9**9`` is refused before it is computed), finite floats.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import Field

from tools.registry import ToolError, tool

__all__ = ["MAX_EXPRESSION_CHARS", "MAX_INT_BITS", "CalculationError", "calculate", "evaluate"]

MAX_EXPRESSION_CHARS = 200
MAX_INT_BITS = 1024  # about 308 decimal digits, the range of a float
MAX_FACTORIAL = 170  # 171! no longer fits a float

Number = int | float


class CalculationError(ToolError):
    """The expression is not allowed, not well formed, or its result is out of range."""


def _checked_pow(base: Number, exp: Number) -> Number:
    # |base|**exp has about exp * log2|base| bits: refuse before spending the time and memory.
    big_int_power = isinstance(base, int) and isinstance(exp, int) and exp > 0 and abs(base) > 1
    if big_int_power and exp * math.log2(abs(base)) > MAX_INT_BITS:
        raise CalculationError("result too large")
    try:
        result = operator.pow(base, exp)
    except ZeroDivisionError:
        raise CalculationError("zero cannot be raised to a negative power") from None
    if isinstance(result, complex):
        raise CalculationError("result is a complex number (negative base with a fractional exponent)")
    return float(result) if isinstance(result, float) else int(result)


def _factorial(n: Number) -> int:
    if isinstance(n, float):
        if not n.is_integer():
            raise CalculationError("factorial needs a whole number")
        n = int(n)
    if n < 0:
        raise CalculationError("factorial needs a number >= 0")
    if n > MAX_FACTORIAL:
        raise CalculationError(f"factorial is limited to n <= {MAX_FACTORIAL}")
    return math.factorial(n)


def _round(x: Number, ndigits: Number = 0) -> Number:
    if not isinstance(ndigits, int) or abs(ndigits) > 15:
        raise CalculationError("round's second argument must be a whole number between -15 and 15")
    return round(x, ndigits) if ndigits else round(x)


_BINARY: dict[type[ast.operator], Callable[[Any, Any], Number]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: _checked_pow,
}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Number]] = {ast.UAdd: operator.pos, ast.USub: operator.neg}
_CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e, "tau": math.tau}
_FUNCTIONS: dict[str, Callable[..., Number]] = {
    "abs": abs,
    "round": _round,
    "min": min,
    "max": max,
    "sqrt": math.sqrt,
    "cbrt": math.cbrt,
    "exp": math.exp,
    "ln": math.log,
    "log": math.log,
    "log10": math.log10,
    "log2": math.log2,
    "sin": math.sin,
    "cos": math.cos,
    "tan": math.tan,
    "asin": math.asin,
    "acos": math.acos,
    "atan": math.atan,
    "atan2": math.atan2,
    "sinh": math.sinh,
    "cosh": math.cosh,
    "tanh": math.tanh,
    "degrees": math.degrees,
    "radians": math.radians,
    "floor": math.floor,
    "ceil": math.ceil,
    "hypot": math.hypot,
    "factorial": _factorial,
}


def _check(value: Number) -> Number:
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise CalculationError("result too large")
    if isinstance(value, float) and not math.isfinite(value):
        raise CalculationError("result is out of range (overflow or not a number)")
    return value


def _eval(node: ast.AST) -> Number:
    if isinstance(node, ast.Expression):
        return _eval(node.body)
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, int | float):
            raise CalculationError(f"only numbers are allowed, not {node.value!r}")
        return _check(node.value)
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _eval(node.left), _eval(node.right)
        try:
            return _check(_BINARY[type(node.op)](left, right))
        except ZeroDivisionError:
            raise CalculationError("division by zero") from None
        except OverflowError:
            raise CalculationError("result too large") from None
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _check(_UNARY[type(node.op)](_eval(node.operand)))
    if isinstance(node, ast.Name):
        if node.id in _CONSTANTS:
            return _CONSTANTS[node.id]
        raise CalculationError(f"unknown name {node.id!r}; constants: {', '.join(_CONSTANTS)}")
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in _FUNCTIONS:
            raise CalculationError(f"unknown function; allowed: {', '.join(_FUNCTIONS)}")
        if node.keywords or not node.args or (len(node.args) > 2 and node.func.id not in ("min", "max", "hypot")):
            raise CalculationError(f"wrong arguments for {node.func.id}()")
        args = [_eval(a) for a in node.args]
        try:
            return _check(_FUNCTIONS[node.func.id](*args))
        except (ValueError, TypeError) as exc:
            raise CalculationError(f"{node.func.id}(): {exc}") from None
        except OverflowError:
            raise CalculationError("result too large") from None
    raise CalculationError(f"not allowed in an expression: {type(node).__name__}")


def evaluate(expression: str) -> Number:
    """The value of an arithmetic ``expression``. Raises :class:`CalculationError` for anything else."""
    if len(expression) > MAX_EXPRESSION_CHARS:
        raise CalculationError(f"expression longer than {MAX_EXPRESSION_CHARS} characters")
    # "^" is a power as people write it (not Python's xor, whose precedence is below "+"); "×", "÷", "−" too.
    text = expression.strip().replace("^", "**").replace("×", "*").replace("÷", "/").replace("−", "-")
    if not text:
        raise CalculationError("empty expression")
    try:
        tree = ast.parse(text, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        detail = exc.msg if isinstance(exc, SyntaxError) else type(exc).__name__
        raise CalculationError(f"cannot parse the expression: {detail}") from None
    try:
        return _eval(tree)
    except RecursionError:
        raise CalculationError("expression nested too deeply") from None


@tool
async def calculate(expression: Annotated[str, Field(max_length=MAX_EXPRESSION_CHARS)]) -> dict[str, Any]:
    """Evaluate an arithmetic expression, e.g. "(17.5 * 3) / 4", "2**64", "sqrt(2) * pi". Use it for any
    arithmetic instead of computing in your head.

    Args:
        expression: Numbers with + - * / // % and ** (or ^) for powers, parentheses, the constants pi, e, tau and
            the functions sqrt, cbrt, exp, ln, log, log10, log2, sin, cos, tan, asin, acos, atan, atan2, sinh,
            cosh, tanh, degrees, radians, floor, ceil, round, abs, min, max, hypot, factorial. Angles in radians.
    """
    value = evaluate(expression)
    return {"expression": expression, "result": value}
