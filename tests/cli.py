"""The `flowplane` command line run in-process with click's runner: the same commands and settings as
the console script, without a new interpreter per call (tests that need the real script still spawn it)."""

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner

from app.cli import cli


@dataclass(frozen=True)
class Ran:
    returncode: int
    stdout: str
    stderr: str


def invoke(args: list[str], env: Mapping[str, str], cwd: Path) -> Ran:
    settings = {key: value for key, value in env.items() if key.startswith("FLOWPLANE_")}
    with contextlib.chdir(cwd):
        result = CliRunner().invoke(cli, args, env=settings, catch_exceptions=False)
    return Ran(result.exit_code, result.stdout, result.stderr)
