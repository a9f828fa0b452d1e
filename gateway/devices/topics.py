"""Topic patterns of device profiles: MQTT filters plus named placeholders.

A pattern is an MQTT topic filter (`+` one level, `#` the rest) in which `{device}`, `{site}` and
`{channel}` name parts of the topic: `tele/{device}/SENSOR`, `{device}/status/switch:{channel}`,
`sitegate/{site}/{device}/tap`. Patterns are compiled once to regular expressions with named
groups; messages are matched with `fullmatch`, never parsed by hand per message.
"""

from __future__ import annotations

import re

PLACEHOLDERS = ("device", "site", "channel")
_TOKEN = re.compile(r"\{([^{}]*)\}")
_GROUP = {
    "device": r"(?P<device>[^/]+)",
    "site": r"(?P<site>[^/]+)",
    # Channels are small integers (switch:0, POWER2); more than 3 digits is not a channel.
    "channel": r"(?P<channel>[0-9]{1,3})",
}


def pattern_problem(pattern: str, *, needs_device: bool) -> str | None:
    """Why `pattern` is not a usable topic pattern, or None when it is."""
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
            if name not in PLACEHOLDERS:
                return (f"unknown placeholder '{{{name}}}' in '{pattern}'; "
                        f"use {', '.join('{' + p + '}' for p in PLACEHOLDERS)}")
            if name in seen:
                return f"placeholder '{{{name}}}' appears twice in '{pattern}'"
            seen.add(name)
    if needs_device and "device" not in seen:
        return f"the pattern '{pattern}' has no {{device}} placeholder, so the device id is unknown"
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


def subscription_filter(pattern: str, site_id: str) -> str:
    """The MQTT filter that receives every topic of `pattern` for this site."""
    levels = []
    for level in pattern.split("/"):
        level = level.replace("{site}", site_id)
        levels.append("+" if _TOKEN.search(level) else level)
    return "/".join(levels)


def first_level(pattern: str) -> str | None:
    """The literal first level, used to index patterns; None when it is a wildcard or placeholder."""
    level = pattern.split("/", 1)[0]
    if level in ("+", "#") or _TOKEN.search(level):
        return None
    return level
