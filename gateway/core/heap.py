"""The garbage collector's settings for a gateway that runs for months.

Almost nothing the pipeline allocates is cyclic: a message's decoded readings, points and rows die
by reference counting as soon as it is handled. The collector's passes then only cost time, and the
full ones walk everything the process holds, modules and configuration included.
"""

from __future__ import annotations

import gc

# Young collections after this many net allocations of tracked objects instead of CPython's 700: a
# message allocates dozens, so the default ran one every few messages. -2 us of the ~64 a message
# of the demo mix costs (bench/README.md, "CPU per 1,000 msg/s"); at most this many young objects
# wait for a pass, a few MB.
YOUNG_THRESHOLD = 10_000


def settle_heap() -> None:
    """Call once the gateway is built: what exists then lives as long as the process, and stays out
    of the collector's full passes, which otherwise walk it all every few seconds under load and
    stall every thread, MQTT intake included, for 100-150 ms each."""
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, older, oldest)
