"""Profiles carry sample payloads with the readings they must give; this decodes and compares them.

Used by `load_profiles`/`check_profiles` (a profile whose own samples fail is a broken profile)
and by the test suite, which runs every sample of every profile file as its own test case.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson

from gateway.core.errors import Problem
from gateway.core.model import Decoded, RawMessage
from gateway.devices.decoder import Decoder
from gateway.devices.schema import Profile, SampleSpec

SAMPLE_SITE = "site-1"  # `{site}` in sample topics
DEFAULT_RECEIVED_AT = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def sample_message(sample: SampleSpec) -> RawMessage:
    payload = sample.payload
    data = payload.encode("utf-8") if isinstance(payload, str) else orjson.dumps(payload)
    received = sample.received_at or sample.ts or DEFAULT_RECEIVED_AT
    if received.tzinfo is None:
        received = received.replace(tzinfo=UTC)
    return RawMessage(sample.topic.replace("{site}", SAMPLE_SITE), data, received)


def decode_sample(profile: Profile, sample: SampleSpec) -> Decoded:

    decoder = Decoder([profile], site_id=SAMPLE_SITE, tz=ZoneInfo(sample.timezone))
    return decoder.decode(sample_message(sample))


def sample_mismatches(profile: Profile, sample: SampleSpec) -> list[str]:
    """How the decoded sample differs from what it says it should give; empty when it matches."""
    try:
        ZoneInfo(sample.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return [f"timezone '{sample.timezone}' is not a known IANA time zone, e.g. Asia/Shanghai"]
    got = decode_sample(profile, sample)
    out: list[str] = []
    reasons = [r.reason for r in got.rejections]
    if reasons != sample.rejected:
        details = "; ".join(f"{r.reason}: {r.detail}" for r in got.rejections) or "none"
        out.append(f"expected rejections {sample.rejected or 'none'}, got {details}")
    if got.ignored != sample.ignored:
        out.append(f"expected ignored: {str(sample.ignored).lower()}, got {str(got.ignored).lower()}")
    if sample.device is not None and got.device != sample.device:
        out.append(f"expected device '{sample.device}', got '{got.device}'")
    readings = {r.metric: r.value for r in got.readings}
    for metric in sorted(set(readings) | set(sample.readings)):
        if metric not in readings:
            out.append(f"expected {metric}: {_show(sample.readings[metric])}, but it was not decoded")
        elif metric not in sample.readings:
            out.append(f"decoded {metric}: {_show(readings[metric])}, which the sample does not list")
        elif not same_value(readings[metric], sample.readings[metric]):
            out.append(f"expected {metric}: {_show(sample.readings[metric])}, got {_show(readings[metric])}")
    if sample.ts is not None:
        times = {r.ts for r in got.readings} | {t.ts for t in got.taps}
        if times != {sample.ts}:
            out.append(f"expected time {sample.ts.isoformat()}, got "
                       f"{', '.join(sorted(t.isoformat() for t in times)) or 'none'}")
    for key in ("kind", "model"):
        want, said = getattr(sample, key), getattr(got, key)
        if want is not None and said != want:
            out.append(f"expected {key} '{want}', got {_show(said)}")
    online = got.availability.online if got.availability else None
    if online != sample.online:
        out.append(f"expected online: {_show(sample.online)}, got {_show(online)}")
    tags = [t.tag for t in got.taps]
    if tags != ([sample.tap] if sample.tap is not None else []):
        out.append(f"expected tap {sample.tap!r}, got {tags or 'none'}")
    return out


def sample_problems(profile: Profile) -> list[Problem]:
    return [profile.problem(("samples", i), f"sample {i + 1} ({sample.topic}): {mismatch}")
            for i, sample in enumerate(profile.samples)
            for mismatch in sample_mismatches(profile, sample)]


def same_value(got: Any, want: Any) -> bool:
    """Equal, with booleans kept apart from numbers and floats compared to 1e-9."""
    if isinstance(got, bool) or isinstance(want, bool):
        return type(got) is type(want) and got == want
    if isinstance(got, int | float) and isinstance(want, int | float):
        return math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-12)
    return bool(got == want)


def _show(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return str(value).lower()
    return repr(value)
