"""Run real ``flowplane`` processes and wait on them by polling, never by sleeping blindly."""

import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar

import httpx

from tests.conftest import TEST_ENV

FLOWPLANE = str(Path(sys.executable).with_name("flowplane"))
T = TypeVar("T")


def environment(**extra: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FLOWPLANE_") or k.startswith("FLOWPLANE_TEST")}
    return {**clean, **TEST_ENV, **extra}


def start(args: list[str], cwd: Path, env: Mapping[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as sink:
        return subprocess.Popen([FLOWPLANE, *args], cwd=cwd, env=dict(env), stdout=sink, stderr=subprocess.STDOUT)


def poll(check: Callable[[], T | None], *, timeout: float, what: str) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result is not None:
            return result
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def wait_until_serving(base_url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    def answered() -> bool | None:
        if process.poll() is not None:
            raise AssertionError(f"process exited with {process.returncode}:\n{log.read_text()}")
        try:
            return httpx.get(f"{base_url}/health", timeout=1).status_code == 200 or None
        except httpx.TransportError:
            return None

    poll(answered, timeout=30, what=f"{base_url}/health")
