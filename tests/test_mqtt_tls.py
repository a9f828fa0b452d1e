"""The gateway against a real mosquitto with TLS and a password file (certificates made with openssl).

Proves: mqtts:// with a CA file and username/password connects and ingests; a wrong password does
not connect, says why in /api/health, and retries at reconnect_max_s (no retry storm); a broker that
requires a client certificate accepts the gateway's.
"""

from __future__ import annotations

import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from tests.support.gateway_proc import GatewayProcess, wait_for
from tests.support.mosquitto import MOSQUITTO, free_port, wait_port

USER, PASSWORD = "sitegate-gw", "correct horse battery staple"


@dataclass(frozen=True)
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A CA, a server certificate for 127.0.0.1 and a client certificate (P-256 keys: quick to make)."""
    d = tmp_path_factory.mktemp("pki")
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    _openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
             "-subj", "/CN=Sitegate Test CA", "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
    for name, cn, ext in (
            ("server", "127.0.0.1", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n"),
            ("client", "sitegate-gw", "extendedKeyUsage=clientAuth\n")):
        (d / f"{name}.ext").write_text(ext)
        _openssl("req", "-new", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={cn}", cwd=d)
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                 "-out", f"{name}.crt", "-days", "2", "-extfile", f"{name}.ext", cwd=d)
    return Pki(d / "ca.crt", d / "server.crt", d / "server.key", d / "client.crt", d / "client.key")


@dataclass
class TlsBroker:
    port: int
    dir: Path
    proc: subprocess.Popen[bytes]

    @property
    def log(self) -> str:
        path = self.dir / "mosquitto.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def connections(self) -> int:
        return self.log.count("New connection from")



@contextmanager
def tls_broker(dir: Path, pki: Pki, *, require_certificate: bool) -> Iterator[TlsBroker]:
    """mosquitto with one TLS listener on a free loopback port, no anonymous access, a password file."""
    dir.mkdir(parents=True, exist_ok=True)
    passwords = dir / "passwords"
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(passwords), USER, PASSWORD], check=True,
                   capture_output=True)
    port = free_port()
    conf = dir / "mosquitto.conf"
    conf.write_text(
        "user root\n"  # as root, mosquitto would otherwise drop to a user that cannot read our temp dir
        "persistence false\n"
        f"log_dest file {dir}/mosquitto.log\n"
        "log_type error\nlog_type warning\nlog_type notice\nlog_type information\n"
        "allow_anonymous false\n"
        f"password_file {passwords}\n"
        f"listener {port} 127.0.0.1\n"
        f"cafile {pki.ca}\ncertfile {pki.server_cert}\nkeyfile {pki.server_key}\n"
        f"require_certificate {'true' if require_certificate else 'false'}\n")
    proc = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        yield TlsBroker(port, dir, proc)
    finally:
        proc.terminate()
        proc.wait(10)


def write_tls_site(dir: Path, port: int, mqtt: str) -> Path:
    """A site file whose mqtt section is `mqtts://127.0.0.1:PORT` plus the given flow-mapping entries."""
    dir.mkdir(parents=True, exist_ok=True)
    site = dir / "site.yaml"
    site.write_text(
        "site: {id: tls, name: TLS 测试, timezone: Asia/Shanghai}\n"
        f"mqtt: {{url: 'mqtts://127.0.0.1:{port}', {mqtt}}}\n"
        f"storage: {{path: {dir / 'data'}}}\n"
        "timeseries: {embedded: false}\n")
    return site


class Gateway(GatewayProcess):
    """`sitegate run` as a process, started without waiting for the broker (it may refuse us)."""

    def start_only(self) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gateway", "run", "--config", str(self.site),
                 "--http", f"127.0.0.1:{self.port}"], stdout=log, stderr=log, env=self.env)
        wait_for(self._serving, 30, "the gateway's HTTP API")

    def _serving(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:  # it will not come up: fail now, with its own words
            raise RuntimeError(f"sitegate run exited with {self.proc.returncode}:\n"
                               + self.log.read_text(errors="replace")[-3000:])
        return "status" in self.get("/api/health")


@contextmanager
def running(site: Path, env: dict[str, str] | None = None) -> Iterator[Gateway]:
    gw = Gateway(site, env=env)
    gw.start_only()
    try:
        yield gw
    finally:
        code = gw.stop()
        assert code == 0, (site.parent / "gateway.log").read_text(errors="replace")


def tls_client(broker: TlsBroker, pki: Pki, *, client_cert: bool) -> tuple[mqtt.Client, bool]:
    """A paho client over TLS as our user, and whether the broker accepted it (waits for the answer)."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"test-{time.monotonic_ns()}")
    client.username_pw_set(USER, PASSWORD)
    client.tls_set(ca_certs=str(pki.ca), certfile=str(pki.client_cert) if client_cert else None,
                   keyfile=str(pki.client_key) if client_cert else None, cert_reqs=ssl.CERT_REQUIRED)
    answered, accepted = threading.Event(), threading.Event()

    def on_connect(_c: mqtt.Client, _u: object, _f: object, reason: object, _p: object) -> None:
        if not getattr(reason, "is_failure", True):
            accepted.set()
        answered.set()

    client.on_connect = on_connect
    client.on_disconnect = lambda *_args: answered.set()
    try:
        client.connect("127.0.0.1", broker.port)
    except (ssl.SSLError, OSError):  # TLS 1.2 fails the handshake here; TLS 1.3 right after it
        return client, False
    client.loop_start()
    answered.wait(10)
    return client, accepted.is_set()


