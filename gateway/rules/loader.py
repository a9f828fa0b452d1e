"""Load rule files and folders: parameters, site overrides, and FILE:LINE problems for each mistake.

A rule file holds `rules:` (new rules) and/or `overrides:` (changes to rules defined elsewhere,
usually the built-in pack). A rule's `params` are named values; anywhere in the rule (except
`id`, `params` and the annotation texts) a string `$name` stands for that parameter. An
override may change params, labels, `for` and `enabled`, for every device of the rule or, with
`match:`, for some of them (a variant of the rule; see Rule.scope). All files are read first, then
every override is applied, then every rule is validated, so the order of files does not matter
and every problem in every file is reported at once.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from gateway.core.errors import ConfigError, Problem
from gateway.core.validation import Duration, Severity
from gateway.core.yamlsource import LineMap, PathKey, load_yaml, validate
from gateway.rules.conditions import TYPES
from gateway.rules.schema import Match, Rule

_NOT_SUBSTITUTED = frozenset({"id", "params", "annotations"})
_LOADER_ONLY = ("scope", "outside", "variant")  # Rule fields the loader sets, never a file


class OverrideLabels(BaseModel):
    model_config = ConfigDict(extra="allow")
    severity: Severity | None = None


class Override(BaseModel):
    """A site's change to a rule defined in another file (for example a built-in one)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    rule: str
    match: Match | None = None  # only these devices (the rule's own match still applies)
    params: dict[str, Any] = Field(default_factory=dict)
    labels: OverrideLabels | None = None
    for_: Duration | None = Field(None, alias="for")
    enabled: bool | None = None

    @field_validator("match")
    @classmethod
    def _devices_only(cls, v: Match | None) -> Match | None:
        if v is not None and v.metric is not None:
            raise ValueError("an override chooses devices: match them by kind, zone or device, not by metric")
        return v


class RuleFile(BaseModel):
    """The top level; items are validated one by one so one bad item does not hide the others."""

    model_config = ConfigDict(extra="forbid")
    rules: list[dict[str, Any]] = Field(default_factory=list)
    overrides: list[dict[str, Any]] = Field(default_factory=list)


@dataclass
class _Raw:
    data: dict[str, Any]
    lines: LineMap
    prefix: PathKey
    # param name -> (file, line) of the override that set it, to blame the right place.
    overridden: dict[str, tuple[Path | str, int]] = field(default_factory=dict)

    @property
    def where(self) -> str:
        return f"{self.lines.file}:{self.lines.line(self.prefix)}"


def rule_files(paths: Sequence[Path]) -> tuple[list[Path], list[Problem]]:
    """Expand folders to their *.yaml / *.yml files (not recursive: a folder's tests/ are not rules)."""
    files: list[Path] = []
    problems: list[Problem] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file()))
        elif path.is_file():
            files.append(path)
        else:
            problems.append(Problem(path, 1, "rule file or folder does not exist; fix the path"))
    return files, problems


def _read(files: list[Path], problems: list[Problem]) -> tuple[list[_Raw], list[tuple[Override, LineMap,
                                                                                         PathKey]]]:
    raws: list[_Raw] = []
    overrides: list[tuple[Override, LineMap, PathKey]] = []
    for path in files:
        try:
            data, lines = load_yaml(path)
            doc = validate(RuleFile, data if data is not None else {}, lines)
        except ConfigError as exc:
            problems.extend(exc.problems)
            continue
        for i, rule in enumerate(doc.rules):
            raws.append(_Raw(rule, lines, ("rules", i)))
        for i, item in enumerate(doc.overrides):
            try:
                overrides.append((validate(Override, item, lines, ("overrides", i)), lines, ("overrides", i)))
            except ConfigError as exc:
                problems.extend(exc.problems)
    return raws, overrides


def _apply_override(raw: _Raw, ov: Override, lines: LineMap, prefix: PathKey, problems: list[Problem]) -> None:
    params = raw.data.get("params")
    params = params if isinstance(params, dict) else {}
    for name, value in ov.params.items():
        if name not in params:
            known = ", ".join(sorted(params)) or "none"
            problems.append(lines.problem((*prefix, "params", name),
                                          f"rule {ov.rule} has no parameter '{name}' (its parameters: {known}); "
                                          "fix the name"))
            continue
        params[name] = value
        raw.overridden[name] = (lines.file, lines.line((*prefix, "params", name)))
    raw.data["params"] = params
    if ov.labels is not None:
        extra = {k: v for k, v in ov.labels.model_dump().items() if v is not None}
        raw.data["labels"] = {**(raw.data.get("labels") or {}), **extra}
    if ov.for_ is not None:
        raw.data["for"] = ov.for_
    if ov.enabled is not None:
        raw.data["enabled"] = ov.enabled


def _substitute(value: Any, params: dict[str, Any], path: PathKey, used: dict[PathKey, str],
                missing: list[tuple[PathKey, str]]) -> Any:
    if isinstance(value, str) and value.startswith("$") and value[1:].isidentifier():
        name = value[1:]
        if name not in params:
            missing.append((path, name))
            return value
        used[path] = name
        return params[name]
    if isinstance(value, dict):
        return {k: _substitute(v, params, (*path, k), used, missing) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, params, (*path, i), used, missing) for i, v in enumerate(value)]
    return value


