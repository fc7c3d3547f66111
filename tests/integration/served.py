"""The app served as `flowplane api` serves it: uvicorn with its proxy headers and access log, in a thread, on a
free local port."""

import contextlib
import threading
import time
from collections.abc import Iterator

import uvicorn

from app.api.app import create_app
from app.bootstrap import Container
from app.cli.serve import uvicorn_config


@contextlib.contextmanager
def serving(container: Container) -> Iterator[str]:
    server = uvicorn.Server(uvicorn_config(create_app(container), container.settings, host="127.0.0.1", port=0))
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
