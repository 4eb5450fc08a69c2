"""The /_fake admin API and running the server by hand (python -m tests.localbinance)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import requests

from tests.localbinance.data import klines_dir
from tests.localbinance.klines import parse_klines_arg

REPO = Path(__file__).resolve().parents[2]


def admin(server, method: str, route: str, **body):
    response = requests.request(
        method, f"{server.rest_url}/_fake/{route}", json=body or None, timeout=5
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_admin_drives_the_replay(local_binance):
    state = admin(local_binance, "GET", "state")
    remaining = state["markets"]["BTCUSDT"]["remaining_candles"]
    assert admin(local_binance, "POST", "advance", n=3) == {"advanced": 3}
    assert (
        admin(local_binance, "GET", "state")["markets"]["BTCUSDT"]["remaining_candles"]
        == remaining - 3
    )
    assert (
        admin(local_binance, "POST", "price", symbol="ETHUSDT", price="450.5")["price"]
        == "450.50000000"
    )
    admin(local_binance, "POST", "trade", symbol="ETHUSDT", price="451", qty="0.5")
    ticker = requests.get(
        f"{local_binance.rest_url}/api/v3/ticker/price?symbol=ETHUSDT", timeout=5
    ).json()
    assert ticker["price"] == "451.00000000"
    admin(local_binance, "POST", "balance", asset="USDT", free="123.45")
    assert (
        admin(local_binance, "GET", "state")["accounts"]["default"]["USDT"]["free"]
        == "123.45000000"
    )


def test_admin_faults_and_request_log(local_binance):
    rule = admin(
        local_binance,
        "POST",
        "faults",
        kind="rate_limit",
        path="/api/v3/time",
        count=1,
        retry_after=3,
    )
    assert admin(local_binance, "GET", "faults")[0]["id"] == rule["id"]
    limited = requests.get(f"{local_binance.rest_url}/api/v3/time", timeout=5)
    assert (limited.status_code, limited.headers["Retry-After"]) == (429, "3")
    assert requests.get(f"{local_binance.rest_url}/api/v3/time", timeout=5).status_code == 200
    log = admin(local_binance, "GET", "requests?path=/api/v3/time")
    assert [(e["method"], e["status"], e["fault"]) for e in log] == [
        ("GET", 429, "rate_limit"),
        ("GET", 200, None),
    ]
    admin(local_binance, "POST", "faults", kind="ban", duration=60)
    admin(local_binance, "DELETE", "faults")
    assert requests.get(f"{local_binance.rest_url}/api/v3/time", timeout=5).status_code == 200
    admin(local_binance, "POST", "clock", skew_ms=-1500)
    admin(local_binance, "POST", "streams/silence", silent=True)
    admin(local_binance, "DELETE", "requests")
    assert admin(local_binance, "GET", "requests") == []
    bad = requests.post(
        f"{local_binance.rest_url}/_fake/faults", json={"kind": "meteor"}, timeout=5
    )
    assert bad.status_code == 400
    assert "unknown fault kind" in bad.json()["error"]


def test_klines_argument_forms():
    assert parse_klines_arg("BTCUSDT-1m-octobot-spot.csv", klines_dir()) == (
        "BTCUSDT",
        klines_dir() / "BTCUSDT-1m-octobot-spot.csv",
    )
    symbol, path = parse_klines_arg(f"ethusdt={klines_dir() / 'ETHUSDT-5m-octobot-spot.csv'}")
    assert (symbol, path.name) == ("ETHUSDT", "ETHUSDT-5m-octobot-spot.csv")


def test_help_documents_every_option():
    result = subprocess.run(
        [sys.executable, "-m", "tests.localbinance", "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    for option in (
        "--port",
        "--klines",
        "--api-key",
        "--api-secret",
        "--balance",
        "--futures-balance",
        "--read-only",
        "--start-index",
        "--no-rate-limits",
        "--stream-push-interval",
        "/_fake/advance",
    ):
        assert option in result.stdout


def test_run_by_hand():
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    command = [
        sys.executable,
        "-m",
        "tests.localbinance",
        "--port",
        "0",
        "--klines",
        "SOLUSDT-4h-octobot2024-spot.csv",
        "--klines",
        "BTCUSDT-1m-nautilus-spot.csv",
        "--balance",
        "USDT=5,SOL=2",
        "--start-index",
        "3",
    ]
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, text=True, env=env)
    try:
        url = process.stdout.readline().split()[-1]
        assert url.startswith("http://127.0.0.1:")
        info = requests.get(f"{url}/api/v3/exchangeInfo", timeout=5).json()
        assert sorted(s["symbol"] for s in info["symbols"]) == ["BTCUSDT", "SOLUSDT"]
        klines = requests.get(f"{url}/api/v3/klines?symbol=SOLUSDT&interval=4h", timeout=5).json()
        assert len(klines) == 3
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
