"""`sitegate check`: every problem in the site file and in every file it refers to, all at once.

The site file itself, the inventory and the device profiles are checked here; each feature checks
its own files with the `check(site)` of its `feature.py` (rule files, the patrol file). A checker is
only handed a site whose referenced files
exist (missing ones are already reported at the line of the key that names them), and a checker
that crashes is reported as a problem instead of hiding the problems the others found.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from gateway.core.errors import ConfigError, Problem
from gateway.core.paths import devices_dir
from gateway.core.plugins import feature_modules
from gateway.core.site import Site
from gateway.core.siteload import NO_OVERRIDES, Overrides, parse_site
from gateway.ingest.inventory import check_inventory

Checker = Callable[[Site], list[Problem]]


def checkers() -> list[Checker]:
    """The site's own files (inventory, device profiles), then each feature's `check(site)`."""
    return [check_site_inventory, check_site_profiles,
            *(m.check for m in feature_modules() if hasattr(m, "check"))]


def check_site(path: Path, overrides: Overrides = NO_OVERRIDES) -> list[Problem]:
    """Every problem in the site file at `path` and the files it names (empty when all is valid)."""
    site, problems = parse_site(path, overrides)
    if site is not None:
        for checker in checkers():
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
    from gateway.devices.loader import load_profile_file, profile_files

    names = set()
    for file in profile_files([devices_dir(), *_existing(site.devices.profiles)]):
        profile, _problems = load_profile_file(file)
        if profile is None:
            return None  # the profile checker reports why; don't add "unknown profile" noise
        names.add(profile.name)
    return names


def check_site_inventory(site: Site) -> list[Problem]:
    if site.inventory is None or not site.inventory.is_file():
        return []
    return check_inventory(site.inventory, kinds=site.devices.heartbeat, profiles=profile_names(site))


def check_site_profiles(site: Site) -> list[Problem]:
    from gateway.devices.loader import check_profiles, load_profiles
    from gateway.devices.params import site_problems

    dirs = [devices_dir(), *_existing(site.devices.profiles)]
    problems = check_profiles(dirs)
    if site.devices.params and not problems:  # a site's parameters are checked against valid profiles
        problems = site_problems(site, load_profiles(dirs))
    return problems
