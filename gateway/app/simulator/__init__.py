"""The device simulator (`sitegate simulate`, and the traffic of `sitegate demo`).

It publishes a site's device traffic in the real conventions the built-in profiles decode
(Zigbee2MQTT, Tasmota, Shelly Gen2, native Sitegate topics), walks the patrol routes with guards
tapping cards and tags, and plays a nightly script of faults a site really sees. Modules:
site_model (what to simulate), sky (daylight), conventions (how each ecosystem spells a state),
devices (per-kind behaviour), faults (the night's script), patrol (guards), engine (clock, pacing,
the pure Simulator and the run loop), publisher (the MQTT connection).
"""

from gateway.app.simulator.engine import SimulationStats, Simulator, evening_start, run, run_simulation
from gateway.app.simulator.site_model import SimSite, build_sim_site, load_sim_site
from gateway.core.clock import SiteClock  # the simulator's clock is the shared site clock

__all__ = ["SimSite", "SimulationStats", "Simulator", "SiteClock", "build_sim_site", "evening_start",
           "load_sim_site", "run", "run_simulation"]
