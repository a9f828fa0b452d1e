"""`sitegate demo`: embedded broker + gateway + traffic, zero set-up."""

from __future__ import annotations

import base64
import logging
import threading
import time
from pathlib import Path

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from gateway.api.app import create_app
from gateway.config import Overrides, Site, load_site
from gateway.embedded_broker import EmbeddedBroker
from gateway.httpserver import run_http
from gateway.paths import demo_site_dir
from gateway.service import Gateway
from gateway.wiring import attach_features

log = logging.getLogger("sitegate.demo")


def demo_site(http: str | None, data: str | None, mqtt_url: str) -> Site:
    site_file = demo_site_dir() / "site.yaml"
    overrides = Overrides.from_env(mqtt_url=mqtt_url, http=http, data=data)
    return load_site(site_file if site_file.exists() else None, overrides)


def play_samples(url_port: int, stop: threading.Event) -> None:
    """Publish the bundled real-world captures so the API has something to show."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="sitegate-demo-player")
    client.connect("127.0.0.1", url_port)
    client.loop_start()
    for line in (demo_site_dir() / "samples.jsonl").read_text(encoding="utf-8").splitlines():
        if stop.is_set():
            break
        if not line.strip():
            continue
        rec = orjson.loads(line)
        payload = base64.b64decode(rec["payload_b64"]) if "payload_b64" in rec else rec["payload"].encode()
        client.publish(rec["topic"], payload, qos=1)
        time.sleep(0.05)
    client.disconnect()
    client.loop_stop()


def run_demo(http: str | None = None, data: str | None = None) -> None:
    broker = EmbeddedBroker()
    broker.start()
    data_dir = data or str(Path.cwd() / "data" / "demo")
    site = demo_site(http, data_dir, broker.url)
    gw = Gateway(site)
    attach_features(gw)
    app = create_app(gw)
    stop = threading.Event()
    gw.start()
    player = threading.Thread(target=play_samples, args=(broker.port, stop), daemon=True)
    player.start()
    print(f"\n  Sitegate demo is running: open http://{site.http.host}:{site.http.port}/  (Ctrl-C stops)\n",
          flush=True)
    try:
        run_http(app, site.http.host, site.http.port)
    finally:
        stop.set()
        gw.stop()
        broker.stop()
