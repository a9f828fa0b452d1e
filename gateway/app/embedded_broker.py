"""The zero-setup MQTT broker for `sitegate demo` (amqtt, in its own thread and event loop).

Demo only: amqtt speaks MQTT 3.1.1, keeps no session for anonymous clients and drops unacked
messages on disconnect. A site runs mosquitto (see the README's broker section).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import warnings
from typing import Any

log = logging.getLogger("sitegate.broker")


def port_free(host: str, port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
        return True


def pick_port(host: str, preferred: int) -> int:
    if port_free(host, preferred):
        return preferred
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class EmbeddedBroker:
    def __init__(self, host: str = "127.0.0.1", port: int = 1883) -> None:
        self.host = host
        self.port = pick_port(host, port)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._broker: Any = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="sitegate-broker", daemon=True)

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> None:
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError("the embedded MQTT broker did not start in time")
        if self._error is not None:
            raise RuntimeError(f"the embedded MQTT broker failed to start: {self._error}")

    def _run(self) -> None:
        from amqtt.broker import Broker

        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)  # amqtt looks the loop up from its own thread
        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}",
                                      "max_connections": 200}},
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
        }
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self._broker = Broker(config, loop=self._loop)
        try:
            self._loop.run_until_complete(self._broker.start())
        except BaseException as exc:  # reported to start()
            self._error = exc
            self._ready.set()
            return
        log.info("embedded MQTT broker (amqtt, demo only) on %s", self.url)
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(self._broker.shutdown())
        self._loop.close()

    def stop(self, timeout: float = 5.0) -> None:
        if self._loop is not None and self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout)
