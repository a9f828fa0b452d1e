"""Topic patterns of device profiles: MQTT filters plus named placeholders.

A pattern is an MQTT topic filter (`+` one level, `#` the rest) in which `{device}`, `{site}` and
`{channel}` name parts of the topic: `tele/{device}/SENSOR`, `{device}/status/switch:{channel}`,
`sitegate/{site}/{device}/tap`. `{device...}` is a device name of one or more whole levels
(Zigbee2MQTT friendly names such as `B3/2F/smoke`); `device_id` turns such a name into a device id.
A profile's own parameters (`{base_topic}`) are whole levels that `fill` replaces with the site's
values before a pattern is compiled. Patterns are compiled once to regular expressions with named
groups; messages are matched with `fullmatch`, never parsed by hand per message.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping

PLACEHOLDERS = ("device", "site", "channel")
DEVICE_LEVELS = "device..."  # a device name spanning one or more levels
_TOKEN = re.compile(r"\{([^{}]*)\}")
_GROUP = {
    "device": r"(?P<device>[^/]+)",
    DEVICE_LEVELS: r"(?P<device>[^/]+(?:/[^/]+)*)",  # no empty level: 'a//b' is not a name
    "site": r"(?P<site>[^/]+)",
    # Channels are small integers (switch:0, POWER2); more than 3 digits is not a channel.
    "channel": r"(?P<channel>[0-9]{1,3})",
}
# A device id is one topic level everywhere else (inventory, API paths, tickets, native topics):
# the levels of a multi-level name are joined with this instead of '/'.
LEVEL_JOIN = "."


def device_id(name: str) -> str:
    """The device id of a device name taken from a topic: `B3/2F/smoke` is `B3.2F.smoke`."""
    return name.replace("/", LEVEL_JOIN)


def pattern_problem(pattern: str, *, needs_device: bool, params: Collection[str] = ()) -> str | None:
    """Why `pattern` is not a usable topic pattern, or None when it is. `params` are the names of the
    profile's parameters, which may stand for whole levels."""
    if not pattern:
        return "the topic pattern is empty; write one such as 'tele/{device}/SENSOR'"
    levels = pattern.split("/")
    seen: set[str] = set()
    for i, level in enumerate(levels):
        if "#" in level and (level != "#" or i != len(levels) - 1):
            return f"'#' must be a whole level at the end of the pattern '{pattern}'"
        if "+" in level and level != "+":
            return f"'+' must be a whole level in the pattern '{pattern}'; use a placeholder inside a level"
        rest = _TOKEN.sub("", level)
        if "{" in rest or "}" in rest:
            return f"unbalanced braces in the pattern '{pattern}'"
        for name in _TOKEN.findall(level):
            if name not in (*PLACEHOLDERS, DEVICE_LEVELS, *params):
                known = [*PLACEHOLDERS, DEVICE_LEVELS, *params]
                return (f"unknown placeholder '{{{name}}}' in '{pattern}'; "
                        f"use {', '.join('{' + p + '}' for p in known)}")
            if (name in params or name == DEVICE_LEVELS) and level != f"{{{name}}}":
                return f"'{{{name}}}' must be a whole level in the pattern '{pattern}'"
            if name == DEVICE_LEVELS and i == 0:
                return (f"'{{{name}}}' cannot be the first level of '{pattern}': the gateway would have to "
                        "subscribe to every topic on the broker; put the ecosystem's root level before it")
            key = "device" if name == DEVICE_LEVELS else name
            if key in seen:
                return f"placeholder '{{{key}}}' appears twice in '{pattern}'"
            seen.add(key)
    if needs_device and "device" not in seen:
        return f"the pattern '{pattern}' has no {{device}} placeholder, so the device id is unknown"
    return None


def fill(pattern: str, values: Mapping[str, str]) -> str:
    """`pattern` with each parameter level replaced by its value; an empty value removes its level
    (a Shelly `{root}` that is not set leaves `{device}/online`)."""
    levels: list[str] = []
    for level in pattern.split("/"):
        name = level[1:-1] if level.startswith("{") and level.endswith("}") else None
        if name is not None and name in values:
            if values[name]:
                levels.append(values[name])
        else:
            levels.append(level)
    return "/".join(levels)


_BAD_CHARS = re.compile(r"[+#{}\x00-\x1f]")


def param_value_problem(value: str) -> str | None:
    """Why `value` cannot be a parameter value: text of whole topic levels (empty removes the level)."""
    if len(value) > 128:
        return "is longer than 128 characters"
    if _BAD_CHARS.search(value):
        return "cannot hold '+', '#', braces or control characters: it is part of a topic, not a filter"
    if value and any(not level for level in value.split("/")):
        return "has an empty topic level; write levels like z2m or site/zigbee, without a leading or trailing '/'"
    return None


def compile_topic(pattern: str) -> re.Pattern[str]:
    """A regex whose named groups capture the placeholders. Raises ValueError for a bad pattern."""
    problem = pattern_problem(pattern, needs_device=False)
    if problem:
        raise ValueError(problem)
    levels = pattern.split("/")
    tail = ""
    if levels[-1] == "#":
        levels = levels[:-1]
        # MQTT: 'a/#' also matches 'a' itself.
        tail = "(?:/.*)?" if levels else ".*"
    parts: list[str] = []
    for level in levels:
        if level == "+":
            parts.append("[^/]*")
            continue
        out, pos = [], 0
        for m in _TOKEN.finditer(level):
            out.append(re.escape(level[pos:m.start()]))
            out.append(_GROUP[m.group(1)])
            pos = m.end()
        out.append(re.escape(level[pos:]))
        parts.append("".join(out))
    return re.compile("/".join(parts) + tail, re.DOTALL)


def spans_levels(pattern: str) -> bool:
    """The pattern's device name may hold several levels (its id joins them with LEVEL_JOIN)."""
    return f"{{{DEVICE_LEVELS}}}" in pattern


def subscription_filter(pattern: str, site_id: str) -> str:
    """The MQTT filter that receives every topic of `pattern` for this site. A name of several
    levels can only be followed with '#' from the level where it starts."""
    levels = []
    for level in pattern.split("/"):
        if level == f"{{{DEVICE_LEVELS}}}":
            levels.append("#")
            break
        level = level.replace("{site}", site_id)
        levels.append("+" if _TOKEN.search(level) else level)
    return "/".join(levels)


def first_level(pattern: str) -> str | None:
    """The literal first level, used to index patterns; None when it is a wildcard or placeholder."""
    level = pattern.split("/", 1)[0]
    if level in ("+", "#") or _TOKEN.search(level):
        return None
    return level
