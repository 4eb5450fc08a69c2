"""API load on the served profile: concurrent clients read portfolios and orders with tokens.

    .venv/bin/python bench/api_load_bench.py [--clients 50] [--seconds 30] [--warmup 3]
        [--portfolios 4] [--orders 250] [--think 0]

Starts everything itself over loopback (bench/served.py): a scratch PostgreSQL database
`bench_api_load` (created and dropped), Redis db 9, and daphne as two processes on one port
(SO_REUSEPORT). Seeds one user per client, each with a personal API token
(`portfolios.tokens.token_create`), `--portfolios` paper portfolios and `--orders` orders in
each. The orders are written with `bulk_create`, shaped like what `orders.services.order_place`
leaves behind (filled, cancelled, open and rejected market and limit orders on five symbols,
created over the last 30 days): the service path places about 90 orders/s here, 10 minutes
for the default 50,000. The list and detail endpoints read only orders and their portfolios.

Each client repeats GET /api/portfolios/, GET /api/orders/ (first page of 100) and GET
/api/orders/<id>/ of one of its own orders, sending `Authorization: Bearer tp_...`; a closed
loop: the next request goes out when the answer has arrived (`--think` adds a pause between),
so the mean latency is about clients / throughput (Little's law). Answers in the `--warmup`
seconds are not counted. The API throttles per user; the servers run with
API_THROTTLE_USER=1000000/min so no answer is a 429, while the throttle still counts every
request in Redis as in production.

The servers run with CONN_MAX_AGE=0 and DATABASE_POOL=true (set DATABASE_POOL=false in the
environment to compare). Under daphne, Django runs each request's sync code in a thread of its
own, so a connection kept for reuse is never reused: without the pool every request opened a
PostgreSQL connection (and, before tradingsite/redis_pool.py, a Redis one for the cache), 1.00
and 1.02 per request; with both, 0.00. The printed sessions opened per request, and the other
sockets each daphne holds, show it.

The clients are asyncio + aiohttp (installed with requirements-dev.txt), one connection each,
in this process. Locust is not installed and would bring gevent and Flask into the bench
requirements; driving it headless from a script means its library API under gevent's monkey
patching, and its Python users cost more CPU per request than aiohttp, on a machine where the
client shares the two cores with the servers. The printed share of cores used by each part
shows what the client took.

Goal: p95 under 100 ms and no errors. Prints PASS or FAIL against it; exits 0 either way.
"""

import argparse
import asyncio
import random
import statistics
import sys
import time
from collections import Counter, defaultdict
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

DATABASE = "bench_api_load"
THROTTLE = "1000000/min"
GOAL_P95_MS = 100.0
SYMBOLS = {"BTCUSDT": Decimal("64000"), "ETHUSDT": Decimal("3200"), "BNBUSDT": Decimal("580"),
           "SOLUSDT": Decimal("150"), "XRPUSDT": Decimal("0.6")}
ENDPOINTS = ("GET /api/portfolios/", "GET /api/orders/", "GET /api/orders/<id>/")


@dataclass
class Trader:
    key: str
    order_ids: list[int]


@dataclass
class Results:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: Counter = field(default_factory=Counter)
    counted_from: dict[str, float] = field(default_factory=dict)
    counted_to: dict[str, float] = field(default_factory=dict)


def arguments():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--portfolios", type=int, default=4, help="per user")
    parser.add_argument("--orders", type=int, default=250, help="per portfolio")
    parser.add_argument("--think", type=float, default=0.0,
                        help="seconds a client waits after each answer")
    parser.add_argument("--conn-max-age", type=int, default=0,
                        help="CONN_MAX_AGE of the servers (see above)")
    return parser.parse_args()


