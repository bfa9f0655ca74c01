"""Build a tool's Realtime function definition and argument model from a typed function.

The parameters' JSON Schema is pydantic's (``create_model`` over the signature), so what the model is told and what
is validated can never drift apart. Descriptions come from a Google-style docstring: the first paragraph describes
the tool, an ``Args:`` section describes the parameters.
"""

from __future__ import annotations

import inspect
import re
import types
import typing
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model

__all__ = ["ParsedDocstring", "build_arguments_model", "parameters_schema", "parse_docstring"]

_SECTION = re.compile(r"^(Args|Arguments|Parameters|Returns|Return|Raises|Yields|Examples?|Notes?|See Also):\s*$")
_ARG_LINE = re.compile(r"^(\*{0,2}\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")


class ParsedDocstring(typing.NamedTuple):
    description: str
    params: dict[str, str]


def parse_docstring(doc: str | None) -> ParsedDocstring:
    """Split a Google-style docstring into its first paragraph (lines joined by spaces) and the ``Args:`` entries.

    An entry is ``name: text`` or ``name (type): text``; more deeply indented lines continue it.
    """
    if not doc:
        return ParsedDocstring("", {})
    lines = inspect.cleandoc(doc).splitlines()
    first: list[str] = []
    for line in lines:
        if not line.strip() or _SECTION.match(line.strip()):
            break
        first.append(line.strip())
    params: dict[str, str] = {}
    in_args = False
    args_indent: int | None = None
    current: str | None = None
    for line in lines:
        stripped = line.strip()
        section = _SECTION.match(stripped)
        if section and len(line) - len(line.lstrip()) == 0:
            in_args = section.group(1) in ("Args", "Arguments", "Parameters")
            args_indent, current = None, None
            continue
        if not in_args or not stripped:
            continue
        indent = len(line) - len(line.lstrip())
        if args_indent is None:
            args_indent = indent
        match = _ARG_LINE.match(stripped)
        if indent == args_indent and match:
            current = match.group(1).lstrip("*")
            params[current] = match.group(2).strip()
        elif current is not None and indent > args_indent:
            params[current] = f"{params[current]} {stripped}".strip()
    return ParsedDocstring(" ".join(first), params)


def build_arguments_model(func: Callable[..., Any], name: str, param_docs: dict[str, str]) -> type[BaseModel]:
    """A pydantic model with one field per parameter of ``func`` (annotation, default, docstring description).

    Raises ``TypeError`` for a parameter without annotation or a ``*args``/``**kwargs`` parameter: the model can
    only be told about named, typed arguments.
    """
    # Only the parameters' annotations: the return annotation may name something not importable here.
    annotations = {k: v for k, v in getattr(func, "__annotations__", {}).items() if k != "return"}
    shim = types.SimpleNamespace(__annotations__=annotations, __globals__=getattr(func, "__globals__", {}))
    try:
        hints = typing.get_type_hints(shim, include_extras=True)
    except NameError as exc:
        raise TypeError(f"tool {name!r}: cannot resolve a parameter annotation ({exc})") from None
    fields: dict[str, Any] = {}
    for param in inspect.signature(func).parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise TypeError(f"tool {name!r}: *args/**kwargs cannot be described to the model")
        if param.name not in hints:
            raise TypeError(f"tool {name!r}: parameter {param.name!r} needs a type annotation")
        default = ... if param.default is inspect.Parameter.empty else param.default
        fields[param.name] = (hints[param.name], Field(default, description=param_docs.get(param.name)))
    model_name = "".join(part.capitalize() for part in re.split(r"[_\-]+", name)) + "Arguments"
    model: type[BaseModel] = create_model(model_name, __config__=ConfigDict(extra="forbid"), **fields)
    return model


def parameters_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The JSON Schema object of the arguments, without pydantic's ``title`` keys (noise for the model)."""
    schema = model.model_json_schema()
    cleaned = _drop_titles(schema)
    assert isinstance(cleaned, dict)
    cleaned.setdefault("properties", {})
    cleaned["type"] = "object"
    cleaned["additionalProperties"] = False
    return cleaned


def _drop_titles(node: Any, *, in_properties: bool = False) -> Any:
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key == "title" and not in_properties and isinstance(value, str):
                continue
            # Under "properties"/"$defs" the keys are field names (a field may be called "title").
            out[key] = _drop_titles(value, in_properties=key in ("properties", "$defs") and not in_properties)
        return out
    if isinstance(node, list):
        return [_drop_titles(item) for item in node]
    return node
