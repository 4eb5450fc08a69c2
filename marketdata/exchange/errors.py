"""What a failed Binance call means, so callers never have to read error codes.

Three kinds, because each asks for a different reaction:
- DefiniteRejection: Binance looked at the request and said no (filters, balance, unknown
  order, bad key). Retrying cannot help; fix the input. Never retried.
- RetryableError: the request did not take effect and may be sent again, after a pause
  (429/418 with Retry-After, -1021 after a clock resync, 503 "Service Unavailable", -1008).
- UnknownOutcome: an order may or may not exist (-1006, -1007, a timeout, a dropped connection,
  other 5xx while placing). It is resolved by querying by clientOrderId, never by sending again.
"""

import asyncio

import requests
from aiohttp import ClientError
from binance.exceptions import BinanceAPIException, BinanceRequestException

# 503 texts on USD-M with different meanings (Binance futures general-info).
DEFINITE_FAILURE_TEXTS = ("Service Unavailable", "Internal error; unable to process your request")
UNKNOWN_OUTCOME_CODES = {-1006, -1007}
RETRYABLE_CODES = {-1008, -1021}
RATE_LIMIT_CODES = {-1003, -1015}


class ExchangeError(Exception):
    def __init__(self, message: str, *, code: int | None = None, http_status: int | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.http_status = http_status

    def __str__(self):
        prefix = f"Binance error {self.code}: " if self.code is not None else ""
        return prefix + self.message


class DefiniteRejection(ExchangeError):
    pass


class RetryableError(ExchangeError):
    pass


class ClockSkew(RetryableError):
    """-1021: our timestamp is outside recvWindow; resend after resyncing the clock offset."""


class RateLimited(RetryableError):
    def __init__(self, message: str, *, retry_after: float, banned: bool = False, **kwargs):
        super().__init__(message, **kwargs)
        self.retry_after = retry_after
        self.banned = banned


class UnknownOutcome(ExchangeError):
    pass


class CircuitOpen(RetryableError):
    """Too many recent failures against this venue: calls are refused until a probe succeeds."""


def retry_after_seconds(headers, default: float = 1.0) -> float:
    try:
        return max(float(headers.get("Retry-After")), 0.0)
    except (TypeError, ValueError):
        return default


def _from_api_exception(exc: BinanceAPIException, *, placing_order: bool) -> ExchangeError:
    status, code, message = exc.status_code, exc.code, exc.message
    details = {"code": code, "http_status": status}
    if status in (418, 429) or code in RATE_LIMIT_CODES:
        headers = getattr(exc.response, "headers", {}) or {}
        return RateLimited(message, retry_after=retry_after_seconds(headers),
                           banned=status == 418, **details)
    if code == -1021:
        return ClockSkew(message, **details)
    if code in UNKNOWN_OUTCOME_CODES:
        return UnknownOutcome(message, **details) if placing_order else RetryableError(
            message, **details)
    if code in RETRYABLE_CODES:
        return RetryableError(message, **details)
    if status >= 500:
        if any(text in message for text in DEFINITE_FAILURE_TEXTS):
            return RetryableError(message, **details)
        return UnknownOutcome(message, **details) if placing_order else RetryableError(
            message, **details)
    return DefiniteRejection(message, **details)


TRANSPORT_ERRORS = (requests.RequestException, ClientError, asyncio.TimeoutError, TimeoutError,
                    ConnectionError, BinanceRequestException)


def classify(exc: BaseException, *, placing_order: bool = False) -> ExchangeError | None:
    """The ExchangeError a python-binance or transport exception stands for (None: not ours)."""
    if isinstance(exc, ExchangeError):
        return exc
    if isinstance(exc, BinanceAPIException):
        return _from_api_exception(exc, placing_order=placing_order)
    if isinstance(exc, TRANSPORT_ERRORS):
        message = f"{type(exc).__name__}: {exc}"
        return UnknownOutcome(message) if placing_order else RetryableError(message)
    return None
