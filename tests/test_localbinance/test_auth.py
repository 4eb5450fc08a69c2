"""API keys, HMAC signatures, timestamps/recvWindow and key permissions."""

from __future__ import annotations

import hashlib
import hmac
import time
import urllib.parse

import pytest
import requests
from binance import AsyncClient
from binance.client import Client
from binance.exceptions import BinanceAPIException

from .helpers import run

READ_ONLY_KEY = "ReadOnlyKey".ljust(64, "0")
READ_ONLY_SECRET = "ReadOnlySecret".ljust(64, "0")


def signed(secret: str, params: list[tuple[str, str]]) -> str:
    query = urllib.parse.urlencode(params)
    return (
        query
        + "&signature="
        + hmac.new(secret.encode(), query.encode(), hashlib.sha256).hexdigest()
    )


def error_of(call, **kwargs) -> tuple[int, int, str]:
    with pytest.raises(BinanceAPIException) as exc:
        call(**kwargs)
    return exc.value.status_code, exc.value.code, exc.value.message


def test_bad_signature(local_binance, binance_urls):
    client = Client(local_binance.api_key, "wrong-secret")
    assert error_of(client.get_account) == (400, -1022, "Signature for this request is not valid.")


def test_timestamp_checks(client):
    client.timestamp_offset = 5_000
    assert error_of(client.get_account) == (
        400,
        -1021,
        "Timestamp for this request was 1000ms ahead of the server's time.",
    )
    client.timestamp_offset = -20_000  # older than python-binance's recvWindow of 10 s
    assert error_of(client.get_account) == (
        400,
        -1021,
        "Timestamp for this request is outside of the recvWindow.",
    )
    client.timestamp_offset = -4_000
    assert "balances" in client.get_account()


def test_server_clock_skew_and_async_client_resync(local_binance, binance_urls):
    local_binance.set_clock_skew(-2_000)  # server behind: client timestamps look 2 s ahead
    sync_client = Client(local_binance.api_key, local_binance.api_secret)
    assert error_of(sync_client.get_account)[1] == -1021

    async def scenario():
        client = await AsyncClient.create(local_binance.api_key, local_binance.api_secret)
        try:
            assert -3_000 < client.timestamp_offset < -1_000
            return await client.get_account()
        finally:
            await client.close_connection()

    assert "balances" in run(scenario())


def test_api_key_checks(local_binance):
    url = f"{local_binance.rest_url}/api/v3/account"
    params = signed(local_binance.api_secret, [("timestamp", str(int(time.time() * 1000)))])
    missing = requests.get(f"{url}?{params}", timeout=5)
    assert (missing.status_code, missing.json()) == (
        401,
        {"code": -2014, "msg": "API-key format invalid."},
    )
    short = requests.get(f"{url}?{params}", headers={"X-MBX-APIKEY": "abc"}, timeout=5)
    assert short.json()["code"] == -2014
    unknown = requests.get(f"{url}?{params}", headers={"X-MBX-APIKEY": "x" * 64}, timeout=5)
    assert (unknown.status_code, unknown.json()) == (
        401,
        {"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."},
    )
    no_signature = requests.get(
        f"{url}?timestamp=1", headers={"X-MBX-APIKEY": local_binance.api_key}, timeout=5
    )
    assert no_signature.json() == {
        "code": -1102,
        "msg": "Mandatory parameter 'signature' was not sent, was empty/null, or malformed.",
    }


def test_signature_over_query_plus_body(local_binance):
    """Binance signs totalParams = query string followed by the body, as sent."""
    ts = str(int(time.time() * 1000))
    query = "symbol=BTCUSDT&side=BUY&type=MARKET"
    body = f"quantity=0.002&timestamp={ts}"
    signature = hmac.new(
        local_binance.api_secret.encode(), (query + body).encode(), hashlib.sha256
    ).hexdigest()
    response = requests.post(
        f"{local_binance.rest_url}/api/v3/order?{query}",
        data=f"{body}&signature={signature}",
        headers={
            "X-MBX-APIKEY": local_binance.api_key,
            "Content-Type": "application/x-www-form-urlencoded",
        },
        timeout=5,
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "FILLED"


def test_read_only_key(local_binance, binance_urls):
    local_binance.add_api_key(
        READ_ONLY_KEY, READ_ONLY_SECRET, can_trade=False, enable_futures=False
    )
    client = Client(READ_ONLY_KEY, READ_ONLY_SECRET)
    assert "balances" in client.get_account()  # reading is allowed
    assert error_of(client.order_market_buy, symbol="BTCUSDT", quantity="0.002") == (
        401,
        -2015,
        "Invalid API-key, IP, or permissions for action.",
    )
    assert error_of(client.futures_account)[1] == -2015
    restrictions = client.get_account_api_permissions()
    assert restrictions["enableSpotAndMarginTrading"] is False
    assert restrictions["enableFutures"] is False
    assert local_binance.requests("POST", "/api/v3/order")[0].status == 401


def test_same_account_shared_by_two_keys(local_binance, binance_urls, client):
    local_binance.add_api_key(READ_ONLY_KEY, READ_ONLY_SECRET, can_trade=False)
    client.order_market_buy(symbol="BTCUSDT", quantity="0.002")
    reader = Client(READ_ONLY_KEY, READ_ONLY_SECRET)
    assert len(reader.get_my_trades(symbol="BTCUSDT")) == 1


def test_key_flags_and_second_account(local_binance, binance_urls):
    local_binance.add_api_key(
        READ_ONLY_KEY, READ_ONLY_SECRET, enable_withdrawals=True, ip_restrict=True
    )
    restrictions = Client(READ_ONLY_KEY, READ_ONLY_SECRET).get_account_api_permissions()
    assert (restrictions["enableWithdrawals"], restrictions["ipRestrict"]) == (True, True)
    other_key, other_secret = "OtherAccountKey".ljust(64, "0"), "OtherSecret".ljust(64, "0")
    local_binance.add_api_key(other_key, other_secret, account="other", balances={"USDT": "50"})
    other = Client(other_key, other_secret)
    assert {b["asset"]: b["free"] for b in other.get_account()["balances"]} == {
        "USDT": "50.00000000"
    }
    with pytest.raises(TypeError):
        local_binance.add_api_key("x" * 64, "y", colour="blue")
