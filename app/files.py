"""Files Flowplane keeps for itself (databases, queue files, mail, reports) are its own user's alone: they hold
password hashes, emails and payloads. New directories are made 0700 and new files 0600; what exists is left
as it is, since it may be shared on purpose."""

import contextlib
import os
from pathlib import Path


def private_dir(path: Path) -> None:
    """Make ``path`` and each missing parent, 0700."""
    missing = []
    for directory in (path, *path.parents):
        if directory.exists():
            break
        missing.append(directory)
    for directory in reversed(missing):
        with contextlib.suppress(FileExistsError):  # another process made it meanwhile
            directory.mkdir(mode=0o700)


def private_file(path: Path) -> None:
    """Create ``path`` empty and 0600 (in a private directory) unless it exists. SQLite opens an empty file as a
    new database, keeps its mode, and gives that mode to the -wal and -shm files it makes beside it."""
    private_dir(path.parent)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
