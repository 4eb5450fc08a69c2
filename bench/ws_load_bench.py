"""WebSocket load on the served profile: many logged-in clients on /ws/events/ get prices.

    .venv/bin/python bench/ws_load_bench.py [--clients 1000] [--seconds 60] [--symbols 10]
        [--per-client 3] [--rate 2]

Starts everything itself over loopback (bench/served.py): a scratch PostgreSQL database
`bench_ws_load` (created and dropped), Redis db 9 for the channel layer and the cache, and
daphne as two processes on one port (SO_REUSEPORT). Seeds one user per client with one
database session each (the cookie a browser would hold after logging in); the clients send it
with an Origin of the server, as the page's socket does.

Each client connects, sends {"type": "subscribe", "symbols": [...]} for `--per-client` of the
`--symbols` symbols (client n takes symbols n, n+1, ...: every symbol has the same number of
subscribers) and waits for "subscribed". Once all are in, a publisher process sends `--rate`
price.update events a second per symbol for `--seconds` into the Redis channel layer group
`symbol-<SYMBOL>`, the message the market-stream sink sends (`marketdata.stream_sink`), with a
sequence number and the send time (time.time(), the machine's one clock) in the data. Sends of
different symbols are spread evenly over each interval. The clients stay on for 3 s after the
last send, then close.

Measured: connections that failed, connections dropped (closed by the server or the network
before the end), messages expected (every event sent to a client's symbols while it was
subscribed) against received, and the delivery latency from the publisher's send to the
client's receive. The 1,000 clients are one asyncio process using `websockets`; its share of
the cores is printed, since on this 2-core machine it competes with the servers it measures.

Goal: none failed or dropped, p99 under 500 ms. Prints PASS or FAIL; exits 0 either way.
"""

import argparse
import asyncio
import json
import multiprocessing
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from served import (  # noqa: E402
    percentile,
    raise_open_files,
    setup_django,
    start_daphnes,
    stop_daphnes,
    teardown,
    usage_report,
)

DATABASE = "bench_ws_load"
GOAL_P99_MS = 500.0
GRACE_SECONDS = 3.0
SYMBOL_POOL = ["BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT", "XRPUSDT", "ADAUSDT", "DOGEUSDT",
               "TRXUSDT", "LINKUSDT", "AVAXUSDT", "DOTUSDT", "LTCUSDT", "BCHUSDT", "ATOMUSDT",
               "NEARUSDT", "APTUSDT", "FILUSDT", "ETCUSDT", "XLMUSDT", "UNIUSDT"]


def arguments():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--symbols", type=int, default=10, choices=range(1, 21),
                        metavar="1..20", help="symbols published")
    parser.add_argument("--per-client", type=int, default=3, help="symbols each client watches")
    parser.add_argument("--rate", type=float, default=2.0, help="updates a second per symbol")
    parser.add_argument("--connecting", type=int, default=100,
                        help="clients connecting at the same time during the ramp-up")
    parser.add_argument("--conn-max-age", type=int, default=0,
                        help="CONN_MAX_AGE of the servers (0, the platform's default: see "
                             "bench/api_load_bench.py)")
    args = parser.parse_args()
    args.per_client = min(args.per_client, args.symbols)
    return args


def seed(clients: int) -> list[str]:
    """One user per client and one logged-in session each, as `login()` leaves it; bulk
    inserts, since a thousand logins through the pages would take minutes."""
    from django.contrib.auth import (
        BACKEND_SESSION_KEY,
        HASH_SESSION_KEY,
        SESSION_KEY,
        get_user_model,
    )
    from django.contrib.sessions.backends.db import SessionStore
    from django.contrib.sessions.models import Session
    from django.utils import timezone
    from django.utils.crypto import get_random_string

    users = get_user_model().objects.bulk_create(
        [get_user_model()(username=f"watcher{n}", email=f"watcher{n}@example.com",
                          password="!") for n in range(clients)])  # "!": unusable, no hashing
    store, expires = SessionStore(), timezone.now() + timedelta(days=1)
    sessions = [Session(session_key=get_random_string(32), expire_date=expires,
                        session_data=store.encode({
                            SESSION_KEY: str(user.pk),
                            BACKEND_SESSION_KEY: "django.contrib.auth.backends.ModelBackend",
                            HASH_SESSION_KEY: user.get_session_auth_hash()}))
                for user in users]
    Session.objects.bulk_create(sessions)
    return [f"sessionid={session.session_key}" for session in sessions]


# --- The publisher: its own process, so its timing does not wait on the clients' loop -------

def publish(env: dict, symbols: list[str], rate: float, seconds: float, start, results) -> None:
    import os

    os.environ.update(env)
    import django

    django.setup()
    from channels.layers import get_channel_layer

    from marketdata.stream_sink import symbol_group

    layer = get_channel_layer()
    results.put("ready")
    start.wait()
    results.put(asyncio.run(_publish(layer, symbol_group, symbols, rate, seconds)))


