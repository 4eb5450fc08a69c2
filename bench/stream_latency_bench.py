"""Stream to browser latency: local Binance -> stream supervisor -> Channels -> WebSocket client.

50 symbols stream from the local Binance; trades are emitted at a steady rate; a logged-in
WebSocket client of the platform subscribed to all 50 symbols records when each price arrives.
Latency is measured from just before the local Binance sends the trade to its arrival at the
client. Prints the figures; asserts nothing.

    .venv/bin/python bench/stream_latency_bench.py [--symbols 50] [--rate 200] [--seconds 20]

Runs the embedded profile in one process (SQLite in a temporary VAR_DIR, the in-memory channel
layer), like `make run`.
"""

import argparse
import asyncio
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
from decimal import Decimal
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
for variable in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND"):
    os.environ.pop(variable, None)
os.environ["VAR_DIR"] = tempfile.mkdtemp(prefix="stream-bench-")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tradingsite.settings")
os.environ["LOG_LEVEL"] = "WARNING"

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402
from websockets.asyncio.client import connect  # noqa: E402

from marketdata.exchange.clients import LOCAL, Venue  # noqa: E402
from marketdata.models import WatchedSymbol  # noqa: E402
from marketdata.stream_runner import build_supervisor  # noqa: E402
from marketdata.stream_sink import PlatformSink  # noqa: E402
from tests.localbinance import data  # noqa: E402
from tests.localbinance.exchange import ServerConfig  # noqa: E402
from tests.localbinance.runner import BackgroundLocalBinance  # noqa: E402
from tests.support.servers import free_port  # noqa: E402
from tradingsite.asgiserver import build_server  # noqa: E402


def usdt_symbols(count: int) -> list[str]:
    """Real spot USDT symbols from the shared exchangeInfo, so every one has real filters."""
    spot = [s["symbol"] for s in data.load_json(data.SPOT_EXCHANGE_INFO_FULL)["symbols"]
            if s["quoteAsset"] == "USDT" and s["status"] == "TRADING"]
    return sorted(spot)[:count]


def kline_files(symbols: list[str], folder: Path) -> list[tuple[str, Path]]:
    source = data.klines_dir() / "BTCUSDT-1m-octobot-spot.csv"
    files = []
    for symbol in symbols:
        target = folder / f"{symbol}-1m-bench-spot.csv"
        shutil.copy(source, target)
        files.append((symbol, target))
    return files


def start_platform(port: int):
    from tradingsite.asgi import application

    ready = threading.Event()
    server = build_server(application, host="127.0.0.1", port=port, signal_handlers=False,
                          ready_callable=ready.set)
    threading.Thread(target=server.run, daemon=True).start()
    ready.wait(10)


def start_supervisor(venue: Venue, push_interval: float):
    supervisor = build_supervisor("spot", venue=venue,
                                  sink=PlatformSink(push_interval=push_interval, repair=None))
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    threading.Thread(target=lambda: loop.run_until_complete(supervisor.run(stop)),
                     daemon=True).start()
    return supervisor


async def listen(url: str, cookie: str, symbols: list[str], arrivals: dict, done: asyncio.Event):
    async with connect(url, additional_headers={"Cookie": cookie,
                                                "Origin": url.replace("ws", "http", 1)}) as ws:
        await ws.send(json.dumps({"type": "subscribe", "symbols": symbols}))
        while not done.is_set():
            try:
                raw = await asyncio.wait_for(ws.recv(), 0.5)
            except TimeoutError:
                continue
            event = json.loads(raw)
            if event["type"] == "price.update" and "price" in event["data"]:
                key = (event["data"]["symbol"], Decimal(event["data"]["price"]))
                arrivals.setdefault(key, time.perf_counter())


def drive(binance, symbols, rate: float, seconds: float, sent: dict) -> None:
    interval, deadline, n = 1 / rate, time.perf_counter() + seconds, 0
    prices = {s: binance.price(s) for s in symbols}
    while time.perf_counter() < deadline:
        symbol = random.choice(symbols)
        n += 1
        price = (prices[symbol] + Decimal(n) / 100).quantize(Decimal("0.01"))
        sent[(symbol, price)] = time.perf_counter()
        binance.emit_trade(symbol, price, "0.01")
        time.sleep(max(0.0, interval - 0.0002))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=50)
    parser.add_argument("--rate", type=float, default=200.0, help="trades per second in all")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--push-interval", type=float, default=0.2)
    args = parser.parse_args()

    call_command("migrate", verbosity=0)
    symbols = usdt_symbols(args.symbols)
    WatchedSymbol.objects.all().delete()
    WatchedSymbol.objects.bulk_create([WatchedSymbol(symbol=s, intervals="1m") for s in symbols])
    folder = Path(os.environ["VAR_DIR"])
    binance = BackgroundLocalBinance(ServerConfig(klines=kline_files(symbols, folder))).start()
    venue = Venue(mode=LOCAL, base_url=binance.rest_url)
    port = free_port()
    start_platform(port)
    supervisor = start_supervisor(venue, args.push_interval)
    while supervisor.connection is None:
        time.sleep(0.1)

    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user("bench", password="bench bench bench")
    client = Client()
    client.force_login(user)
    cookie = f"sessionid={client.cookies['sessionid'].value}"

    sent, arrivals, done = {}, {}, asyncio.Event()
    loop = asyncio.new_event_loop()
    listener = threading.Thread(target=lambda: loop.run_until_complete(
        listen(f"ws://127.0.0.1:{port}/ws/events/", cookie, symbols, arrivals, done)),
        daemon=True)
    listener.start()
    time.sleep(1.0)  # the subscription reaches the server
    drive(binance, symbols, args.rate, args.seconds, sent)
    time.sleep(1.0)  # the last merged updates arrive
    loop.call_soon_threadsafe(done.set)
    listener.join(5)

    latencies = [(arrivals[k] - sent[k]) * 1000 for k in sent if k in arrivals]
    print(f"symbols streaming: {len(symbols)}; trades sent: {len(sent)} "
          f"({args.rate:.0f}/s for {args.seconds:.0f} s); push interval {args.push_interval} s")
    print(f"price updates received: {len(latencies)} "
          f"(the rest were merged into newer prices by the per-symbol throttle)")
    if latencies:
        print(f"latency ms: median {statistics.median(latencies):.1f}  "
              f"p95 {percentile(latencies, 0.95):.1f}  p99 {percentile(latencies, 0.99):.1f}  "
              f"max {max(latencies):.1f}")
    binance.stop()


if __name__ == "__main__":
    main()
