"""How each ecosystem spells a device state on MQTT: canonical values in, (topic, payload) out.

The simulator thinks in the canonical vocabulary of CONTRACT.md (`power_on`, `current_a`,
`door_open` ...); these encoders write it the way real firmware does, so the gateway's built-in
profiles (devices/*.yaml) are exercised exactly as on a site:

- Zigbee2MQTT: one flat JSON state per device, battery voltage in mV, `contact: true` = door CLOSED,
  availability `{"state": "online"}` (2.x form), no timestamp (the gateway stamps arrival);
- Tasmota: `tele/<t>/STATE` and `tele/<t>/SENSOR` with `Time` in device-local time without offset,
  `stat/<t>/POWER` on a relay change, `tele/<t>/LWT` Online/Offline; multi-channel meters use arrays;
- Shelly Gen2: `<id>/status/switch:0` (energy in Wh), `<id>/events/rpc` NotifyStatus with an epoch
  `ts`, `<id>/online` true/false;
- native: `sitegate/<site>/<id>/telemetry` with an ISO `ts` with offset, `/status`, `/tap`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

import orjson

from gateway.core.model import Value

ZIGBEE2MQTT, TASMOTA, SHELLY, NATIVE = "zigbee2mqtt", "tasmota", "shelly_gen2", "sitegate_native"
CONVENTIONS = (ZIGBEE2MQTT, TASMOTA, SHELLY, NATIVE)

# A state value: one number per channel for multi-channel meters, else a scalar.
StateValue = Value | list[float]
State = dict[str, StateValue]


@dataclass(frozen=True, slots=True)
class Message:
    """One MQTT message the simulator publishes, stamped with the site-clock time it was made at."""

    topic: str
    payload: bytes
    ts: datetime
    device: str
    retain: bool = False


def _json(value: Any) -> bytes:
    return orjson.dumps(value)


def _round(value: StateValue, digits: int) -> Any:
    if isinstance(value, list):
        return [round(v, digits) for v in value]
    if isinstance(value, float):
        return round(value, digits)
    return value


@dataclass(frozen=True, slots=True)
class Encoder:
    """Encodes one device's messages in one convention for one site."""

    convention: str
    site_id: str
    tz: tzinfo

    def availability(self, device: str, online: bool, ts: datetime) -> Message:
        """The retained online/offline message (in real life the LWT or bridge announces it)."""
        if self.convention == ZIGBEE2MQTT:
            topic = f"zigbee2mqtt/{device}/availability"
            body = _json({"state": "online" if online else "offline"})
        elif self.convention == TASMOTA:
            topic, body = f"tele/{device}/LWT", b"Online" if online else b"Offline"
        elif self.convention == SHELLY:
            topic, body = f"{device}/online", b"true" if online else b"false"
        else:
            topic, body = f"sitegate/{self.site_id}/{device}/status", b"online" if online else b"offline"
        return Message(topic, body, ts, device, retain=True)

    def state(self, device: str, values: State, ts: datetime) -> list[Message]:
        """A periodic report of `values` (Tasmota's TelePeriod, Zigbee2MQTT's state, Shelly's status)."""
        if self.convention == ZIGBEE2MQTT:
            return [Message(f"zigbee2mqtt/{device}", _json(_z2m(values)), ts, device)]
        if self.convention == TASMOTA:
            return self._tasmota(device, values, ts)
        if self.convention == SHELLY:
            return [Message(f"{device}/status/switch:0", _json(_shelly_switch(values)), ts, device)]
        return [self.telemetry(device, values, ts)]

    def switched(self, device: str, values: State, ts: datetime) -> list[Message]:
        """What a relay says the moment it switches (plus the metering that follows at once)."""
        if self.convention == TASMOTA:
            on = b"ON" if values.get("power_on") else b"OFF"
            # Tasmota's PowerDelta sends an energy report right after the load changes.
            return [Message(f"stat/{device}/POWER", on, ts, device), *self._tasmota(device, values, ts)]
        if self.convention == SHELLY:
            notify = {"src": device, "dst": f"{device}/events", "method": "NotifyStatus",
                      "params": {"ts": round(ts.timestamp(), 2), "switch:0": _shelly_switch(values)}}
            event = Message(f"{device}/events/rpc", _json(notify), ts, device)
            return [event, *self.state(device, values, ts)]
        return self.state(device, values, ts)

    def telemetry(self, device: str, values: State, ts: datetime) -> Message:
        """Native telemetry: canonical names; a list becomes metric, metric_2, metric_3 ..."""
        body: dict[str, Any] = {"ts": ts.astimezone(self.tz).isoformat(timespec="seconds")}
        for key, value in values.items():
            if isinstance(value, list):
                for i, item in enumerate(value):
                    body[key if i == 0 else f"{key}_{i + 1}"] = round(item, 3)
            else:
                body[key] = _round(value, 3)
        return Message(f"sitegate/{self.site_id}/{device}/telemetry", _json(body), ts, device)

    def tap(self, reader: str, tag: str, ts: datetime) -> Message:
        """A native checkpoint tap with the reader's own time (to the second, as readers keep it)."""
        body = {"tag": tag, "ts": ts.astimezone(self.tz).isoformat(timespec="seconds")}
        return Message(f"sitegate/{self.site_id}/{reader}/tap", _json(body), ts, reader)

    def _tasmota(self, device: str, values: State, ts: datetime) -> list[Message]:
        local = ts.astimezone(self.tz).strftime("%Y-%m-%dT%H:%M:%S")
        out = []
        if "power_on" in values:
            state: dict[str, Any] = {"Time": local, "POWER": "ON" if values["power_on"] else "OFF"}
            if "signal" in values:
                rssi = int(values["signal"])  # type: ignore[arg-type]
                state["Wifi"] = {"RSSI": rssi, "Signal": rssi - 100}
            out.append(Message(f"tele/{device}/STATE", _json(state), ts, device))
        sensor: dict[str, Any] = {"Time": local}
        energy = {name: _round(values[key], digits) for key, name, digits in _TASMOTA_ENERGY if key in values}
        if energy:
            sensor["ENERGY"] = energy
        if "illuminance_lux" in values:
            sensor["BH1750"] = {"Illuminance": int(values["illuminance_lux"])}  # type: ignore[arg-type]
        if len(sensor) > 1:
            out.append(Message(f"tele/{device}/SENSOR", _json(sensor), ts, device))
        return out


