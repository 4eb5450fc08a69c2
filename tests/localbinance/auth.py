"""Request authentication: API keys, HMAC-SHA256 signatures, timestamp/recvWindow.

Binance signs `totalParams` = query string followed by the request body, exactly as
sent. python-binance signs the *unencoded* `k=v` join (quoting only `symbol`) while
requests/aiohttp form-encode the body, so values with reserved characters would not
match a raw-bytes check; the decoded join is accepted as well, as the docs note.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import urllib.parse

from . import errors
from .accounts import ApiKey

KEY_FORMAT = re.compile(r"^[A-Za-z0-9]{64}$")
DEFAULT_RECV_WINDOW = 5000
AHEAD_TOLERANCE_MS = 1000


def hmac_hex(secret: str, payload: str) -> str:
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def resolve_key(keys: dict[str, ApiKey], header: str | None) -> ApiKey:
    """-2014 for a missing/malformed key, -2015 for a well-formed unknown one."""
    if header is not None and header in keys:
        return keys[header]
    if not header or not KEY_FORMAT.match(header):
        raise errors.bad_key_format()
    raise errors.rejected_key()


def _strip_signature(raw: str) -> tuple[str, str | None]:
    parts, signature = [], None
    for part in raw.split("&") if raw else []:
        name, _, value = part.partition("=")
        if name == "signature":
            signature = urllib.parse.unquote(value)
        else:
            parts.append(part)
    return "&".join(parts), signature


def _decoded_join(pairs: list[tuple[str, str]]) -> str:
    return "&".join(
        f"{k}={urllib.parse.quote(v) if k == 'symbol' else v}" for k, v in pairs if k != "signature"
    )


def check_signature(secret: str, query: str, body: str, pairs: list[tuple[str, str]]) -> None:
    """Raise -1102 (no signature) or -1022 unless some accepted payload form matches."""
    query_part, sig_q = _strip_signature(query)
    body_part, sig_b = _strip_signature(body)
    signature = sig_b or sig_q
    if not signature:
        raise errors.mandatory("signature")
    candidates = {
        query_part + body_part,
        "&".join(p for p in (query_part, body_part) if p),
        _decoded_join(pairs),
    }
    expected = {hmac_hex(secret, c) for c in candidates}
    if signature.lower() not in expected:
        raise errors.bad_signature()


def check_timestamp(params: dict[str, str], server_ms: int) -> None:
    """-1021 when `timestamp` is ahead by >= 1 s or older than recvWindow."""
    raw = params.get("timestamp", "")
    if not raw.isdigit():
        raise errors.mandatory("timestamp")
    recv_raw = params.get("recvWindow", str(DEFAULT_RECV_WINDOW))
    if not recv_raw.isdigit():
        raise errors.invalid_param("recvWindow")
    timestamp, recv_window = int(raw), int(recv_raw)
    if timestamp >= server_ms + AHEAD_TOLERANCE_MS:
        raise errors.invalid_timestamp(ahead=True)
    if server_ms - timestamp > recv_window:
        raise errors.invalid_timestamp(ahead=False)


def check_ws_signature(secret: str, params: dict) -> None:
    """WebSocket API: HMAC over urlencode(params sorted by key, signature excluded)."""
    signature = params.get("signature")
    if not signature:
        raise errors.mandatory("signature")
    rest = {k: v for k, v in params.items() if k != "signature"}
    candidates = {
        urllib.parse.urlencode(sorted(rest.items())),
        urllib.parse.urlencode(list(rest.items())),
    }
    if str(signature).lower() not in {hmac_hex(secret, c) for c in candidates}:
        raise errors.bad_signature()