async def _publish(layer, symbol_group, symbols, rate, seconds) -> dict:
    interval = 1 / rate
    began = time.perf_counter()
    sends = [(n * interval / len(symbols), symbol) for n, symbol in enumerate(symbols)]
    sent, late = Counter(), []
    for round_start in [k * interval for k in range(int(seconds * rate))]:
        for offset, symbol in sends:
            due = began + round_start + offset
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            late.append(time.perf_counter() - due)
            price = Decimal(100 + sent[symbol] % 50) + Decimal("0.01")
            await layer.group_send(symbol_group(symbol), {
                "type": "event.forward", "event": {"type": "price.update", "data": {
                    "symbol": symbol, "price": str(price), "seq": sent[symbol],
                    "sent": time.time()}}})
            sent[symbol] += 1
    return {"sent": dict(sent), "late_ms": max(late, default=0.0) * 1000,
            "seconds": time.perf_counter() - began}


# --- The clients --------------------------------------------------------------------------

@dataclass
class Client:
    symbols: list[str]
    connected_ms: float | None = None
    failure: str = ""
    dropped: str = ""
    seen: dict[str, set[int]] = field(default_factory=dict)
    duplicates: int = 0
    socket: object = None


@dataclass
class Run:
    url: str
    clients: list[Client]
    latencies: list[float] = field(default_factory=list)
    ready: int = 0
    closing: bool = False
    all_in: asyncio.Event = field(default_factory=asyncio.Event)

    def settled(self) -> None:
        self.ready += 1
        if self.ready == len(self.clients):
            self.all_in.set()


async def one_client(run: Run, client: Client, cookie: str, gate: asyncio.Semaphore) -> None:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosedError, InvalidStatus, WebSocketException

    headers = {"Cookie": cookie, "Origin": run.url.replace("ws", "http", 1)}
    try:
        async with gate:
            started = time.perf_counter()
            # Browsers send no pings; daphne's own (every 20 s) keep the connection checked.
            client.socket = await connect(run.url + "/ws/events/", additional_headers=headers,
                                          open_timeout=60, ping_interval=None, close_timeout=10)
            await client.socket.send(json.dumps({"type": "subscribe",
                                                 "symbols": client.symbols}))
            answer = json.loads(await asyncio.wait_for(client.socket.recv(), 60))
            if answer.get("type") != "subscribed":
                raise RuntimeError(f"answer to subscribe: {answer}")
            client.connected_ms = (time.perf_counter() - started) * 1000
    except (OSError, TimeoutError, InvalidStatus, WebSocketException, RuntimeError) as error:
        client.failure = f"{type(error).__name__}: {str(error)[:80]}"
        run.settled()
        return
    run.settled()
    try:
        async for raw in client.socket:  # ends when the socket closes
            received(run, client, raw)
    except ConnectionClosedError as closed:
        client.dropped = f"closed {closed.rcvd.code if closed.rcvd else 'without a close frame'}"
    if not run.closing and not client.dropped:
        client.dropped = "closed by the server"


def received(run: Run, client: Client, raw: str) -> None:
    arrived = time.time()
    event = json.loads(raw)
    if event.get("type") != "price.update":
        return
    data = event["data"]
    run.latencies.append((arrived - data["sent"]) * 1000)
    seen = client.seen.setdefault(data["symbol"], set())
    if data["seq"] in seen:
        client.duplicates += 1
    seen.add(data["seq"])


async def drive(url: str, cookies: list[str], args, servers, publisher) -> tuple[Run, dict]:
    symbols = SYMBOL_POOL[:args.symbols]
    clients = [Client(symbols=[symbols[(n + k) % len(symbols)] for k in range(args.per_client)])
               for n in range(len(cookies))]
    run = Run(url=url.replace("http", "ws", 1), clients=clients)
    gate = asyncio.Semaphore(args.connecting)
    counters = [await asyncio.to_thread(servers.counters, DATABASE)]
    tasks = [asyncio.create_task(one_client(run, client, cookie, gate))
             for client, cookie in zip(clients, cookies, strict=True)]
    await run.all_in.wait()
    ramp = time.perf_counter() - counters[0]["wall"]
    published = {"sockets": servers.connections()}
    await asyncio.sleep(1.5)  # PostgreSQL flushes its statistics about once a second
    counters.append(await asyncio.to_thread(servers.counters, DATABASE))
    start, results = publisher
    start.set()
    published.update(await asyncio.to_thread(results.get, True, args.seconds + 120))
    await asyncio.sleep(GRACE_SECONDS)  # the last events reach every client
    await asyncio.sleep(1.5)
    counters.append(await asyncio.to_thread(servers.counters, DATABASE))
    connecting = usage_report(*counters[:2], len(clients), "connection")
    publishing = usage_report(*counters[1:], sum(published["sent"].values()), "event published")
    deliveries = max(1, len(run.latencies))
    published["usage"] = [
        f"while connecting: {connecting['cores']}",
        f"  {connecting['postgres'].split(', ')[0]}; {connecting['redis']}",
        f"while publishing: {publishing['cores']}",
        f"  CPU per message delivered: daphnes {publishing['daphne ms'] * 1000 / deliveries:.0f}"
        f" us, whole machine {publishing['machine ms'] * 1000 / deliveries:.0f} us; "
        f"{publishing['redis']}"]
    run.closing = True
    await asyncio.gather(*(c.socket.close() for c in clients if c.socket is not None))
    await asyncio.gather(*tasks)
    published["ramp"] = ramp
    return run, published


