"""Binance error payloads ({"code": int, "msg": str}) with their HTTP status.

Message texts are verbatim from Binance's errors.md (see the shared catalog in
shared/data/binance/errors/); clients match on them, so they must not drift.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class BinanceError(Exception):
    """Raised by handlers; the server turns it into the JSON error response."""

    code: int
    msg: str
    status: int = 400
    headers: dict[str, str] | None = None

    def payload(self) -> dict:
        return {"code": self.code, "msg": self.msg}


# --- texts shared by spot and futures -------------------------------------------------
MSG_TIMESTAMP_WINDOW = "Timestamp for this request is outside of the recvWindow."
MSG_TIMESTAMP_AHEAD = "Timestamp for this request was 1000ms ahead of the server's time."
MSG_BAD_SIGNATURE = "Signature for this request is not valid."
MSG_BAD_KEY_FORMAT = "API-key format invalid."
MSG_REJECTED_KEY = "Invalid API-key, IP, or permissions for action."
MSG_INVALID_SYMBOL = "Invalid symbol."
MSG_UNKNOWN_ORDER = "Unknown order sent."
MSG_NO_SUCH_ORDER = "Order does not exist."
MSG_INSUFFICIENT_BALANCE = "Account has insufficient balance for requested action."
MSG_DUPLICATE_ORDER = "Duplicate order sent."
MSG_TIMEOUT = (
    "Timeout waiting for response from backend server. Send status unknown; "
    "execution status unknown."
)
MSG_LISTEN_KEY = "This listenKey does not exist."


def invalid_timestamp(ahead: bool) -> BinanceError:
    return BinanceError(-1021, MSG_TIMESTAMP_AHEAD if ahead else MSG_TIMESTAMP_WINDOW)


def bad_signature() -> BinanceError:
    return BinanceError(-1022, MSG_BAD_SIGNATURE)


def bad_key_format() -> BinanceError:
    return BinanceError(-2014, MSG_BAD_KEY_FORMAT, status=401)


def rejected_key() -> BinanceError:
    return BinanceError(-2015, MSG_REJECTED_KEY, status=401)


def invalid_symbol() -> BinanceError:
    return BinanceError(-1121, MSG_INVALID_SYMBOL)


def mandatory(name: str) -> BinanceError:
    return BinanceError(
        -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed."
    )


def either(first: str, second: str) -> BinanceError:
    return BinanceError(
        -1102, f"Param '{first}' or '{second}' must be sent, but both were empty/null!"
    )


def illegal_chars(name: str, legal: str) -> BinanceError:
    return BinanceError(
        -1100, f"Illegal characters found in parameter '{name}'; legal range is '{legal}'."
    )


def bad_precision(name: str) -> BinanceError:
    return BinanceError(-1111, f"Parameter '{name}' has too much precision.")


def invalid_param(name: str) -> BinanceError:
    return BinanceError(-1130, f"Data sent for parameter '{name}' is not valid.")


def filter_failure(filter_type: str) -> BinanceError:
    return BinanceError(-1013, f"Filter failure: {filter_type}")


def new_order_rejected(msg: str) -> BinanceError:
    return BinanceError(-2010, msg)


def unknown_order() -> BinanceError:
    return BinanceError(-2011, MSG_UNKNOWN_ORDER)


def no_such_order() -> BinanceError:
    return BinanceError(-2013, MSG_NO_SUCH_ORDER)


def invalid_listen_key() -> BinanceError:
    return BinanceError(-1125, MSG_LISTEN_KEY)


def invalid_interval() -> BinanceError:
    return BinanceError(-1120, "Invalid interval.")


def invalid_side() -> BinanceError:
    return BinanceError(-1117, "Invalid side.")


def invalid_order_type() -> BinanceError:
    return BinanceError(-1116, "Invalid orderType.")


def invalid_tif() -> BinanceError:
    return BinanceError(-1115, "Invalid timeInForce.")


def tif_not_required() -> BinanceError:
    return BinanceError(-1114, "TimeInForce parameter sent when not required.")


def timeout_unknown() -> BinanceError:
    return BinanceError(-1007, MSG_TIMEOUT, status=503)


def too_much_weight(limit: int, interval: str, retry_after: int) -> BinanceError:
    msg = (
        f"Too much request weight used; current limit is {limit} request weight per "
        f"{interval}. Please use WebSocket Streams for live updates to avoid polling the API."
    )
    return BinanceError(-1003, msg, status=429, headers={"Retry-After": str(retry_after)})


def too_many_orders(limit: int, interval: str, retry_after: int) -> BinanceError:
    msg = f"Too many new orders; current limit is {limit} orders per {interval}."
    return BinanceError(-1015, msg, status=429, headers={"Retry-After": str(retry_after)})


def ip_banned(until_ms: int, retry_after: int) -> BinanceError:
    msg = (
        f"Way too much request weight used; IP banned until {until_ms}. "
        "Please use WebSocket Streams for live updates to avoid bans."
    )
    return BinanceError(-1003, msg, status=418, headers={"Retry-After": str(retry_after)})


# --- USD-M futures specific codes (Binance derivatives error-code page) -------------------
def futures_error(code: int, msg: str) -> BinanceError:
    return BinanceError(code, msg)


FUTURES_MESSAGES = {
    -1111: "Precision is over the maximum defined for this asset.",
    -2019: "Margin is insufficient.",
    -2021: "Order would immediately trigger.",
    -2022: "ReduceOnly Order is rejected.",
    -4003: "Quantity less than or equal to zero.",
    -4004: "Quantity less than min quantity.",
    -4005: "Quantity greater than max quantity.",
    -4013: "Price less than min price.",
    -4014: "Price not increased by tick size.",
    -4015: "Client order id is not valid.",
    -4016: "Price is higher than mark price multiplier cap.",
    -4023: "Quantity not increased by step size.",
    -4024: "Price is lower than mark price multiplier floor.",
    -4028: "Leverage {} is not valid",
    -4046: "No need to change margin type.",
    -4116: "ClientOrderId is duplicated.",
    -4120: (
        "Order type not supported for this endpoint. Please use the Algo Order API "
        "endpoints instead."
    ),
    -4164: "Order's notional must be no smaller than {} (unless you choose reduce only).",
    -5022: (
        "Due to the order could not be executed as maker, the Post Only order will be "
        "rejected. The order will not be recorded in the order history"
    ),
}


def futures(code: int, *args: object) -> BinanceError:
    return BinanceError(code, FUTURES_MESSAGES[code].format(*args))