def _build(raw: _Raw, problems: list[Problem]) -> Rule | None:
    params = raw.data.get("params") if isinstance(raw.data.get("params"), dict) else {}
    assert isinstance(params, dict)
    if own := [k for k in _LOADER_ONLY if k in raw.data]:
        problems.append(raw.lines.problem((*raw.prefix, own[0]), f"{own[0]}: is not a known setting of a rule; "
                                          "to change a rule for some devices, use an override with `match:`"))
        return None
    used: dict[PathKey, str] = {}
    missing: list[tuple[PathKey, str]] = []
    data = {k: v if k in _NOT_SUBSTITUTED else _substitute(v, params, (k,), used, missing)
            for k, v in raw.data.items()}
    for path, name in missing:
        known = ", ".join(sorted(params)) or "none"
        problems.append(raw.lines.problem((*raw.prefix, *path),
                                          f"${name} is not a parameter of this rule (its parameters: {known}); "
                                          "add it under `params` or fix the name"))
    try:
        rule = Rule.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            loc = _loc(err["loc"])
            if any(loc[: len(path)] == path for path, _ in missing):
                continue  # already said why
            where = ".".join(str(p) for p in (*raw.prefix, *loc))
            message = "is required; add it" if err["type"] == "missing" else (
                "is not a known setting; check its spelling or remove it" if err["type"] == "extra_forbidden"
                else err["msg"].replace("Value error, ", ""))
            problems.append(_blame(raw.lines.problem((*raw.prefix, *loc), f"{where}: {message}"), loc, used, raw))
        return None
    return None if missing else rule.model_copy(update={"source": raw.where})


def _loc(raw_loc: tuple[int | str, ...]) -> PathKey:
    """pydantic puts the union tag in the path (condition.threshold.below); the file has no such key."""
    loc = list(raw_loc)
    if len(loc) > 1 and loc[0] == "condition" and loc[1] in TYPES:
        del loc[1]
    return tuple(loc)


def _blame(problem: Problem, loc: PathKey, used: dict[PathKey, str], raw: _Raw) -> Problem:
    """A bad value that came from a site override is reported at the override, not in the pack."""
    for path, name in used.items():
        if loc[: len(path)] == path and name in raw.overridden:
            file, line = raw.overridden[name]
            return Problem(file, line, f"parameter '{name}' of rule {raw.data.get('id')} (used at "
                                       f"{raw.lines.file}:{problem.line}): {problem.message}")
    return problem


def _variants(raw: _Raw, scoped: list[tuple[Override, LineMap, PathKey]],
              problems: list[Problem]) -> list[tuple[_Raw, Match]]:
    """A copy of the rule for each override with `match:`, changed by that override."""
    out = []
    for ov, lines, prefix in scoped:
        variant = _Raw(copy.deepcopy(raw.data), raw.lines, raw.prefix, dict(raw.overridden))
        _apply_override(variant, ov, lines, prefix, problems)
        assert ov.match is not None
        out.append((variant, ov.match))
    return out


def _collect(paths: Sequence[Path]) -> tuple[list[Rule], list[Problem]]:
    files, problems = rule_files(paths)
    raws, overrides = _read(files, problems)
    by_id: dict[str, _Raw] = {}
    for raw in raws:
        rule_id = raw.data.get("id")
        if not isinstance(rule_id, str):
            continue  # reported by validation below
        if rule_id in by_id:
            problems.append(raw.lines.problem((*raw.prefix, "id"),
                                              f"rule id {rule_id} is already defined at {by_id[rule_id].where}; "
                                              "give it another id, or use `overrides:` to change that rule"))
            continue
        by_id[rule_id] = raw
    scoped: dict[str, list[tuple[Override, LineMap, PathKey]]] = {}
    for ov, lines, prefix in overrides:
        if ov.rule not in by_id:
            problems.append(lines.problem((*prefix, "rule"),
                                          f"override names rule {ov.rule}, which no loaded rule file defines; "
                                          "fix the id (see `sitegate check`)"))
        elif ov.match is not None:
            scoped.setdefault(ov.rule, []).append((ov, lines, prefix))  # after the ones for every device
        else:
            _apply_override(by_id[ov.rule], ov, lines, prefix, problems)
    rules = []
    for raw in raws:
        rule = _build(raw, problems)
        if rule is None or by_id.get(rule.id) is not raw:
            continue
        # Scoped overrides in the order they were read: the first whose match takes a device decides
        # for it, and the rule as it stands keeps the devices none of them takes.
        variants = _variants(raw, scoped.get(rule.id, []), problems)
        rules.append(rule.model_copy(update={"outside": tuple(m for _, m in variants)}))
        for n, (variant, match) in enumerate(variants, 1):
            built = _build(variant, problems)
            if built is not None:
                rules.append(built.model_copy(update={"scope": match, "variant": n,
                                                      "outside": tuple(m for _, m in variants[:n - 1])}))
    return rules, problems


def check_rules(paths: Sequence[Path]) -> list[Problem]:
    """Every problem in these rule files and folders, as FILE:LINE problems (empty when all valid)."""
    return _collect(paths)[1]


def load_rules(paths: Sequence[Path]) -> list[Rule]:
    """The enabled rules from these files and folders; raises ConfigError listing every problem."""
    rules, problems = _collect(paths)
    if problems:
        raise ConfigError(problems)
    return [r for r in rules if r.enabled]
