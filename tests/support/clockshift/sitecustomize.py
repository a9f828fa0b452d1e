"""Moves the wall clock of every Python process of a test run by SITEGATE_CLOCK_SHIFT_S seconds
(`make test-clock`), the pytest process and the gateways, simulators and recorders it starts alike,
so they agree with each other. Monotonic clocks, sleeps and timeouts stay real.

Loaded by Python at start-up because scripts/test-moved-clock.sh puts this folder on PYTHONPATH.
libfaketime was tried first: it breaks Python's sleep (EINVAL) or its timed waits (they hang).
"""

import os

_shift = os.environ.get("SITEGATE_CLOCK_SHIFT_S")
if _shift:
    import datetime as _dt

    import time_machine

    _moved = _dt.datetime.now(_dt.UTC) + _dt.timedelta(seconds=float(_shift))
    time_machine.travel(_moved, tick=True).start()
    # time-machine starts the moved clock ticking at its first reading, not at start(): read it now,
    # or a process that imports for a second before it looks at the clock runs a second behind the
    # others (a gateway, simulator and recorder on one site timeline would disagree by that much).
    _dt.datetime.now(_dt.UTC)
