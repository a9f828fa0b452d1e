"""Load YAML while remembering where every value came from, so errors can say FILE:LINE.

PyYAML's composer gives nodes with marks; we build plain Python values and a map from the
path of each value (a tuple of keys and indexes, the same shape as pydantic's error `loc`) to
its 1-based line number.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from gateway.core.errors import ConfigError, Problem

PathKey = tuple[str | int, ...]
M = TypeVar("M", bound=BaseModel)


class LineMap:
    """Line numbers of the values in one YAML document."""

    def __init__(self, file: Path | str, lines: dict[PathKey, int]) -> None:
        self.file = file
        self._lines = lines

    def line(self, loc: Sequence[str | int]) -> int:
        """The line of `loc`, or of its nearest ancestor that has one."""
        key = tuple(loc)
        while key:
            if key in self._lines:
                return self._lines[key]
            key = key[:-1]
        return self._lines.get((), 1)

    def problem(self, loc: Sequence[str | int], message: str) -> Problem:
        return Problem(self.file, self.line(loc), message)


def _construct(node: yaml.Node, path: PathKey, lines: dict[PathKey, int]) -> Any:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = yaml.safe_load(yaml.serialize(key_node)) if not isinstance(key_node, yaml.ScalarNode) \
                else _scalar(key_node)
            child = (*path, key if isinstance(key, str | int) else str(key))
            out[key] = _construct(value_node, child, lines)
            # A key's own line is more useful than its value's when the value spans lines.
            lines[child] = key_node.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_construct(item, (*path, i), lines) for i, item in enumerate(node.value)]
    return _scalar(node)


def _scalar(node: yaml.Node) -> Any:
    # SafeConstructor resolves tags (ints, bools, timestamps) exactly as yaml.safe_load would.
    return yaml.SafeLoader("").construct_object(node, deep=True)


def load_yaml_text(text: str, file: Path | str) -> tuple[Any, LineMap]:
    """Parse YAML text; a syntax error becomes a ConfigError with the file and line."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        raise ConfigError([Problem(file, line, f"invalid YAML: {exc.problem or exc}; fix the syntax")]) \
            from None
    lines: dict[PathKey, int] = {}
    if node is None:
        return None, LineMap(file, {(): 1})
    return _construct(node, (), lines), LineMap(file, lines)


def load_yaml(path: Path) -> tuple[Any, LineMap]:
    """Read and parse a YAML file, reporting unreadable files as problems too."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([Problem(path, 1, f"cannot read file: {exc.strerror}")]) from None
    except UnicodeDecodeError:
        raise ConfigError([Problem(path, 1, "file is not UTF-8 text; save it as UTF-8")]) from None
    return load_yaml_text(text, path)


def pydantic_problems(exc: ValidationError, lines: LineMap, prefix: PathKey = ()) -> list[Problem]:
    """Turn pydantic's errors into one FILE:LINE problem each, with the field path spelled out."""
    problems = []
    for err in exc.errors():
        loc = (*prefix, *(part for part in err["loc"] if isinstance(part, str | int)))
        where = ".".join(str(p) for p in loc) or "document"
        msg = err["msg"]
        if err["type"] == "missing":
            msg = "is required; add it"
        elif err["type"] == "extra_forbidden":
            msg = "is not a known setting; check its spelling or remove it"
        problems.append(lines.problem(loc, f"{where}: {msg}"))
    return problems


def validate(model: type[M], data: Any, lines: LineMap, prefix: PathKey = ()) -> M:
    """Validate `data` against `model`, raising ConfigError with FILE:LINE problems."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(pydantic_problems(exc, lines, prefix)) from None


def load_model(model: type[M], path: Path) -> tuple[M, LineMap]:
    data, lines = load_yaml(path)
    return validate(model, data if data is not None else {}, lines), lines
