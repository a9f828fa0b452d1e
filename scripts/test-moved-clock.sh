#!/usr/bin/env bash
# The whole suite with the clock moved (no test may depend on today's date): a year ahead, then on
# a leap day, or at the dates given as arguments ("YYYY-MM-DD HH:MM:SS", UTC).
#
# libfaketime moves the clock of every process started from here that reads it through libc:
# Python, mosquitto, PostgreSQL, Chromium. VictoriaMetrics is a Go program that reads the clock
# without libc, so it keeps the real time and refuses points stamped a year ahead ("too big
# timestamp"): the tests that need both clocks to agree are marked `real_clock` and left out.
# The monotonic clock keeps its real rate (libfaketime only offsets it), so timeouts stay real;
# FAKETIME_DONT_FAKE_MONOTONIC is not set because it makes Python's sleep fail with EINVAL.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v faketime >/dev/null 2>&1 || scripts/system-deps.sh
if [ $# -eq 0 ]; then
  set -- "$(date -u -d '+1 year' '+%Y-%m-%d %H:%M:%S')" "2028-02-29 02:30:00"
fi
for when in "$@"; do
  echo "== pytest with the clock at $when UTC"
  TZ=UTC faketime -f "@$when" .venv/bin/pytest -q -p no:cacheprovider -m "not real_clock"
done
