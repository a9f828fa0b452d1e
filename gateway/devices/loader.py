"""Loading device profiles: every file validated against the schema, checked for meaning, and its
sample payloads decoded. It sits above the schema and the decoder, so nothing imports in a circle."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from gateway.core.errors import ConfigError, Problem
from gateway.core.yamlsource import load_yaml, validate
from gateway.devices.samples import sample_problems
from gateway.devices.schema import Profile, semantic_problems


def check_profiles(dirs: Sequence[Path]) -> list[Problem]:
    """Every problem in the profiles under `dirs` (`*.yaml`, `*.yml`), one FILE:LINE each."""
    return _load(dirs)[1]


def load_profiles(dirs: Sequence[Path]) -> list[Profile]:
    """All profiles under `dirs`; raises ConfigError listing every problem in every bad file."""
    profiles, problems = _load(dirs)
    if problems:
        raise ConfigError(problems)
    return profiles


def profile_files(dirs: Sequence[Path]) -> list[Path]:
    files: list[Path] = []
    for d in dirs:
        if d.is_file():
            files.append(d)
        else:
            files.extend(sorted(p for p in d.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file()))
    return files


def load_profile_file(path: Path) -> tuple[Profile | None, list[Problem]]:
    """One profile file: the profile when it is valid, and its problems."""
    try:
        data, lines = load_yaml(path)
        if not isinstance(data, dict):
            return None, [Problem(path, 1, "a profile must be a mapping with name, ecosystem and messages")]
        profile = validate(Profile, data, lines)
    except ConfigError as exc:
        return None, list(exc.problems)
    profile._file = str(path)
    profile._lines = lines
    problems = list(semantic_problems(profile))
    if not problems:
        problems = sample_problems(profile)
    return (None if problems else profile), problems


def _load(dirs: Sequence[Path]) -> tuple[list[Profile], list[Problem]]:
    profiles: list[Profile] = []
    problems: list[Problem] = []
    for d in dirs:
        if not d.exists():
            problems.append(Problem(d, 1, "profile folder does not exist; create it or fix the path"))
    seen: dict[str, Profile] = {}
    for path in profile_files([d for d in dirs if d.exists()]):
        profile, found = load_profile_file(path)
        problems.extend(found)
        if profile is None:
            continue
        if profile.name in seen:
            problems.append(profile.problem(("name",), f"profile name '{profile.name}' is already used by "
                                            f"{seen[profile.name].file}; give each profile its own name"))
            continue
        seen[profile.name] = profile
        profiles.append(profile)
    return profiles, problems
