"""Spoken arithmetic: "what is twelve times 7" -> ``"12 * 7"``, the expression the ``calculate`` tool takes.

One pass over the words, then a check of the expression's shape with a small state machine (numbers and operators
alternate, parentheses balance): no recursion and no :mod:`ast`, so a very long sum costs linear time and cannot
raise ``RecursionError``. Input is read up to :data:`~local_engine.replies._text.MAX_ANALYSED_CHARS` characters;
an expression with more than :data:`MAX_OPERATORS` operators raises :class:`TooLongToCalculate`.
"""

from __future__ import annotations

import re

from local_engine.replies._text import MAX_ANALYSED_CHARS

__all__ = ["MAX_OPERATORS", "TooLongToCalculate", "arithmetic_expression"]

MAX_OPERATORS = 40
"""More operators than a person says in one question; past it the responder says the sum is too long."""


class TooLongToCalculate(ValueError):
    """The user asks for arithmetic with more than :data:`MAX_OPERATORS` operators (or one cut by the input
    bound)."""


_ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen"
    " eighteen nineteen"
)
_SMALL_NUMBERS = {w: i for i, w in enumerate(_ONES.split(" "))}
_DECADES = "twenty thirty forty fifty sixty seventy eighty ninety"
_TENS = {w: 10 * (i + 2) for i, w in enumerate(_DECADES.split(" "))}
_NUMBER_WORDS = frozenset(_SMALL_NUMBERS) | frozenset(_TENS)
_SCALES = {"hundred": 100, "thousand": 1000, "million": 1_000_000, "billion": 1_000_000_000}
# Spoken operators, longest first; "SQRT" opens sqrt( around the next number.
_OPERATOR_PHRASES: list[tuple[tuple[str, ...], tuple[str, ...]]] = sorted(
    [
        (("raised", "to", "the", "power", "of"), ("**",)),
        (("to", "the", "power", "of"), ("**",)),
        (("to", "the", "power"), ("**",)),
        (("raised", "to"), ("**",)),
        (("multiplied", "by"), ("*",)),
        (("divided", "by"), ("/",)),
        (("times",), ("*",)),
        (("x",), ("*",)),
        (("plus",), ("+",)),
        (("minus",), ("-",)),
        (("negative",), ("-",)),
        (("over",), ("/",)),
        (("mod",), ("%",)),
        (("modulo",), ("%",)),
        (("squared",), ("**", "2")),
        (("cubed",), ("**", "3")),
        (("square", "root", "of"), ("sqrt(",)),
        (("the", "square", "root", "of"), ("sqrt(",)),
        (("percent", "of"), ("/", "100", "*")),
        (("%", "of"), ("/", "100", "*")),
        (("*",), ("*",)),
        (("**",), ("**",)),
        (("^",), ("**",)),
        (("/",), ("/",)),
        (("//",), ("//",)),
        (("+",), ("+",)),
        (("-",), ("-",)),
        (("%",), ("%",)),
        (("(",), ("(",)),
        ((")",), (")",)),
    ],
    key=lambda p: -len(p[0]),
)
_OPERATOR_WORDS = frozenset(
    w for phrase, _ in _OPERATOR_PHRASES for w in phrase if w.isalpha() and w not in ("the", "to", "of", "by", "x")
)
_BINARY = frozenset({"+", "-", "*", "/", "//", "%", "**"})
_FILLERS = frozenset({"the", "and", "please", "equal", "equals", "is"})
_CALC_CUE_RE = re.compile(r"\b(?:what(?:'s| is)|calculate|compute|how much is|solve|evaluate|equals?)\b", re.I)
_CALC_TOKEN_RE = re.compile(r"\d+(?:\.\d+)?|\.\d+|\*\*|//|[-+*/^%()]|[a-z']+")
_THOUSANDS_COMMA_RE = re.compile(r"(?<=\d),(?=\d{3}\b)")


