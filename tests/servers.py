"""Where the test servers are, and how a test asks for one: skip locally when it is down, fail in CI."""

import os
import shutil
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest

POSTGRES_URL = os.environ.get("FLOWPLANE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("FLOWPLANE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
RABBITMQ_URL = os.environ.get("FLOWPLANE_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672//")
_PORTS = {"postgresql": ("127.0.0.1", 5432), "redis": ("127.0.0.1", 6379), "rabbitmq": ("127.0.0.1", 5672)}

RUN_ID = uuid.uuid4().hex[:10]  # namespaces every schema, key and queue this test run creates


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def require(service: str) -> None:
    if reachable(*_PORTS[service]):
        return
    message = f"{service} is not reachable at {_PORTS[service][0]}:{_PORTS[service][1]}"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def closed_port() -> int:
    """A local TCP port with nothing listening on it: a stand-in for a stopped server."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class OwnRedis:
    """A private redis-server (append-only, fsync always) that a test may stop and restart."""

    @staticmethod
    def available() -> bool:
        return shutil.which("redis-server") is not None

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = closed_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory),
             "--appendonly", "yes", "--appendfsync", "always", "--save", ""],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not reachable("127.0.0.1", self.port):
            if time.monotonic() > deadline:
                raise AssertionError("private redis-server did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()  # SIGTERM: redis flushes the append-only file and exits
            self.process.wait(timeout=10)
            self.process = None


class OwnRabbitMQ:
    """A private RabbitMQ node (its own name, ports and files) that a test may stop and start again
    with `rabbitmqctl stop_app` / `start_app` without disturbing the shared broker."""

    @staticmethod
    def available() -> bool:
        return shutil.which("rabbitmq-server") is not None and shutil.which("rabbitmqctl") is not None

    def __init__(self) -> None:
        import pwd
        import tempfile

        self.directory = Path(tempfile.mkdtemp(prefix="fp-rabbit-", dir="/tmp"))
        self.port, self.dist_port = closed_port(), closed_port()
        self.node = f"fp{RUN_ID}{self.port}@localhost"
        (self.directory / "plugins").write_text("[].\n")
        (self.directory / "rabbitmq.conf").write_text(f"listeners.tcp.local = 127.0.0.1:{self.port}\n")
        try:  # the server drops to the rabbitmq user, which must own its files
            user = pwd.getpwnam("rabbitmq")
            for path in [self.directory, *self.directory.iterdir()]:
                os.chown(path, user.pw_uid, user.pw_gid)
        except KeyError:
            pass
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}//"

    def _ctl(self, *args: str) -> None:
        subprocess.run(["rabbitmqctl", "-n", self.node, *args], check=True, capture_output=True,
                       timeout=120)

    def boot(self) -> None:
        env = {**os.environ, "RABBITMQ_NODENAME": self.node, "RABBITMQ_NODE_PORT": str(self.port),
               "RABBITMQ_DIST_PORT": str(self.dist_port), "RABBITMQ_CONFIG_FILE": str(self.directory / "rabbitmq.conf"),
               "RABBITMQ_MNESIA_BASE": str(self.directory), "RABBITMQ_MNESIA_DIR": str(self.directory / "mnesia"),
               "RABBITMQ_FEATURE_FLAGS_FILE": str(self.directory / "feature_flags"),
               "RABBITMQ_LOG_BASE": str(self.directory), "RABBITMQ_PID_FILE": str(self.directory / "pid"),
               "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.directory / "plugins")}
        self.process = subprocess.Popen(["rabbitmq-server"], env=env, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        self._await(open_=True)

    def _await(self, *, open_: bool) -> None:
        deadline = time.monotonic() + 90
        while reachable("127.0.0.1", self.port) != open_:
            if time.monotonic() > deadline:
                raise AssertionError(f"private RabbitMQ did not {'start' if open_ else 'stop'}")
            time.sleep(0.1)

    def stop_app(self) -> None:
        self._ctl("stop_app")
        self._await(open_=False)

    def start_app(self) -> None:
        self._ctl("start_app")
        self._await(open_=True)

    def halt(self) -> None:
        try:
            self._ctl("stop")
        except (subprocess.SubprocessError, OSError):
            if self.process is not None:
                self.process.kill()
        if self.process is not None:
            self.process.wait(timeout=60)
        shutil.rmtree(self.directory, ignore_errors=True)
