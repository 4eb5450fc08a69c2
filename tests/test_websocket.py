"""The user's event socket: Channels' communicator, then a real socket to a running daphne."""

import asyncio
import json
import re
from pathlib import Path

import pytest
from channels.testing import WebsocketCommunicator
from django.test import Client
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from tradingsite.asgi import application
from tradingsite.events import EVENT_TYPES, send_to_user

pytestmark = pytest.mark.django_db(transaction=True)


def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}"


def communicator(headers: list[tuple[bytes, bytes]]) -> WebsocketCommunicator:
    return WebsocketCommunicator(application, "/ws/events/", headers=headers)


def test_a_connected_trader_receives_what_is_sent_to_their_group(trader, other_trader):
    my_cookie, their_cookie = session_cookie(trader).encode(), session_cookie(other_trader).encode()

    async def scenario():
        mine = communicator([(b"cookie", my_cookie), (b"origin", b"http://127.0.0.1")])
        theirs = communicator([(b"cookie", their_cookie), (b"origin", b"http://127.0.0.1")])
        assert (await mine.connect())[0]
        assert (await theirs.connect())[0]
        await asyncio.to_thread(send_to_user, user_id=trader.pk, event_type="order.update",
                                data={"id": 7})
        assert await mine.receive_json_from(timeout=5) == {"type": "order.update",
                                                           "data": {"id": 7}}
        assert await theirs.receive_nothing(timeout=0.3)
        await mine.disconnect()
        await theirs.disconnect()

    asyncio.run(scenario())


def test_an_anonymous_connection_is_refused():
    async def scenario():
        connected, code = await communicator([(b"origin", b"http://127.0.0.1")]).connect()
        assert not connected
        assert code == 4401

    asyncio.run(scenario())


def test_a_connection_from_a_foreign_origin_is_refused(trader):
    cookie = session_cookie(trader).encode()

    async def scenario():
        connected, _ = await communicator([(b"cookie", cookie),
                                           (b"origin", b"https://evil.example")]).connect()
        assert not connected

    asyncio.run(scenario())


def test_a_real_socket_to_the_running_server_receives_the_users_events(asgi_live_server, trader):
    headers = {"Cookie": session_cookie(trader), "Origin": asgi_live_server.url}

    with connect(asgi_live_server.ws_url + "/ws/events/", additional_headers=headers) as socket:
        socket.send(json.dumps({"type": "ping"}))
        assert json.loads(socket.recv(timeout=5)) == {"type": "pong"}
        send_to_user(user_id=trader.pk, event_type="price.update",
                     data={"symbol": "BTCUSDT", "price": "64000.01"})
        assert json.loads(socket.recv(timeout=5)) == {
            "type": "price.update", "data": {"symbol": "BTCUSDT", "price": "64000.01"}}


def test_a_socket_left_idle_longer_than_the_layers_blocking_read_stays_open(
        asgi_live_server, trader):
    # channels_redis waits for messages with a 5 s BZPOPMIN; redis-py 8 times socket reads out
    # after 5 s by default, which tore every idle socket down (the layer's socket_timeout).
    _, opened = socket_of(asgi_live_server, trader)
    with opened as socket:
        socket.send(json.dumps({"type": "ping"}))
        assert json.loads(socket.recv(timeout=5)) == {"type": "pong"}
        with pytest.raises(TimeoutError):
            socket.recv(timeout=12)  # nothing arrives, and the socket stays open meanwhile
        send_to_user(user_id=trader.pk, event_type="order.update", data={"id": 9})
        assert json.loads(socket.recv(timeout=5)) == {"type": "order.update", "data": {"id": 9}}


def test_the_running_server_refuses_anonymous_and_foreign_origin_sockets(asgi_live_server,
                                                                           trader):
    url = asgi_live_server.ws_url + "/ws/events/"
    with pytest.raises(InvalidStatus, match="403"):
        connect(url, additional_headers={"Origin": asgi_live_server.url})

    foreign = {"Cookie": session_cookie(trader), "Origin": "https://evil.example"}
    with pytest.raises(InvalidStatus, match="403"):
        connect(url, additional_headers=foreign)


# --- sockets end with the right to them ---------------------------------------------------------

def socket_of(server, user):
    """A signed-in client of ``user`` (a session of its own) and a socket on that session."""
    client = Client()
    client.force_login(user)
    headers = {"Cookie": f"sessionid={client.cookies['sessionid'].value}",
               "Origin": server.url}
    return client, connect(server.ws_url + "/ws/events/", additional_headers=headers)


def closed_with(socket) -> int | None:
    try:
        socket.recv(timeout=5)
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else None
    return None


def test_a_logout_closes_that_sessions_socket_only(asgi_live_server, trader):
    leaving, first = socket_of(asgi_live_server, trader)
    _, second = socket_of(asgi_live_server, trader)

    with first, second:
        leaving.post("/accounts/logout/")

        assert closed_with(first) == 4401
        second.send(json.dumps({"type": "ping"}))  # the other device's session still stands
        assert json.loads(second.recv(timeout=5)) == {"type": "pong"}


@pytest.mark.parametrize("change", ["password", "disable"])
def test_a_password_change_or_a_disabled_account_closes_every_socket(asgi_live_server, trader,
                                                                     change):
    _, first = socket_of(asgi_live_server, trader)
    _, second = socket_of(asgi_live_server, trader)

    with first, second:
        if change == "password":
            trader.set_password("a new one, long enough")
        else:
            trader.is_active = False
        trader.save()

        assert closed_with(first) == 4401
        assert closed_with(second) == 4401


def test_the_readme_documents_exactly_the_event_types_sent():
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme.split("### Real-time events", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `([a-z]+\.[a-z]+)` \|", section, flags=re.MULTILINE))
    assert documented == EVENT_TYPES


def test_an_undocumented_event_type_is_never_sent(trader):
    with pytest.raises(ValueError, match="undocumented event type"):
        send_to_user(user_id=trader.pk, event_type="bot.secret", data={})