# canonical metric -> Tasmota ENERGY key, decimals as Tasmota prints them
_TASMOTA_ENERGY = (("energy_kwh", "Total", 3), ("power_w", "Power", 0), ("power_factor", "Factor", 2),
                   ("voltage_v", "Voltage", 0), ("current_a", "Current", 3))

# canonical metric -> Zigbee2MQTT key, for the keys that are not spelled the same
_Z2M_KEYS = {"battery_pct": "battery", "signal": "linkquality", "illuminance_lux": "illuminance",
             "power_w": "power", "current_a": "current", "energy_kwh": "energy"}


def _z2m(values: State) -> dict[str, Any]:
    out: dict[str, Any] = {}
    battery = "battery_pct" in values
    for key, value in values.items():
        if key == "door_open":
            out["contact"] = not value  # the reed contact is closed when the door is
        elif key == "power_on":
            out["state"] = "ON" if value else "OFF"
        elif key == "voltage_v":
            # Battery devices report their cell in mV, mains devices the line in V.
            out["voltage"] = round(float(value) * 1000) if battery else round(float(value), 1)  # type: ignore[arg-type]
        elif key in ("illuminance_lux", "signal", "battery_pct"):
            out[_Z2M_KEYS[key]] = int(value)  # type: ignore[arg-type]
        else:
            out[_Z2M_KEYS.get(key, key)] = _round(value, 3)
    return out


_SHELLY_SWITCH = (("power_w", "apower", 1), ("voltage_v", "voltage", 1), ("current_a", "current", 3),
                  ("power_factor", "pf", 2))


def _shelly_switch(values: State) -> dict[str, Any]:
    out: dict[str, Any] = {"id": 0, "source": "timer"}
    if "power_on" in values:
        out["output"] = bool(values["power_on"])
    for key, name, digits in _SHELLY_SWITCH:
        if key in values:
            out[name] = _round(values[key], digits)
    if "energy_kwh" in values:
        out["aenergy"] = {"total": round(float(values["energy_kwh"]) * 1000, 3)}  # type: ignore[arg-type]
    if "temperature_c" in values:
        t = float(values["temperature_c"])  # type: ignore[arg-type]
        out["temperature"] = {"tC": round(t, 1), "tF": round(t * 9 / 5 + 32, 1)}
    return out
