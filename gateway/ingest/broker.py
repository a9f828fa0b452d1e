"""Where an MQTT client connects and how it proves who it is: one shape and one set-up for every
client Sitegate runs (ingest, simulator, serial bridge, recorder), so TLS and credentials behave
the same everywhere."""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from gateway.core.site import Site, parse_mqtt_url


def read_secret(env: str | None, file: Path | str | None) -> str | None:
    """A password or token from an env var or a file; the value is never logged."""
    if env and os.environ.get(env):
        return os.environ[env]
    if file:
        return Path(file).read_text(encoding="utf-8").strip()
    return None


@dataclass(frozen=True)
class Broker:
    host: str
    port: int
    tls: bool = False
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    tls_insecure: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    @classmethod
    def from_url(cls, url: str, *, username: str | None = None, password: str | None = None) -> Broker:
        """mqtt://HOST:PORT or mqtts://HOST:PORT (ValueError saying the form), system CA for TLS."""
        host, port, tls = parse_mqtt_url(url)
        return cls(host, port, tls, username=username, password=password)

    @classmethod
    def from_site(cls, site: Site, *, url: str | None = None) -> Broker:
        """The site's broker and credentials; `url` (a command's --mqtt-url) moves it elsewhere."""
        m = site.mqtt
        broker = cls(m.host, m.port, m.tls, ca_file=_str(m.ca_file), cert_file=_str(m.cert_file),
                     key_file=_str(m.key_file), tls_insecure=m.tls_insecure, username=m.username,
                     password=read_secret(m.password_env, m.password_file))
        if url is not None:
            host, port, tls = parse_mqtt_url(url)
            broker = replace(broker, host=host, port=port, tls=tls)
        return broker

    @property
    def url(self) -> str:
        return f"mqtt{'s' if self.tls else ''}://{self.host}:{self.port}"

    def configure(self, client: mqtt.Client) -> None:
        """Credentials and TLS (the server's certificate is always checked unless tls_insecure)."""
        if self.username is not None:
            client.username_pw_set(self.username, self.password)
        if self.tls:
            client.tls_set(ca_certs=self.ca_file, certfile=self.cert_file, keyfile=self.key_file,
                           cert_reqs=ssl.CERT_REQUIRED)
            if self.tls_insecure:
                client.tls_insecure_set(True)

    def aiomqtt_options(self) -> dict[str, Any]:
        """The same for an aiomqtt.Client(**options)."""
        import aiomqtt

        tls = aiomqtt.TLSParameters(ca_certs=self.ca_file, certfile=self.cert_file, keyfile=self.key_file,
                                    cert_reqs=ssl.CERT_REQUIRED) if self.tls else None
        return {"hostname": self.host, "port": self.port, "username": self.username, "password": self.password,
                "tls_params": tls, "tls_insecure": self.tls_insecure if self.tls else None}


def _str(path: Path | None) -> str | None:
    return str(path) if path is not None else None
