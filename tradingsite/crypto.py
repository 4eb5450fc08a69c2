"""Secrets at rest: Fernet tokens under the keys in FIELD_ENCRYPTION_KEY.

The first key encrypts, every key decrypts (MultiFernet), so a new key can be put in front,
`manage.py rotate_field_key` re-encrypts every stored secret under it, and the old key can then be
dropped. Written on `cryptography` directly: the Django field packages on PyPI are stale or derive
their keys from SECRET_KEY, and this needs only a handful of lines.
"""

from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


class SecretUnreadable(Exception):
    """A stored secret does not decrypt under any configured key."""


@cache
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise ValueError("FIELD_ENCRYPTION_KEY has no key")
    return MultiFernet([Fernet(key.encode()) for key in keys])


def _current() -> MultiFernet:
    return _fernet(tuple(settings.FIELD_ENCRYPTION_KEYS))


def encrypt(plaintext: str) -> str:
    return _current().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _current().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise SecretUnreadable("no configured FIELD_ENCRYPTION_KEY decrypts this secret") from exc


def reencrypt(token: str) -> str:
    """The same secret under the newest key."""
    try:
        return _current().rotate(token.encode()).decode()
    except InvalidToken as exc:
        raise SecretUnreadable("no configured FIELD_ENCRYPTION_KEY decrypts this secret") from exc


def last4(secret: str) -> str:
    return secret[-4:] if len(secret) >= 8 else ""
