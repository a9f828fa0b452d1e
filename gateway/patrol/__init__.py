"""Patrol rounds: the patrol file, round schedules, the tracker, reports, serial readers and API.

Pure parts (model, schedule, rounds, tracker, report) take values and times and do no I/O;
`serial_reader.run_bridge` and `api.patrol_router` are the edges.
"""

from gateway.patrol.model import PatrolPlan, load_plan, plan_from_data
from gateway.patrol.rounds import CheckpointView, RoundView
from gateway.patrol.tracker import PatrolChange, PatrolTracker, TapOutcome

__all__ = ["CheckpointView", "PatrolChange", "PatrolPlan", "PatrolTracker", "RoundView", "TapOutcome",
           "load_plan", "plan_from_data"]
