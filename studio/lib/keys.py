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
