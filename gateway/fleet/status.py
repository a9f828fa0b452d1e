"""A site's colour on the fleet page, and why, pure.

- red: an open critical ticket, or an open ticket past a stage deadline;
- unknown (shown amber): nothing heard from the site for more than `STALE` (its gateway, its line to
  head office or the bridge is down; its figures are as of `last_heard`);
- amber: devices offline, or the gateway itself reports `degraded`;
- green: none of these.
Reasons are listed whatever the colour, in English and Chinese.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

STALE = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class SiteStatus:
    status: str  # red | amber | green | unknown
    reasons: list[str]  # sentences, English then Chinese
    causes: list[dict[str, Any]]  # the same as data, for pages that word them in one language:
    # {"cause": "critical"|"overdue"|"offline", "count": n}, {"cause": "silent", "minutes": n},
    # {"cause": "never_heard"}, {"cause": "degraded"}


def _minutes(seconds: float) -> str:
    minutes = int(seconds // 60)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


def site_status(*, critical: int, overdue: int, offline: int, health: str | None, silent_s: float | None,
                stale_after: timedelta = STALE) -> SiteStatus:
    """`silent_s`: seconds since the site was last heard (None: never); more than `stale_after` is unknown."""
    reasons: list[str] = []
    causes: list[dict[str, Any]] = []
    if critical:
        reasons.append(f"{critical} critical ticket(s) open 未关闭紧急工单 {critical} 张")
        causes.append({"cause": "critical", "count": critical})
    if overdue:
        reasons.append(f"{overdue} ticket(s) overdue 超时工单 {overdue} 张")
        causes.append({"cause": "overdue", "count": overdue})
    stale = silent_s is None or silent_s > stale_after.total_seconds()
    if silent_s is None:
        reasons.append("never heard from 从未收到消息")
        causes.append({"cause": "never_heard"})
    elif stale:
        reasons.append(f"not heard for {_minutes(silent_s)} 已 {_minutes(silent_s)} 未收到消息")
        causes.append({"cause": "silent", "minutes": int(silent_s // 60)})
    if offline:
        reasons.append(f"{offline} device(s) offline 离线设备 {offline} 台")
        causes.append({"cause": "offline", "count": offline})
    if health == "degraded":
        reasons.append("gateway degraded 网关降级运行")
        causes.append({"cause": "degraded"})
    if critical or overdue:
        return SiteStatus("red", reasons, causes)
    if stale:
        return SiteStatus("unknown", reasons, causes)
    if offline or health == "degraded":
        return SiteStatus("amber", reasons, causes)
    return SiteStatus("green", reasons, causes)