def an_order(portfolio, n: int, rng: random.Random):
    """One order as the service path leaves it: mostly filled, some cancelled, open, rejected."""
    from orders.models import Order, OrderStatus

    symbol = rng.choice(list(SYMBOLS))
    price = (SYMBOLS[symbol] * Decimal(rng.uniform(0.9, 1.1))).quantize(Decimal("0.0001"))
    quantity = (Decimal(100) / price).quantize(Decimal("0.0001")) or Decimal("1")
    status = rng.choices([OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.NEW,
                          OrderStatus.REJECTED], weights=[70, 15, 10, 5])[0]
    limit = status in (OrderStatus.NEW, OrderStatus.CANCELED) or rng.random() < 0.3
    filled = status == OrderStatus.FILLED
    return Order(
        portfolio=portfolio, source=rng.choice(["manual", "bot", "api"]), symbol=symbol,
        side=rng.choice(["BUY", "SELL"]), type="LIMIT" if limit else "MARKET",
        quantity=quantity, price=price if limit else None, time_in_force="GTC" if limit else "",
        status=status, exchange_order_id=None if status == OrderStatus.REJECTED else n,
        executed_qty=quantity if filled else Decimal(0),
        cumulative_quote=(quantity * price).quantize(Decimal("0.0001")) if filled else Decimal(0),
        reason="insufficient balance" if status == OrderStatus.REJECTED else "",
        risk_check="approve")


def seed(clients: int, portfolios: int, orders: int) -> list[Trader]:
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.utils import timezone

    from orders.models import Order
    from portfolios.models import Portfolio
    from portfolios.tokens import token_create

    rng = random.Random(7)
    users = get_user_model().objects.bulk_create(
        [get_user_model()(username=f"trader{n}", email=f"trader{n}@example.com",
                          password="!") for n in range(clients)])  # "!": unusable, no hashing
    traders = []
    for user in users:
        key = token_create(user=user, name="load bench").key
        owned = Portfolio.objects.bulk_create(
            [Portfolio(owner=user, name=f"portfolio {p}", total_budget=Decimal(10000))
             for p in range(portfolios)])
        rows = Order.objects.bulk_create(
            [an_order(portfolio, n, rng) for portfolio in owned for n in range(orders)],
            batch_size=5000)
        traders.append(Trader(key=key, order_ids=[row.pk for row in rows]))
    # auto_now_add stamped them all now: spread them over 30 days, the highest id newest.
    step = timedelta(days=30).total_seconds() / max(1, clients * portfolios * orders)
    table = Order._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET created_at = %s - (%s - id) * %s * interval '1 s'",
                       [timezone.now(), max(traders[-1].order_ids), step])
        cursor.execute(f"UPDATE {table} SET submitted_at = created_at")
        cursor.execute("ANALYZE")
    return traders


async def check_answers(url: str, trader: Trader, portfolios: int, orders: int) -> None:
    """One client's view before the load: its token works and it sees exactly its own data."""
    import aiohttp

    expected = {"/api/portfolios/": ("count", portfolios),
                "/api/orders/": ("count", portfolios * orders),
                f"/api/orders/{trader.order_ids[0]}/": ("id", trader.order_ids[0])}
    headers = {"Authorization": f"Bearer {trader.key}"}
    async with aiohttp.ClientSession(url, headers=headers) as session:
        for path, (key, value) in expected.items():
            async with session.get(path) as answer:
                body = await answer.json() if answer.status == 200 else await answer.text()
                if answer.status != 200 or body.get(key) != value:
                    raise SystemExit(f"setup failed: GET {path} answered {answer.status}: "
                                     f"{str(body)[:300]} (expected {key} {value})")


async def one_client(n: int, url: str, trader: Trader, count_from: float, stop_at: float,
                     think: float, results: Results) -> None:
    import aiohttp

    rng = random.Random(n)
    connector = aiohttp.TCPConnector(limit=1)
    headers = {"Authorization": f"Bearer {trader.key}"}
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(url, headers=headers, connector=connector,
                                     timeout=timeout) as session:
        turn = n  # clients start at different points of the mix
        while (started := time.perf_counter()) < stop_at:
            endpoint = ENDPOINTS[turn % len(ENDPOINTS)]
            turn += 1
            path = endpoint.replace("<id>", str(rng.choice(trader.order_ids)))
            try:
                async with session.get(path.removeprefix("GET ")) as answer:
                    await answer.read()
                    error = None if answer.status == 200 else f"HTTP {answer.status}"
            except (aiohttp.ClientError, TimeoutError) as failure:
                error = type(failure).__name__
            if started >= count_from:
                results.latencies[endpoint].append((time.perf_counter() - started) * 1000)
                if error:
                    results.errors[f"{endpoint}: {error}"] += 1
            if think:
                await asyncio.sleep(think)


