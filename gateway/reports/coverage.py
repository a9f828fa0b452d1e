"""Patrol coverage of a month, pure: visited / expected checkpoints over the finished rounds whose
scheduled start falls in the month (late visits count as visited, as in the daily report), overall
and per route, per guard (the guard of the round's first counted tap) and per zone (the checkpoint's
zone when the round ended)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from gateway.patrol.archive import ArchivedRound, ArchivedStop


def _ratio(visited: int, expected: int) -> float | None:
    return visited / expected if expected else None


def _group(stops: Iterable[tuple[ArchivedRound, ArchivedStop]],
           key: Callable[[ArchivedRound, ArchivedStop], str]) -> list[dict[str, Any]]:
    expected: dict[str, int] = {}
    visited: dict[str, int] = {}
    rounds: dict[str, set[str]] = {}
    for rnd, stop in stops:
        k = key(rnd, stop)
        expected[k] = expected.get(k, 0) + 1
        visited[k] = visited.get(k, 0) + stop.counted
        rounds.setdefault(k, set()).add(rnd.round_id)
    return [{"key": k, "rounds": len(rounds[k]), "expected": expected[k], "visited": visited[k],
             "missed": expected[k] - visited[k], "coverage": _ratio(visited[k], expected[k])}
            for k in sorted(expected)]


def patrol_figures(rounds: Iterable[ArchivedRound]) -> dict[str, Any]:
    finished = list(rounds)
    stops = [(r, s) for r in finished for s in r.stops]
    expected = len(stops)
    visited = sum(1 for _, s in stops if s.counted)
    names = {r.route: r.route_name for r in finished}
    by_route = _group(stops, lambda r, _s: r.route)
    for row in by_route:
        row["name"] = names.get(row["key"], row["key"])
    return {
        "rounds": len(finished),
        "completed": sum(1 for r in finished if r.status == "completed"),
        "expected": expected, "visited": visited, "coverage": _ratio(visited, expected),
        "by_route": by_route,
        "by_guard": _group(stops, lambda r, _s: r.guard),
        "by_zone": _group(stops, lambda _r, s: s.zone),
    }
