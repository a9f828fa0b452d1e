"""Topic parameters: the parts of a profile's topics that differ between sites.

Zigbee2MQTT's `base_topic`, Tasmota's `tele`/`stat`/`cmnd` prefixes and a Shelly topic root are
settings of the devices, not of the ecosystem: a profile declares them with defaults (`params:`)
and uses them as whole levels of its patterns (`{base_topic}/{device...}`); a site changes one in
its site file (`devices.params.zigbee2mqtt.base_topic`), and decoding, ignoring and subscribing all
follow that one setting.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

from gateway.core.errors import Problem
from gateway.core.site import Site
from gateway.devices.schema import Profile
from gateway.devices.topics import fill, param_value_problem, pattern_problem

Params = Mapping[str, Mapping[str, str]]  # profile name -> parameter -> value


def values_for(profile: Profile, params: Params) -> dict[str, str]:
    """The profile's parameter values: its defaults, with the site's settings over them."""
    return {**profile.params, **params.get(profile.name, {})}


def patterns(profile: Profile) -> Iterator[tuple[str, bool]]:
    """(pattern, needs a device) of every topic pattern of the profile."""
    for flt in profile.subscribe or []:
        yield flt, False
    for pattern in profile.ignore:
        yield pattern, False
    for msg in profile.messages:
        yield msg.topic, not msg.ignore


def site_problems(site: Site, profiles: Sequence[Profile]) -> list[Problem]:
    """The site's `devices.params` that no profile has, or that would break a profile's topics, at their lines."""
    return [site.problem(("devices", "params", *loc), f"devices.params.{'.'.join(loc)}: {why}")
            for loc, why in problems(profiles, site.devices.params)]


def problems(profiles: Sequence[Profile], params: Params) -> Iterator[tuple[tuple[str, ...], str]]:
    """What is wrong with these parameter values: (key path under devices.params, message)."""
    by_name = {p.name: p for p in profiles}
    for name, values in params.items():
        profile = by_name.get(name)
        if profile is None:
            known = ", ".join(sorted(n for n, p in by_name.items() if p.params)) or "none"
            yield (name,), f"there is no device profile '{name}' with parameters (profiles with parameters: {known})"
            continue
        wrong = False
        for key, value in values.items():
            if key not in profile.params:
                known = ", ".join(sorted(profile.params)) or "none"
                yield (name, key), f"the profile {name} has no parameter '{key}' (its parameters: {known})"
                wrong = True
            elif why := param_value_problem(value):
                yield (name, key), f"'{value}' {why}"
                wrong = True
        if wrong:
            continue
        bound = values_for(profile, params)
        for pattern, needs_device in patterns(profile):
            if why := pattern_problem(fill(pattern, bound), needs_device=needs_device):
                yield (name,), f"with these values the profile's topic {pattern} breaks: {why}"
                break