def start_publisher(env: dict, args):
    context = multiprocessing.get_context("spawn")
    start, results = context.Event(), context.Queue()
    process = context.Process(target=publish, daemon=True, args=(
        env, SYMBOL_POOL[:args.symbols], args.rate, args.seconds, start, results))
    process.start()
    if results.get(timeout=60) != "ready":
        raise RuntimeError("the publisher did not start")
    return process, (start, results)


# --- The figures --------------------------------------------------------------------------

def report(run: Run, published: dict, args) -> None:
    clients = run.clients
    failed = [c for c in clients if c.failure]
    dropped = [c for c in clients if c.dropped]
    connected = sorted(c.connected_ms for c in clients if c.connected_ms is not None)
    sent = published["sent"]
    print(f"connected and subscribed {len(connected)} of {len(clients)} clients in "
          f"{published['ramp']:.1f} s, {args.connecting} at a time"
          + (f" (connect + subscribe ms: p50 {percentile(connected, 0.5):.0f}, "
             f"p95 {percentile(connected, 0.95):.0f}, max {connected[-1]:.0f})"
             if connected else ""))
    print("each daphne's client connections and other sockets (PostgreSQL, Redis) open: "
          + ", ".join(f"{clients} and {other}" for clients, other in published["sockets"]))
    print(f"published: {args.symbols} symbols x {args.rate:g} updates/s for {args.seconds:g} s "
          f"= {sum(sent.values())} price.update events into the Redis channel layer (sends "
          f"at most {published['late_ms']:.0f} ms behind schedule; took "
          f"{published['seconds']:.1f} s); each client watches {args.per_client}")
    live = [c for c in clients if not c.failure]
    expected = sum(sent.get(s, 0) for c in live for s in c.symbols)
    received = sum(len(seqs) for c in live for seqs in c.seen.values())
    complete = sum(all(len(c.seen.get(s, ())) == sent.get(s, 0) for s in c.symbols)
                   for c in live)
    duplicates = sum(c.duplicates for c in live)
    print(f"messages: expected {expected}, received {received} "
          f"({100 * received / max(1, expected):.2f} %), missing {expected - received}, "
          f"duplicates {duplicates}; clients that got every message: {complete} of {len(live)}")
    print(f"failed to connect: {len(failed)}; dropped before the end: {len(dropped)}")
    for reason, count in Counter(c.failure or c.dropped for c in failed + dropped
                                 ).most_common(5):
        print(f"  {count} x {reason}")
    latencies = sorted(run.latencies)
    if latencies:
        print(f"delivery latency ms (publisher's send to the client's receive), "
              f"{len(latencies)} messages: p50 {percentile(latencies, 0.5):.1f}  "
              f"p95 {percentile(latencies, 0.95):.1f}  p99 {percentile(latencies, 0.99):.1f}  "
              f"max {latencies[-1]:.1f}")
    for line in published["usage"]:
        print(line)
    p99 = percentile(latencies, 0.99) if latencies else float("inf")
    lost = expected - received
    verdict = "PASS" if not failed and not dropped and p99 < GOAL_P99_MS else "FAIL"
    print(f"goal none failed or dropped and p99 < {GOAL_P99_MS:.0f} ms: {verdict} "
          f"({len(failed)} failed, {len(dropped)} dropped, p99 {p99:.1f} ms; "
          f"{lost} messages missing)")


def main():
    args = arguments()
    raise_open_files(3 * args.clients + 1024)
    env = setup_django(DATABASE, CONN_MAX_AGE=str(args.conn_max_age))
    servers = publisher = None
    try:
        started = time.perf_counter()
        cookies = seed(args.clients)
        print(f"seeded {args.clients} users with one logged-in session each in "
              f"{time.perf_counter() - started:.1f} s")
        servers = start_daphnes(env, count=2)
        print(f"served profile: 2 daphne processes on one port ({servers.url}), PostgreSQL "
              f"database {DATABASE}, Redis db 9 (channel layer and cache), "
              f"CONN_MAX_AGE={args.conn_max_age}, DATABASE_POOL={env['DATABASE_POOL']}")
        publisher, channel = start_publisher(env, args)
        run, published = asyncio.run(drive(servers.url, cookies, args, servers, channel))
        if not servers.alive():
            print("a daphne process died during the run:\n" + servers.log.read_text()[-3000:])
        report(run, published, args)
    finally:
        if publisher is not None:
            publisher.join(10)
        if servers is not None:
            stop_daphnes(servers)
        teardown(DATABASE)


if __name__ == "__main__":
    main()
