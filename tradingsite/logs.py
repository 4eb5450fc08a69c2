"""Log records that say which request, user, bot and order they are about, as JSON lines
(``LOG_FORMAT=json``, for a log pipeline) or plain text (the default, for a terminal).

The ids live in a context variable: the request middleware binds the request's id (the
caller's ``X-Request-ID`` when it is sane, else a new one, echoed in the response), the bot's
tick binds the bot, and order workflows bind the order, so every record written meanwhile,
by any module, carries them.
"""

import contextlib
import functools
import json
import logging
import re
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime

from asgiref.sync import iscoroutinefunction, markcoroutinefunction

IDS = ("request_id", "user_id", "bot_id", "order_id")
_bound: ContextVar[dict | None] = ContextVar("log_ids", default=None)
_request: ContextVar = ContextVar("log_request", default=None)
SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


@contextlib.contextmanager
def bind(**ids):
    """Every record logged inside carries these ids (nested binds add to the outer ones)."""
    token = _bound.set({**(_bound.get() or {}), **ids})
    try:
        yield
    finally:
        _bound.reset(token)


def bound(**getters):
    """Decorator: bind ids computed from the keyword arguments, e.g.
    ``@bound(order_id=lambda kw: kw["order"].pk)``."""
    def decorate(function):
        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            ids = {}
            for name, getter in getters.items():
                with contextlib.suppress(Exception):  # a log id must never break the call
                    ids[name] = getter(kwargs)
            with bind(**ids):
                return function(*args, **kwargs)
        return wrapper
    return decorate


def current_request():
    """The request being handled in this context (None in a task, the stream, a command)."""
    return _request.get()


def current_ids() -> dict:
    ids = dict(_bound.get() or {})
    request = _request.get()
    user = getattr(request, "user", None) if request is not None else None
    if getattr(user, "is_authenticated", False):  # resolved late: DRF's token user counts
        ids.setdefault("user_id", user.pk)
    return {name: ids[name] for name in IDS if ids.get(name) is not None}


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.ids = current_ids()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {"time": datetime.fromtimestamp(record.created, UTC).isoformat(),
                "level": record.levelname, "logger": record.name,
                "message": record.getMessage(), **getattr(record, "ids", {})}
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


class PlainFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        ids = getattr(record, "ids", {})
        if ids:
            text += " [" + " ".join(f"{name}={value}" for name, value in ids.items()) + "]"
        return text


class RequestIdMiddleware:
    """Binds the request (its id and, late, its user) to the log records written while it is
    handled, and answers with ``X-Request-ID`` so a client can quote it. The audit log reads
    the same request (``current_request``) for who acted and from where."""

    sync_capable = async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request):
        if iscoroutinefunction(self):
            return self._acall(request)
        request_id, token = self._enter(request)
        try:
            with bind(request_id=request_id):
                response = self.get_response(request)
        finally:
            _request.reset(token)
        response["X-Request-ID"] = request_id
        return response

    async def _acall(self, request):
        request_id, token = self._enter(request)
        try:
            with bind(request_id=request_id):
                response = await self.get_response(request)
        finally:
            _request.reset(token)
        response["X-Request-ID"] = request_id
        return response

    @staticmethod
    def _enter(request):
        given = request.headers.get("X-Request-ID", "")
        request_id = given if SANE_REQUEST_ID.match(given) else uuid.uuid4().hex
        return request_id, _request.set(request)
