"""`sitegate check`: every problem in the site file and in every file it refers to, all at once.

The site file itself and the inventory are checked here; each other kind of file is checked by a
checker, a function `Site -> list[Problem]`. Features plug theirs in with `register_checker`; the
built-in ones below cover device profiles, rule files and the patrol file through the public
check/load functions of those modules. A checker is only handed a site whose referenced files
exist (missing ones are already reported at the line of the key that names them), and a checker
that crashes is reported as a problem instead of hiding the problems the others found.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from gateway.config import NO_OVERRIDES, Overrides, Site, parse_site
from gateway.errors import ConfigError, Problem
from gateway.inventory import check_inventory
from gateway.paths import devices_dir, rules_dir

Checker = Callable[[Site], list[Problem]]

_CHECKERS: list[Checker] = []


def register_checker(fn: Checker) -> Checker:
    """Run `fn` on every `check_site`; registering the same function twice runs it once."""
    if fn not in _CHECKERS:
        _CHECKERS.append(fn)
    return fn


def check_site(path: Path, overrides: Overrides = NO_OVERRIDES) -> list[Problem]:
    """Every problem in the site file at `path` and the files it names (empty when all is valid)."""
    site, problems = parse_site(path, overrides)
    if site is not None:
        for checker in list(_CHECKERS):
            problems += _run(checker, site)
    # Two checkers may read the same file (e.g. a rule file also listed as a profile folder).
    return list(dict.fromkeys(problems))


def _run(checker: Checker, site: Site) -> list[Problem]:
    try:
        return list(checker(site))
    except ConfigError as exc:
        return list(exc.problems)
    except Exception as exc:  # a bug in one checker must not hide what the others found
        name = getattr(checker, "__qualname__", repr(checker))
        return [site.problem((), f"the check {name} failed with {type(exc).__name__}: {exc}; the files it "
                                 "checks were not validated (please report this)")]


def _existing(paths: list[Path]) -> list[Path]:
    return [p for p in paths if p.exists()]


def profile_names(site: Site) -> set[str] | None:
    """Names of the profiles the site can use, or None when they cannot all be read."""
    from gateway.profiles import load_profile_file, profile_files

    names = set()
    for file in profile_files([devices_dir(), *_existing(site.devices.profiles)]):
        profile, _problems = load_profile_file(file)
        if profile is None:
            return None  # the profile checker reports why; don't add "unknown profile" noise
        names.add(profile.name)
    return names


@register_checker
def check_site_inventory(site: Site) -> list[Problem]:
    if site.inventory is None or not site.inventory.is_file():
        return []
    return check_inventory(site.inventory, kinds=site.devices.heartbeat, profiles=profile_names(site))


@register_checker
def check_site_profiles(site: Site) -> list[Problem]:
    from gateway.profiles import check_profiles

    return check_profiles([devices_dir(), *_existing(site.devices.profiles)])


@register_checker
def check_site_rules(site: Site) -> list[Problem]:
    from gateway.rules.loader import check_rules

    paths = [rules_dir()] if site.builtin_rules else []
    paths += _existing(site.rules)
    return check_rules(paths) if paths else []


@register_checker
def check_site_patrol(site: Site) -> list[Problem]:
    if site.patrol is None or not site.patrol.is_file():
        return []
    from gateway.patrol.model import load_plan

    load_plan(site.patrol)  # raises ConfigError with every problem
    return []
