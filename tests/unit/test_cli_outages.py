"""A command whose server is down says which, in one line, with exit status 1: no traceback."""

import os
import subprocess
import sys
from pathlib import Path

from tests.servers import closed_port

ROOT = Path(__file__).resolve().parents[2]


def test_a_command_with_its_database_refusing_says_so_in_one_line(tmp_path: Path) -> None:
    env = {**{key: value for key, value in os.environ.items() if not key.startswith("FLOWPLANE_")},
           "FLOWPLANE_DATABASE__URL": f"postgresql+psycopg://postgres@127.0.0.1:{closed_port()}/test"}
    for args in (["workflows", "runs"], ["workflows", "replay", "--against",
                                         str(ROOT / "workflows" / "user_registration.toml")]):
        ran = subprocess.run([sys.executable, "-c", "from app.cli import main; main()", *args], cwd=tmp_path,
                             env=env, capture_output=True, text=True, timeout=60)
        assert ran.returncode == 1, ran.stderr
        assert ran.stderr.startswith("flowplane: the database is unavailable (") and "Connection refused" in ran.stderr
        assert "Traceback" not in ran.stderr and len(ran.stderr.strip().splitlines()) == 1
