"""The patrol figures in /metrics: rounds in progress, and missed / recovered checkpoints per route."""

from __future__ import annotations

from collections import Counter

from prometheus_client import CollectorRegistry, generate_latest

from gateway.patrol.metrics import PatrolCollector


def test_rounds_in_progress_and_missed_checkpoints_per_route() -> None:
    missed: Counter[str] = Counter({"night-north": 3, "night-south": 1})
    recovered: Counter[str] = Counter({"night-north": 1})
    registry = CollectorRegistry()
    registry.register(PatrolCollector(lambda: 2, missed, recovered))
    text = generate_latest(registry).decode()
    assert "sitegate_patrol_rounds_in_progress 2.0" in text
    assert 'sitegate_patrol_checkpoints_missed_total{route="night-north"} 3.0' in text
    assert 'sitegate_patrol_checkpoints_missed_total{route="night-south"} 1.0' in text
    assert 'sitegate_patrol_checkpoints_recovered_total{route="night-north"} 1.0' in text
    missed["night-south"] += 1  # read at each scrape, not copied at registration
    assert 'sitegate_patrol_checkpoints_missed_total{route="night-south"} 2.0' in generate_latest(registry).decode()
