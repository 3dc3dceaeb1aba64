"""A sightd (or any ASGI) app served by uvicorn in a background thread on a free loopback port,
so tests talk to it over real HTTP with the official SDKs, curl and node."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any


class LiveServer:
    """A sightd app served by uvicorn in a background thread on a free loopback port."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self.settings = app.state.settings
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        sock.close()
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.time() + 30
        while not self.server.started:
            if time.time() > deadline or not self.thread.is_alive():
                raise RuntimeError("sightd test server did not start")
            time.sleep(0.02)
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
