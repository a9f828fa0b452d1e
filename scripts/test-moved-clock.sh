#!/usr/bin/env bash
# The whole suite with the clock moved (no test may depend on today's date): a year ahead, then on
# a leap day, or at the instants given as arguments ("YYYY-MM-DD HH:MM:SS", UTC).
#
# Every Python process of the run (pytest and the gateways it starts) sees the moved wall clock
# through time-machine, loaded at start-up from tests/support/clockshift/. Servers keep the real
# time: mosquitto, PostgreSQL and Chromium do not care, but VictoriaMetrics refuses points stamped a
# year ahead ("too big timestamp"), so the tests that need its clock and ours to agree are marked
# `real_clock` and left out here.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -eq 0 ]; then
  set -- "$(date -u -d '+1 year' '+%Y-%m-%d %H:%M:%S')" "2028-02-29 02:30:00"
fi
for when in "$@"; do
  shift_s=$(( $(date -u -d "$when" +%s) - $(date -u +%s) ))
  echo "== pytest with the clock at $when UTC (moved by ${shift_s} s)"
  SITEGATE_CLOCK_SHIFT_S=$shift_s PYTHONPATH="$PWD/tests/support/clockshift${PYTHONPATH:+:$PYTHONPATH}" \
    .venv/bin/pytest -q -p no:cacheprovider -m "not real_clock"
done
