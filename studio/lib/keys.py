"""Keys generated at first boot: no default key ever ships with Studio."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Literal


def load_or_create_key(path: Path, *, kind: Literal["django", "fernet"]) -> str:
    """Return the key stored at ``path``, creating it (mode 0600) on first use.

    ``kind="django"`` makes a 50-character URL-safe secret; ``kind="fernet"``
    a urlsafe-base64 32-byte Fernet key (``cryptography.fernet.Fernet``).
    Raises ``OSError`` when the file cannot be read or written.
    """
    if path.exists():
        ensure_private_file(path)  # a key file copied in with loose permissions is tightened to 0600
        return path.read_text().strip()
    if kind == "fernet":
        from cryptography.fernet import Fernet

        value = Fernet.generate_key().decode()
    else:
        value = secrets.token_urlsafe(50)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process won the race: use its key
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(value)
    return value


def ensure_private_dir(path: Path) -> Path:
    """Make ``path`` (an existing folder) readable by its owner only (mode 0700); return it.

    A folder the process does not own (a mounted volume) is left as it is.
    """
    try:
        if path.stat().st_uid == os.getuid() and path.stat().st_mode & 0o077:
            path.chmod(0o700)
    except OSError:
        pass
    return path


def ensure_private_file(path: Path) -> Path:
    """Create ``path`` empty with mode 0600 if missing, or tighten an existing file of ours to 0600; return it.

    Used for the SQLite database before SQLite opens it (SQLite's journal and
    WAL files take the database file's mode). Raises ``OSError`` when the
    folder is not writable and the file does not exist.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        try:
            if path.stat().st_uid == os.getuid() and path.stat().st_mode & 0o077:
                path.chmod(0o600)
        except OSError:
            pass
    else:
        os.close(fd)
    return path
