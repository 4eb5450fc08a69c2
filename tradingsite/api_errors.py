"""One error body for every API error:
``{"code": "...", "message": "...", "detail": "..."}`` and, for a request that is not valid,
the messages of each field under the field's name (DRF's usual layout, so older clients keep
working): ``{"code": "invalid", "message": "quantity: must be positive",
"quantity": ["must be positive"]}``.

``code`` is a stable word a program can branch on (``invalid``, ``not_authenticated``,
``authentication_failed``, ``permission_denied``, ``not_found``, ``method_not_allowed``,
``throttled``, ``refused``, ``conflict``, ``exchange_rejected``, ``exchange_unavailable``),
``message`` one sentence a person can read. The schema documents the body for every
operation (``document_error_responses``).
"""

from rest_framework.exceptions import APIException
from rest_framework.views import exception_handler as drf_exception_handler

ERROR_STATUSES = {"400": "Not valid: the message, and each field's messages under its name.",
                  "401": "Not signed in, or the token is not valid.",
                  "403": "Not allowed.", "404": "No such object (or not yours).",
                  "429": "Too many requests: wait Retry-After seconds.",
                  "503": "Binance (or another part) cannot be reached now: try again."}
ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "code": {"type": "string", "example": "invalid"},
        "message": {"type": "string", "example": "quantity: must be positive"},
        "detail": {"type": "string", "description": "the message again (older clients)"},
    },
    "required": ["code", "message"],
    # A request that was not valid: each field's messages under the field's name (a list, or
    # for a nested field an object of them).
    "additionalProperties": {},
}


def exception_handler(exc, context):
    response = drf_exception_handler(exc, context)
    if response is not None:
        response.data = error_body(exc, response.data, response.status_code)
    return response


def error_body(exc, data, status_code: int) -> dict:
    errors = _by_field(data)
    # "detail" becomes the message; "non_field_errors" stays too (older clients read it).
    general = errors.pop("detail", []) + errors.get("non_field_errors", [])
    if general:
        message = general[0]
    else:
        message = "; ".join(f"{field}: {messages[0]}" for field, messages in errors.items())
    if not message:
        message = str(data)
    # The field errors as DRF gave them (nested serializers keep their nesting).
    fields = {key: value for key, value in data.items() if key != "detail"} if isinstance(
        data, dict) else {}
    return {**fields, "code": _code(exc, status_code), "message": message, "detail": message}


def _code(exc, status_code: int) -> str:
    if isinstance(exc, APIException):
        codes = exc.get_codes()
        if isinstance(codes, str):
            return codes
        return "invalid"
    return {404: "not_found", 403: "permission_denied"}.get(status_code, "error")


def _by_field(data) -> dict[str, list[str]]:
    """DRF's detail (a string, a list, or nested dicts of lists) as {field: [messages]}."""
    if isinstance(data, dict):
        return {str(key): _messages(value) for key, value in data.items()}
    return {"detail": _messages(data)}


def _messages(value) -> list[str]:
    if isinstance(value, dict):
        return [f"{key}: {message}" for key, inner in value.items()
                for message in _messages(inner)]
    if isinstance(value, list | tuple):
        return [message for item in value for message in _messages(item)]
    return [str(value)]


def document_error_responses(result, generator, request, public):
    """drf-spectacular post-processing: every operation may answer with the error body on
    400, 401, 403, 404 and 429 (a client must handle those whatever the endpoint)."""
    components = result.setdefault("components", {}).setdefault("schemas", {})
    components["Error"] = ERROR_SCHEMA
    reference = {"$ref": "#/components/schemas/Error"}
    for path in result.get("paths", {}).values():
        for operation in path.values():
            responses = operation.setdefault("responses", {})
            for code, words in ERROR_STATUSES.items():
                responses.setdefault(code, {
                    "description": words,
                    "content": {"application/json": {"schema": reference}}})
    return result


class Problem(APIException):
    """An API refusal in words with its own code and status (409 conflict, 503 Binance
    unavailable, ...), rendered in the common error body."""

    def __init__(self, message: str, *, status_code: int = 400, code: str = "refused"):
        self.status_code = status_code
        super().__init__(message, code)


def exchange_problem(error) -> Problem:
    """Binance said no (400), or could not be asked right now (503): in words either way."""
    from marketdata.exchange.errors import DefiniteRejection

    if isinstance(error, DefiniteRejection):
        return Problem(f"Binance: {error}", code="exchange_rejected")
    return Problem(f"Binance: {error}", status_code=503, code="exchange_unavailable")
