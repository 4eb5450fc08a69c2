"""Log records name the request, user, bot and order they are about; JSON lines on demand."""

import json
import logging

import pytest
from django.test import Client

from bots.services import bot_tick
from orders.services import order_cancel, order_submit
from tradingsite.logs import ContextFilter, JsonFormatter, PlainFormatter, bind, bound


def formatted(formatter, message="hello", **ids) -> str:
    record = logging.LogRecord("orders.services", logging.WARNING, __file__, 1, message, (),
                               None)
    with bind(**ids):
        ContextFilter().filter(record)
    return formatter.format(record)


def test_a_json_line_carries_the_bound_ids():
    line = json.loads(formatted(JsonFormatter(), "sent", bot_id=3, order_id=12))

    assert line["message"] == "sent"
    assert (line["level"], line["logger"]) == ("WARNING", "orders.services")
    assert (line["bot_id"], line["order_id"]) == (3, 12)
    assert "request_id" not in line


def test_plain_text_lists_the_ids_after_the_message():
    text = formatted(PlainFormatter("%(message)s"), "sent", order_id=12)

    assert text == "sent [order_id=12]"


@pytest.mark.django_db
def test_a_request_gets_an_id_echoed_back_and_a_sane_given_one_is_kept(trader):
    client = Client()
    client.force_login(trader)

    fresh = client.get("/healthz")
    given = client.get("/healthz", HTTP_X_REQUEST_ID="trace-42")
    insane = client.get("/healthz", HTTP_X_REQUEST_ID="a b\nc")

    assert len(fresh["X-Request-ID"]) == 32
    assert given["X-Request-ID"] == "trace-42"
    assert insane["X-Request-ID"] != "a b\nc"


def test_ids_come_from_the_keyword_arguments_and_never_break_the_call(caplog):
    class Order:
        pk, bot_id = 12, 3

    @bound(order_id=lambda kw: kw["order"].pk, bot_id=lambda kw: kw["order"].bot_id,
           broken=lambda kw: kw["missing"])
    def submit(*, order):
        logging.getLogger("orders.services").warning("sent")
        return "done"

    caplog.handler.addFilter(ContextFilter())
    with caplog.at_level(logging.WARNING):
        assert submit(order=Order()) == "done"

    assert caplog.records[-1].ids == {"bot_id": 3, "order_id": 12}


def test_the_tick_and_the_order_workflows_bind_their_ids():
    for workflow in (bot_tick, order_submit, order_cancel):
        assert hasattr(workflow, "__wrapped__"), workflow.__name__  # @logs.bound
