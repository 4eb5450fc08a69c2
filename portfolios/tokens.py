"""Personal API tokens: made and revoked by their owner on the pages, shown once, stored as a
SHA-256 hash, sent as ``Authorization: Bearer <token>``.

A token is 32 random bytes (URL-safe) behind a fixed ``tp_`` marker, so a leaked one is easy to
recognise in logs and by secret scanners. A hash without a salt is enough: the token itself
is random and long, not a password to guess.
"""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from portfolios.models import ApiToken

MARKER = "tp_"
PREFIX_LENGTH = 10
MAX_ACTIVE = 20
# Writing last_used_at on every request would turn every API read into a write; once a minute
# is enough to tell a token in use from a forgotten one.
LAST_USED_EVERY = timedelta(minutes=1)


class TokenRefused(Exception):
    """The token cannot be made; the message says why, in words."""


@dataclass(frozen=True)
class NewToken:
    token: ApiToken
    key: str  # shown once, never stored


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def token_create(*, user, name: str) -> NewToken:
    name = (name or "").strip()
    if not name:
        raise TokenRefused("name the token (where it is used), so you can revoke the right one")
    if ApiToken.objects.filter(user=user).active().count() >= MAX_ACTIVE:
        raise TokenRefused(f"you have {MAX_ACTIVE} active tokens: revoke one first")
    key = MARKER + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(user=user, name=name[:100], prefix=key[:PREFIX_LENGTH],
                                    key_hash=_hash(key))
    return NewToken(token=token, key=key)


def token_revoke(*, token: ApiToken) -> ApiToken:
    ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now())
    token.refresh_from_db()
    return token


def user_for_key(key: str):
    """The active user an active token belongs to, or None."""
    if not key.startswith(MARKER):
        return None
    token = (ApiToken.objects.active().select_related("user")
             .filter(key_hash=_hash(key)).first())
    if token is None or not token.user.is_active:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_EVERY:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user


class ApiTokenAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer tp_…``. A wrong, revoked or disabled user's token is a 401
    with the same words whichever it was."""

    keyword = "bearer"

    def authenticate(self, request):
        parts = authentication.get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword.encode():
            return None  # not ours: the session (or nothing) decides
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("Give the token after 'Bearer ', alone.")
        user = user_for_key(parts[1].decode("latin-1"))
        if user is None:
            raise exceptions.AuthenticationFailed("The token is not valid.")
        return user, None

    def authenticate_header(self, request):
        return 'Bearer realm="api"'


class ApiTokenScheme(OpenApiAuthenticationExtension):
    """How the OpenAPI schema (and Swagger UI's Authorize button) describes the token."""

    target_class = ApiTokenAuthentication
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer",
                "description": "A personal token (tp_...) made on the API tokens page."}