async def load(url: str, traders: list[Trader], args, servers) -> Results:
    results = Results()
    count_from = time.perf_counter() + args.warmup
    stop_at = count_from + args.seconds
    clients = [one_client(n, url, trader, count_from, stop_at, args.think, results)
               for n, trader in enumerate(traders)]
    counting = asyncio.create_task(counters_at(count_from, servers))
    await asyncio.gather(*clients)
    results.counted_from = await counting
    await asyncio.sleep(1.5)  # PostgreSQL flushes its statistics about once a second
    results.counted_to = await asyncio.to_thread(servers.counters, DATABASE)
    return results


async def counters_at(moment: float, servers) -> dict[str, float]:
    await asyncio.sleep(max(0.0, moment - time.perf_counter()))
    counters = await asyncio.to_thread(servers.counters, DATABASE)
    counters["sockets"] = servers.connections()
    return counters


def summary(values: list[float]) -> str:
    ordered = sorted(values)
    return (f"mean {statistics.fmean(ordered):.1f}  p50 {statistics.median(ordered):.1f}  "
            f"p95 {percentile(ordered, 0.95):.1f}  p99 {percentile(ordered, 0.99):.1f}  "
            f"max {ordered[-1]:.1f}")


def report(results: Results, args) -> None:
    everything = [ms for values in results.latencies.values() for ms in values]
    errors = sum(results.errors.values())
    print(f"load: {args.clients} clients, closed loop"
          f"{f' with {args.think} s think time' if args.think else ''}, {args.seconds:.0f} s "
          f"counted after {args.warmup:.0f} s of warm-up")
    print(f"requests {len(everything)}, errors {errors}, "
          f"throughput {len(everything) / args.seconds:.1f} req/s")
    for error, count in results.errors.most_common(10):
        print(f"  error {error}: {count}")
    if not everything:
        print("FAIL: no request completed")
        return
    print(f"latency ms: {summary(everything)}")
    for endpoint in ENDPOINTS:
        if results.latencies[endpoint]:
            print(f"  {endpoint:<24} {len(results.latencies[endpoint]):>6} requests  "
                  f"{summary(results.latencies[endpoint])}")
    sockets = results.counted_from.pop("sockets")
    usage = usage_report(results.counted_from, results.counted_to, len(everything), "request")
    print(usage["cores"])
    print(f"CPU per request: daphnes {usage['daphne ms'] / len(everything):.1f} ms, whole machine "
          f"{usage['machine ms'] / len(everything):.1f} ms")
    print("each daphne's client connections and other sockets (PostgreSQL, Redis) open: "
          + ", ".join(f"{clients} and {other}" for clients, other in sockets))
    print(f"{usage['postgres']}; {usage['redis']}")
    p95 = percentile(sorted(everything), 0.95)
    verdict = "PASS" if p95 < GOAL_P95_MS and not errors else "FAIL"
    print(f"goal p95 < {GOAL_P95_MS:.0f} ms and no errors: {verdict} "
          f"(p95 {p95:.1f} ms, {errors} errors)")


def main():
    args = arguments()
    raise_open_files(4 * args.clients + 256)
    env = setup_django(DATABASE, API_THROTTLE_USER=THROTTLE,
                       CONN_MAX_AGE=str(args.conn_max_age))
    servers = None
    try:
        started = time.perf_counter()
        traders = seed(args.clients, args.portfolios, args.orders)
        print(f"seeded {args.clients} users (one per client, each with an API token), "
              f"{args.clients * args.portfolios} portfolios, "
              f"{args.clients * args.portfolios * args.orders} orders "
              f"({args.orders} per portfolio) in {time.perf_counter() - started:.1f} s")
        servers = start_daphnes(env, count=2)
        print(f"served profile: 2 daphne processes on one port ({servers.url}), PostgreSQL "
              f"database {DATABASE}, Redis db 9, CONN_MAX_AGE={args.conn_max_age}, "
              f"DATABASE_POOL={env['DATABASE_POOL']}; "
              f"API_THROTTLE_USER={THROTTLE} for the servers (default 1200/min; still counted "
              f"in Redis)")
        asyncio.run(check_answers(servers.url, traders[0], args.portfolios, args.orders))
        results = asyncio.run(load(servers.url, traders, args, servers))
        if not servers.alive():
            print("a daphne process died during the run:\n" + servers.log.read_text()[-3000:])
        report(results, args)
    finally:
        if servers is not None:
            stop_daphnes(servers)
        teardown(DATABASE)


if __name__ == "__main__":
    main()