def publish(broker: TlsBroker, pki: Pki, topic: str, payload: bytes, *, client_cert: bool = False) -> None:
    """One QoS1 message over TLS as our user; waits for the broker's PUBACK."""
    client, ok = tls_client(broker, pki, client_cert=client_cert)
    try:
        assert ok, f"the test publisher could not connect: {broker.log}"
        client.publish(topic, payload, qos=1).wait_for_publish(10)
    finally:
        client.disconnect()
        client.loop_stop()


def test_tls_with_password_connects_and_ingests(tmp_path: Path, pki: Pki) -> None:
    (tmp_path / "pw").write_text(PASSWORD + "\n")
    with tls_broker(tmp_path / "broker", pki, require_certificate=False) as broker:
        site = write_tls_site(tmp_path / "gw", broker.port,
                              f"ca_file: '{pki.ca}', username: {USER}, password_file: '{tmp_path / 'pw'}'")
        with running(site) as gw:
            wait_for(lambda: gw.get("/api/health")["mqtt"] == "connected", 20, "TLS connection")
            publish(broker, pki, "sitegate/tls/ext-b1-1f-01/telemetry", b'{"pressure_mpa": 1.22}')
            wait_for(lambda: any(d["id"] == "ext-b1-1f-01" for d in gw.get("/api/devices")), 10, "the device")
            (device,) = [d for d in gw.get("/api/devices") if d["id"] == "ext-b1-1f-01"]
            assert device["metrics"]["pressure_mpa"] == 1.22
        log = (tmp_path / "gw" / "gateway.log").read_text(errors="replace")
        assert PASSWORD not in log and PASSWORD not in broker.log
        # The broker saw the gateway log in as our user with a persistent session (c0) over TLS.
        assert f"as sitegate-tls (p2, c0, k30, u'{USER}')" in broker.log


def test_wrong_password_does_not_connect_says_why_and_backs_off(tmp_path: Path, pki: Pki) -> None:
    with tls_broker(tmp_path / "broker", pki, require_certificate=False) as broker:
        site = write_tls_site(tmp_path / "gw", broker.port,
                              f"ca_file: '{pki.ca}', username: {USER}, password_env: MQTT_PW, "
                              "reconnect_min_s: 1, reconnect_max_s: 2")
        with running(site, env={"MQTT_PW": "wrong password"}) as gw:
            wait_for(lambda: "not authori" in broker.log, 15, "the broker to refuse the first attempt")
            health = gw.get("/api/health")
            assert health["mqtt"] == "disconnected" and health["status"] == "degraded"
            assert any("broker refused the connection: Not authorized" in p for p in health["problems"]), health
            before = broker.connections()
            window = 6.0
            time.sleep(window)  # observing a rate: the number of attempts in a fixed window is the measurement
            attempts = broker.connections() - before
            print(f"connection attempts in {window:.0f}s after a refusal: {attempts}")
            # Refused credentials are retried once a minute (not every reconnect_max_s=2 s): at most
            # the one attempt already under way in the window. A storm would be hundreds.
            assert attempts <= 1, broker.log
            assert gw.get("/api/health")["mqtt"] == "disconnected"
        log = (tmp_path / "gw" / "gateway.log").read_text(errors="replace")
        assert "check mqtt.username and the password" in log and "retrying every 60s" in log
        assert "wrong password" not in log


def test_client_certificate_is_accepted_when_the_broker_requires_one(tmp_path: Path, pki: Pki) -> None:
    with tls_broker(tmp_path / "broker", pki, require_certificate=True) as broker:
        # Without a client certificate the broker ends the TLS handshake: the requirement is real.
        client, accepted = tls_client(broker, pki, client_cert=False)
        client.loop_stop()
        assert not accepted
        site = write_tls_site(tmp_path / "gw", broker.port,
                              f"ca_file: '{pki.ca}', cert_file: '{pki.client_cert}', "
                              f"key_file: '{pki.client_key}', username: {USER}, password_env: MQTT_PW")
        with running(site, env={"MQTT_PW": PASSWORD}) as gw:
            wait_for(lambda: gw.get("/api/health")["mqtt"] == "connected", 20, "TLS connection with client cert")
            publish(broker, pki, "sitegate/tls/hydrant-ring-main/telemetry", b'{"pressure_mpa": 0.32}',
                    client_cert=True)
            wait_for(lambda: any(d["id"] == "hydrant-ring-main" for d in gw.get("/api/devices")), 10, "the device")
