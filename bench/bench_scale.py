"""Scale (issue 14): 100,000 devices against 1,000, and 1,000 rules against 10, in-process.

Devices (`--devices 100000`): a site with an inventory (CSV) of N fire-equipment devices
(extinguishers, hydrants, sprinklers, smoke detectors in 100 zones) whose kinds' heartbeat is 5 min,
the built-in rule pack (every device is watched for silence, offline, battery, pressure ...), every
feature attached and no broker, as bench/profile_ingest.py runs it. Every device reports native
telemetry once per site minute, evenly spread over the minute, for `--rounds` minutes; 1% of them fall
silent after the third minute, so their silence timers expire and tickets are opened. The traffic is
fed through `pipeline.process()` in batches of 500 on a fake clock that follows it, with the timers
ticked after each batch (as replay does). The steady rate is measured over the rounds after the
first two (warm-up: first sight of every device). Each size runs in a child process of its own, so
its peak RSS (VmHWM) is its own; 1,000 devices first, then N, in one run, with the ratio.

Rules (`--rules`): the same traffic (`--rules-devices` devices) through the built-in pack's rules
plus generated ones: 10 rules in all against 1,000 in all, in two variants: `foreign`, 990 rules
on kinds and metrics the traffic does not carry, and `matching`, 990 threshold rules on the
traffic's own kinds and metrics with thresholds it never crosses (so each reading is judged by
many rules, none fires).

    .venv/bin/python bench/bench_scale.py --devices 100000            # devices: 1,000 vs N
    .venv/bin/python bench/bench_scale.py --rules                     # rules: 10 vs 1,000
    .venv/bin/python bench/bench_scale.py --devices 100000 --rules    # both
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SITE_ID = "scale"
KINDS = ("extinguisher", "hydrant", "sprinkler", "smoke_detector")
PERIOD = timedelta(minutes=1)  # every device reports once per site minute
HEARTBEAT = "5m"
SILENT_EVERY = 100  # 1 device in SILENT_EVERY stops after SILENT_AFTER rounds
SILENT_AFTER = 3
WARMUP_ROUNDS = 2
START = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def device_id(i: int) -> str:
    return f"{KINDS[i % len(KINDS)][:3]}-{i:06d}"


def write_inventory(path: Path, n: int) -> None:
    with path.open("w", encoding="utf-8") as f:
        f.write("device_id,kind,zone,location,owner\n")
        for i in range(n):
            f.write(f"{device_id(i)},{KINDS[i % len(KINDS)]},z{i % 100:02d},floor {i % 30},team {i % 7}\n")


def payload(i: int, r: int) -> bytes:
    # A copy of exactly its size: orjson (3.13) hands back a bytes object that keeps a 4 KiB buffer,
    # so a site minute of 100,000 payloads held ~400 MiB of the bench's own (and two of them at the
    # turn of a round), which counted in the gateway's peak RSS. MQTT hands the gateway exact sizes.
    return bytes(memoryview(orjson.dumps(_body(i, r))))


def _body(i: int, r: int) -> dict[str, Any]:
    kind = KINDS[i % len(KINDS)]
    battery = 60 + (i + r) % 40
    if kind == "smoke_detector":
        return {"smoke": False, "battery": battery, "signal": 80 + i % 100}
    if kind == "extinguisher":
        return {"pressure_mpa": round(1.2 + (i % 30) / 100, 2), "battery": battery}
    return {"pressure_mpa": round(0.3 + (i % 20) / 100, 2), "battery": battery}


def rounds(n: int, count: int) -> Iterator[list[tuple[str, bytes, float]]]:
    """Per site minute, one message of each (still reporting) device, evenly spread over the minute."""
    step = PERIOD.total_seconds() / n
    for r in range(count):
        base = (START + r * PERIOD).timestamp()
        yield [(f"sitegate/{SITE_ID}/{device_id(i)}/telemetry", payload(i, r), base + i * step)
               for i in range(n) if r < SILENT_AFTER or i % SILENT_EVERY != SILENT_EVERY - 1]


def write_site(folder: Path, n: int, rules_dir: Path | None) -> Path:
    write_inventory(folder / "assets.csv", n)
    heartbeat = ", ".join(f"{k}: {HEARTBEAT}" for k in KINDS)
    # The rules comparison brings its own rules (BASE_RULES and generated ones) instead of the pack.
    rules = f"rules: [{rules_dir}]\nbuiltin_rules: false\n" if rules_dir else ""
    (folder / "site.yaml").write_text(
        f"site: {{id: {SITE_ID}, name: Scale bench, timezone: UTC, latitude: 31.23, longitude: 121.47}}\n"
        f"storage: {{path: {folder / 'data'}}}\n"
        "inventory: assets.csv\n" + rules +
        "timeseries: {embedded: true}\n"
        f"devices: {{heartbeat: {{{heartbeat}}}}}\n"
        "ingest: {max_clock_skew: 7d}\n", encoding="utf-8")
    return folder / "site.yaml"


def rss_mib() -> tuple[float, float]:
    """(current, peak) resident set size of this process in MiB, from /proc (VmRSS, VmHWM)."""
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0]) / 1024
    if not fields:  # not Linux: ru_maxrss only
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        return peak, peak
    return fields["VmRSS"], fields["VmHWM"]


def run_one(n: int, round_count: int, batch: int, rules_dir: Path | None, profile: Path | None) -> dict[str, Any]:
    """Load the gateway for `n` devices, feed the traffic, return the figures (runs in a child process)."""
    from gateway.app.features import attach_features
    from gateway.core.clock import FakeClock
    from gateway.core.model import Inbound
    from gateway.core.siteload import Overrides, load_site
    from gateway.ingest.gateway import Gateway

    with tempfile.TemporaryDirectory() as tmp:
        site = load_site(write_site(Path(tmp), n, rules_dir), Overrides())
        rss_before_load = rss_mib()[0]
        t0 = time.perf_counter()
        clock = FakeClock(START)
        gw = Gateway(site, clock=clock, connect_mqtt=False)
        features = attach_features(gw)
        gw.start(intake=False)
        load_s = time.perf_counter() - t0
        rss_loaded = rss_mib()[0]
        rule_count = len(features["rules"].consumer.engine._rules) if "rules" in features else 0
        profiler = None
        messages = steady_messages = 0
        steady_s = steady_cpu = 0.0
        for r, traffic in enumerate(rounds(n, round_count)):
            if r == WARMUP_ROUNDS and profile is not None:
                from pyinstrument import Profiler
                profiler = Profiler()
                profiler.start()
            started, cpu_started = time.perf_counter(), time.thread_time()
            for i in range(0, len(traffic), batch):
                chunk = traffic[i:i + batch]
                gw.pipeline.process([Inbound(topic, body, ts) for topic, body, ts in chunk])
                clock.set(max(clock.now(), datetime.fromtimestamp(chunk[-1][2], UTC)))
                gw.pipeline.tick()
            took = time.perf_counter() - started
            took_cpu = time.thread_time() - cpu_started
            messages += len(traffic)
            if r >= WARMUP_ROUNDS:
                steady_messages += len(traffic)
                steady_s += took
                steady_cpu += took_cpu
        fed_s = time.perf_counter() - t0 - load_s
        if profiler is not None and profile is not None:
            profiler.stop()
            profile.write_text(profiler.output_text(show_all=False, processor_options={"filter_threshold": 0.005}))
        t1 = time.perf_counter()
        flushed = features["timeseries"].writer.flush(300)
        flush_s = time.perf_counter() - t1
        tickets = features["tickets"].list(limit=1_000_000)
        silent = sum(1 for t in tickets if t.rule == "health.silent")
        rss_end, peak = rss_mib()
        gw.stop()
    return {"devices": n, "rules": rule_count, "messages": messages, "steady_messages": steady_messages,
            "steady_s": steady_s, "fed_s": fed_s, "flush_s": flush_s, "rate": steady_messages / steady_s,
            "cpu_rate": steady_messages / steady_cpu, "load_s": load_s,
            "rss_start_mib": rss_before_load, "rss_loaded_mib": rss_loaded, "rss_end_mib": rss_end,
            "rss_peak_mib": peak, "tickets": len(tickets), "silent_tickets": silent,
            "silent_expected": n // SILENT_EVERY if round_count > SILENT_AFTER + 5 + 1 else 0, "flushed": flushed}


def child(n: int, args: argparse.Namespace, rules_dir: Path | None = None, tag: str = "") -> dict[str, Any]:
    # --rounds is for the large inventory; smaller ones run enough rounds for ~100k steady messages.
    rounds_ = args.rounds if args.rounds and n >= 20_000 else default_rounds(n)
    cmd = [sys.executable, __file__, "--one", str(n), "--rounds", str(rounds_), "--batch", str(args.batch)]
    if rules_dir is not None:
        cmd += ["--rules-dir", str(rules_dir)]
    if args.profile:
        cmd += ["--profile-to", f"bench-scale-profile-{n}{tag}.txt"]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def show(label: str, r: dict[str, Any]) -> None:
    print(f"{label:>24}: {r['devices']:>7,} devices, {r['rules']:>5} rules | steady {r['rate']:>6,.0f} msg/s wall, "
          f"{r['cpu_rate']:>6,.0f} msg/s per CPU s of the pipeline thread ({r['steady_messages']:,} msgs in "
          f"{r['steady_s']:.1f}s; {r['messages']:,} fed in {r['fed_s']:.1f}s) | load {r['load_s']:.1f}s | "
          f"RSS loaded {r['rss_loaded_mib']:.0f} MiB, end {r['rss_end_mib']:.0f} MiB, peak {r['rss_peak_mib']:.0f} MiB"
          f" | tickets {r['tickets']} (silent {r['silent_tickets']}/{r['silent_expected']}), store flushed "
          f"{r['flushed']} in {r['flush_s']:.1f}s", flush=True)


# -- rules --------------------------------------------------------------------------------------
FOREIGN_KINDS = ("lamp", "lux_sensor", "power_meter", "fire_door", "checkpoint_reader", "handheld_reader")


def rule_yaml(rid: str, kind: str, metric: str, above: float) -> str:
    return (f"  - id: {rid}\n"
            f"    match: {{kind: {kind}, metric: {metric}}}\n"
            f"    condition: {{type: threshold, above: {above}}}\n"
            f"    labels: {{severity: minor, category: fire}}\n"
            f"    annotations: {{title: \"{rid} {{device}}\", description: \"{{device}} reads {{value}}\"}}\n")


# The built-in rules this traffic can use: 10, the rules comparison's baseline (without the pack).
BASE_RULES = ("health.offline", "health.silent", "health.weak_signal", "fire.extinguisher_low",
              "fire.extinguisher_high", "fire.extinguisher_leak", "fire.hydrant_pressure_low",
              "fire.sprinkler_pressure_low", "fire.smoke", "fire.battery_low")


def write_rules(folder: Path, variant: str, extra: int) -> Path:
    """BASE_RULES, copied from the built-in pack, and `extra` generated rules. foreign: on kinds and
    metrics the traffic does not carry (metric_k on lamps, meters ...); matching: on the traffic's
    kinds and metrics, with thresholds it never reaches."""
    import yaml

    from gateway.core.paths import rules_dir
    folder.mkdir(parents=True, exist_ok=True)
    pack = [r for f in sorted(rules_dir().glob("*.yaml"))
            for r in (yaml.safe_load(f.read_text(encoding="utf-8")) or {}).get("rules", [])]
    base = [r for r in pack if r["id"] in BASE_RULES]
    assert len(base) == len(BASE_RULES), "a base rule is missing from the built-in pack"
    (folder / "base.yaml").write_text(yaml.safe_dump({"rules": base}, allow_unicode=True), encoding="utf-8")
    if not extra:
        return folder
    body = ["rules:\n"]
    for k in range(extra):
        if variant == "foreign":
            body.append(rule_yaml(f"bench.foreign_{k:04d}", FOREIGN_KINDS[k % len(FOREIGN_KINDS)],
                                  f"metric_{k % 50}", 1000 + k))
        else:
            kind = KINDS[k % len(KINDS)]
            metric = "battery_pct" if k % 2 else ("signal" if kind == "smoke_detector" else "pressure_mpa")
            body.append(rule_yaml(f"bench.matching_{k:04d}", kind, metric, 1000 + k))
    (folder / "bench.yaml").write_text("".join(body), encoding="utf-8")
    return folder


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--devices", type=int, default=0, help="the large inventory (compared with --base)")
    ap.add_argument("--base", type=int, default=1000, help="the small inventory")
    ap.add_argument("--rules", action="store_true", help="10 rules against 1,000 (two variants)")
    ap.add_argument("--rules-devices", type=int, default=1000, help="devices for the rules comparison")
    ap.add_argument("--rounds", type=int, default=0, help="site minutes of traffic of a large inventory (default "
                                                         "12; a small one runs enough for ~100k steady messages)")
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--profile", action="store_true", help="pyinstrument of the steady rounds, to files")
    ap.add_argument("--one", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--rules-dir", type=Path, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--profile-to", type=Path, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        rounds_ = args.rounds or default_rounds(args.one)
        print(json.dumps(run_one(args.one, rounds_, args.batch, args.rules_dir, args.profile_to)))
        return
    if not args.devices and not args.rules:
        ap.error("give --devices N and/or --rules")
    print(f"python {sys.version.split()[0]}, pid {os.getpid()}, batch {args.batch}", flush=True)
    if args.devices:
        small = child(args.base, args)
        show("small inventory", small)
        large = child(args.devices, args)
        show("large inventory", large)
        print(f"steady rate {args.devices:,} / {args.base:,} devices: {large['rate'] / small['rate']:.2f} "
              f"(target >= 0.90); peak RSS at {args.devices:,}: {large['rss_peak_mib']:.0f} MiB "
              f"(target < 1024 MiB)", flush=True)
    if args.rules:
        with tempfile.TemporaryDirectory() as tmp:
            n = args.rules_devices
            ten = child(n, args, write_rules(Path(tmp) / "r10", "foreign", 0), "-r10")
            show("10 rules", ten)
            results = {}
            for variant in ("foreign", "matching"):
                extra = 1000 - len(BASE_RULES)
                r = child(n, args, write_rules(Path(tmp) / variant, variant, extra), f"-{variant}")
                show(f"1,000 rules ({variant})", r)
                results[variant] = r
            for variant, r in results.items():
                print(f"throughput 1,000 rules ({variant}) / {ten['rules']} rules: {r['rate'] / ten['rate']:.2f} "
                      f"(target >= 0.80)", flush=True)


def default_rounds(n: int) -> int:
    return 12 if n >= 20_000 else max(12, WARMUP_ROUNDS + -(-100_000 // n))


if __name__ == "__main__":
    main()