def _parse_number_words(words: list[str], start: int) -> tuple[int, int] | None:
    """A number spelled in words at ``words[start:]`` ("twenty one", "three hundred"): (value, next index)."""
    total, current, i = 0, 0, start
    while i < len(words):
        w = words[i]
        if w in _SMALL_NUMBERS:
            current += _SMALL_NUMBERS[w]
        elif w in _TENS:
            current += _TENS[w]
        elif w in _SCALES and i > start:
            current = max(current, 1) * _SCALES[w]
            if _SCALES[w] >= 1000:
                total, current = total + current, 0
        elif not (w == "and" and i > start and i + 1 < len(words) and words[i + 1] in _NUMBER_WORDS):
            break
        i += 1
    return (total + current, i) if i > start else None


def _well_formed(symbols: list[str]) -> bool:
    """Whether ``symbols`` (numbers, binary operators, unary signs, ``(``, ``sqrt(``, ``)``) make one expression with
    at least one operation: operands and binary operators alternate and parentheses balance."""
    expect_operand, depth, operations = True, 0, 0
    for symbol in symbols:
        if expect_operand:
            if symbol[0].isdigit() or symbol[0] == ".":
                expect_operand = False
            elif symbol in ("(", "sqrt("):
                depth += 1
                operations += symbol == "sqrt("
            elif symbol not in ("-", "+"):  # a unary sign keeps waiting for the operand
                return False
        elif symbol in _BINARY:
            expect_operand = True
            operations += 1
        elif symbol == ")" and depth > 0:
            depth -= 1
        else:
            return False
    return not expect_operand and depth == 0 and operations > 0


def arithmetic_expression(text: str) -> str | None:
    """The arithmetic a person asks for ("what is 12 times 7" -> ``"12 * 7"``, "2 to the power of 10" ->
    ``"2 ** 10"``, "square root of 16" -> ``"sqrt(16)"``), or None when ``text`` does not ask for a calculation.

    Raises :class:`TooLongToCalculate` past :data:`MAX_OPERATORS` operators."""
    low = text[:MAX_ANALYSED_CHARS].lower().replace("×", "*").replace("÷", "/").replace("−", "-")
    low = _THOUSANDS_COMMA_RE.sub("", low)  # 1,000 -> 1000
    tokens = _CALC_TOKEN_RE.findall(low)
    out: list[str] = []
    started = open_sqrt = has_operator = has_operator_word = False
    operators = 0
    i = 0
    while i < len(tokens):
        token = tokens[i]
        number: str | None = None
        if token[0].isdigit() or token[0] == ".":
            number, i = token, i + 1
        elif (spelled := _parse_number_words(tokens, i)) is not None:
            number, i = str(spelled[0]), spelled[1]
        if number is not None:
            out.append(number)
            started = True
            if open_sqrt:
                out.append(")")
                open_sqrt = False
            continue
        phrase, symbols = next(((p, s) for p, s in _OPERATOR_PHRASES if tuple(tokens[i : i + len(p)]) == p), ((), ()))
        if symbols and not (phrase == ("x",) and not started):
            if symbols[0] not in ("(", ")"):
                has_operator = True
                operators += 1
                if operators > MAX_OPERATORS:
                    raise TooLongToCalculate(f"more than {MAX_OPERATORS} operations")
            has_operator_word = has_operator_word or any(w in _OPERATOR_WORDS for w in phrase)
            out.extend(symbols)
            open_sqrt = open_sqrt or symbols == ("sqrt(",)
            started = True
            i += len(phrase)
            continue
        if started and token not in _FILLERS:
            break  # trailing words ("in total", "for me")
        i += 1
    if not (has_operator and out) or open_sqrt:
        return None
    if not (has_operator_word or _CALC_CUE_RE.search(low)):
        return None  # "555-1234" alone is a phone number, not a sum
    if not _well_formed(out):
        return None
    return " ".join(out).replace("( ", "(").replace(" )", ")").replace("sqrt( ", "sqrt(")
