"""The canonical metric vocabulary: every profile maps its ecosystem's fields onto these names.

Rules and dashboards only ever see these names, so a lamp behaves the same whether it speaks
Tasmota, Shelly or Zigbee2MQTT. The ranges are not alarm thresholds (those live in rules); they
bound what a working sensor can physically report, so a value outside them is a broken device or
a garbled payload (a battery at 250 %, a lamp drawing 10^9 W) and is refused at decode time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

MetricType = Literal["number", "bool", "string"]

# Longest string value we accept as a reading; longer text is not a measurement.
MAX_STRING_LENGTH = 256


@dataclass(frozen=True, slots=True)
class Metric:
    name: str
    type: MetricType
    unit: str | None = None
    low: float | None = None  # inclusive sane bounds for numbers
    high: float | None = None
    description: str = ""


def _number(name: str, unit: str | None, low: float, high: float, description: str) -> Metric:
    return Metric(name, "number", unit, low, high, description)


def _bool(name: str, description: str) -> Metric:
    return Metric(name, "bool", None, None, None, description)


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        _bool("power_on", "relay or lamp output is on"),
        _number("current_a", "A", 0.0, 5_000.0, "load current"),
        # Negative power is real on bidirectional meters (export).
        _number("power_w", "W", -1_000_000.0, 1_000_000.0, "active power"),
        _number("voltage_v", "V", 0.0, 50_000.0, "supply or battery voltage"),
        _number("energy_kwh", "kWh", 0.0, 1_000_000_000.0, "energy counter"),
        _number("power_factor", None, -1.0, 1.0, "power factor"),
        # Direct sunlight is about 120,000 lx.
        _number("illuminance_lux", "lx", 0.0, 200_000.0, "illuminance"),
        # Gauge pressure: a little below zero is a vacuum reading, 100 MPa is far beyond any pipe.
        _number("pressure_mpa", "MPa", -0.2, 100.0, "gauge pressure (extinguisher, hydrant, sprinkler)"),
        _number("temperature_c", "°C", -80.0, 300.0, "temperature"),
        _number("humidity_pct", "%", 0.0, 100.0, "relative humidity"),
        _number("battery_pct", "%", 0.0, 100.0, "battery charge"),
        _bool("battery_low", "battery is low"),
        _bool("smoke", "smoke detected"),
        _bool("tamper", "enclosure opened or device removed"),
        _bool("door_open", "door is open"),
        _bool("water_leak", "water detected"),
        _bool("occupancy", "presence or motion detected"),
        # Link quality (Zigbee 0-255), Wi-Fi quality in percent or RSSI in dBm, as the device reports it.
        _number("signal", None, -150.0, 255.0, "link quality or RSSI as reported"),
    )
}


def lookup(metric: str) -> Metric | None:
    """The vocabulary entry for a metric, accepting channel suffixes (`current_a_2` -> `current_a`)."""
    found = METRICS.get(metric)
    if found is not None:
        return found
    base, sep, tail = metric.rpartition("_")
    if sep and tail.isascii() and tail.isdigit():
        return METRICS.get(base)
    return None


def split_channel(metric: str) -> tuple[str, int]:
    """The metric of the first channel and the channel number: `current_a_2` -> (`current_a`, 2),
    `current_a` -> (`current_a`, 1), as the decoder names the channels of a multi-channel device."""
    base, sep, tail = metric.rpartition("_")
    if sep and base and tail.isascii() and tail.isdigit() and int(tail) > 1:
        return base, int(tail)
    return metric, 1


# What people call each metric, in English and Chinese: the dashboard's labels, on every page.
LABELS: dict[str, tuple[str, str]] = {
    "power_on": ("Power", "电源"),
    "current_a": ("Current", "电流"),
    "power_w": ("Power draw", "功率"),
    "voltage_v": ("Voltage", "电压"),
    "energy_kwh": ("Energy", "电能"),
    "power_factor": ("Power factor", "功率因数"),
    "illuminance_lux": ("Light", "照度"),
    "pressure_mpa": ("Pressure", "压力"),
    "temperature_c": ("Temperature", "温度"),
    "humidity_pct": ("Humidity", "湿度"),
    "battery_pct": ("Battery", "电量"),
    "battery_low": ("Battery low", "电量低"),
    "smoke": ("Smoke", "烟雾"),
    "tamper": ("Tamper", "防拆"),
    "door_open": ("Door open", "门开"),
    "water_leak": ("Water leak", "漏水"),
    "occupancy": ("Occupancy", "有人"),
    "signal": ("Signal", "信号"),
}


@dataclass(frozen=True, slots=True)
class Label:
    en: str
    zh: str
    unit: str | None = None


def label(metric: str) -> Label:
    """A metric's name for people in both languages, with its unit: `current_a_2` -> "Current ch.2",
    "电流 2路", "A" (the channels of a multi-channel meter, as the decoder names them). A name outside
    the vocabulary (passed through from native telemetry) is made readable: `flow_rate_m3h` ->
    "Flow rate m3h", the same in both languages, without a unit."""
    known = METRICS.get(metric)
    if known is not None:
        en, zh = LABELS.get(metric, (_readable(metric), _readable(metric)))
        return Label(en, zh, known.unit)
    base, sep, tail = metric.rpartition("_")
    if sep and tail.isascii() and tail.isdigit() and base in METRICS:
        en, zh = LABELS.get(base, (_readable(base), _readable(base)))
        return Label(f"{en} ch.{int(tail)}", f"{zh} {int(tail)}路", METRICS[base].unit)
    return Label(_readable(metric), _readable(metric))


def _readable(name: str) -> str:
    words = name.replace("_", " ").replace("-", " ").split()
    return " ".join(words)[:1].upper() + " ".join(words)[1:] if words else name
