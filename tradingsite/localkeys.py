"""Keys the embedded profile creates on first start, so `make run` needs no configuration.

A served deployment sets SECRET_KEY and FIELD_ENCRYPTION_KEY in the environment instead.
The files are created once, readable by the owner only, and reused on every start: a new key
on each start would log everybody out and make stored exchange secrets unreadable.
"""

import os
import secrets
from pathlib import Path

from cryptography.fernet import Fernet


def _read_or_create(path: Path, make) -> str:
    if path.exists():
        return path.read_text().strip()
    value = make()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value)
    return value


def local_secret_key(path: Path) -> str:
    return _read_or_create(path, lambda: secrets.token_urlsafe(64))


def local_fernet_key(path: Path) -> str:
    return _read_or_create(path, lambda: Fernet.generate_key().decode())
