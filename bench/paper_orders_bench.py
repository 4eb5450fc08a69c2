"""Paper orders through the whole service path on PostgreSQL: validate against the symbol's
filters, persist, fill with the fill model, book the fill, update position and balances.

    .venv/bin/python bench/paper_orders_bench.py [--orders 3000] [--server postgres://postgres@127.0.0.1:5432]

Also measures how fast resting paper limit orders fill when prices cross them: 100 open limits
over 20 symbols, then a stream of trade prints offered to the matcher as the stream process
does, timing from each crossing print to its fill being committed.
Creates (and drops) the database `bench_orders`. Prints figures; asserts nothing.
"""

import argparse
import json
import os
import random
import statistics
import sys
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from scratch_db import drop_database, recreate_database

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DATABASE = "bench_orders"


def arguments():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=3000)
    parser.add_argument("--server", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--prints", type=int, default=5000, help="trade prints for the matcher")
    parser.add_argument("--processes", type=int, default=4,
                        help="also place orders from this many processes at once, one "
                             "portfolio each (as many bots on many portfolios would)")
    return parser.parse_args()


def setup_django(server: str) -> None:
    os.environ["DATABASE_URL"] = f"{server}/{DATABASE}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tradingsite.settings")
    os.environ["LOG_LEVEL"] = "WARNING"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def load_symbols(count: int) -> list[str]:
    """Real spot USDT symbols with their real filters, from the shared exchangeInfo capture."""
    import gzip

    from marketdata.services import _store_symbols

    path = REPO.parent / "shared/data/binance/spot/rest/exchangeInfo.real-2021-10-12.full.json.gz"
    with gzip.open(path, "rt") as handle:
        entries = json.load(handle)["symbols"]
    _store_symbols("spot", entries)
    from marketdata.models import Symbol

    def fits(symbol) -> bool:  # prices around 100 and quantity 1 must pass its filters
        rules = symbol.rules()
        return (rules.price_filter.max_price == 0 or rules.price_filter.max_price >= 1000) and (
            rules.lot_size.min_qty <= 1 and rules.price_filter.tick_size <= 1)

    usdt = Symbol.objects.filter(market="spot", quote_asset="USDT", status="TRADING")
    return sorted(s.name for s in usdt if fits(s))[:count]


def paper_portfolio(name: str):
    from django.contrib.auth import get_user_model

    from orders.services import paper_deposit
    from portfolios.models import Portfolio

    user, _ = get_user_model().objects.get_or_create(username="bench")
    portfolio = Portfolio.objects.create(owner=user, name=name)
    paper_deposit(portfolio=portfolio, asset="USDT", amount=Decimal("100000000"))
    return portfolio


def set_price(symbol: str, price: Decimal) -> None:
    from django.core.cache import cache

    from marketdata import live

    cache.set(live.ticker_key("spot", symbol), {"symbol": symbol, "price": str(price)})


def bench_market_orders(count: int) -> None:
    from orders.services import order_place

    portfolio = paper_portfolio("throughput")
    set_price("BTCUSDT", Decimal("60000"))
    started = time.perf_counter()
    for n in range(count):
        order_place(portfolio=portfolio, symbol="BTCUSDT", side="BUY" if n % 2 == 0 else "SELL",
                    order_type="MARKET", quantity=Decimal("0.001"))
    elapsed = time.perf_counter() - started
    print(f"paper market orders: {count} in {elapsed:.2f} s = {count / elapsed:.0f} orders/s "
          f"(validate, persist, fill, book fill, position, balances)")


def _place_orders(portfolio_id: int, count: int) -> None:
    from django.db import connections

    from orders.services import order_place
    from portfolios.models import Portfolio

    connections.close_all()  # a forked child must not share the parent's connection
    portfolio = Portfolio.objects.get(pk=portfolio_id)
    for n in range(count):
        order_place(portfolio=portfolio, symbol="BTCUSDT", side="BUY" if n % 2 == 0 else "SELL",
                    order_type="MARKET", quantity=Decimal("0.001"))
    connections.close_all()


def bench_parallel_market_orders(count: int, processes: int) -> None:
    import multiprocessing

    from django.db import connections

    portfolios = [paper_portfolio(f"parallel-{n}").pk for n in range(processes)]
    connections.close_all()
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_place_orders, args=(pk, count // processes))
               for pk in portfolios]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - started
    placed = count // processes * processes
    print(f"paper market orders from {processes} processes: {placed} in {elapsed:.2f} s = "
          f"{placed / elapsed:.0f} orders/s")


def bench_crossing(symbols: list[str], prints: int) -> None:
    from orders.fillmodel import Trade
    from orders.models import Order
    from orders.services import order_place, paper_orders_match

    portfolio = paper_portfolio("crossing")
    prices = {}
    for symbol in symbols:
        prices[symbol] = Decimal("100")
        set_price(symbol, prices[symbol])
    orders = [order_place(portfolio=portfolio, symbol=symbols[n % len(symbols)], side="BUY",
                          order_type="LIMIT", quantity=Decimal("1"),
                          price=Decimal("95") - n // len(symbols), time_in_force="GTC")
              for n in range(100)]
    resting = sum(o.status == "NEW" for o in orders)
    latencies, started = [], time.perf_counter()
    for _ in range(prints):
        symbol = random.choice(symbols)
        price = Decimal(random.randint(85, 100))
        crossing = Order.objects.filter(portfolio=portfolio, symbol=symbol, status="NEW",
                                        price__gte=price).exists()
        t0 = time.perf_counter()
        filled = paper_orders_match(market="spot", symbol=symbol,
                                    trade=Trade(price=price, qty=Decimal("100"),
                                                time=datetime.now(tz=UTC)))
        if crossing and filled:
            latencies.append((time.perf_counter() - t0) * 1000)
    elapsed = time.perf_counter() - started
    print(f"matcher: {resting} resting limits on {len(symbols)} symbols, {prints} prints in "
          f"{elapsed:.2f} s = {prints / elapsed:.0f} prints/s")
    if latencies:
        ordered = sorted(latencies)
        print(f"crossing print -> fill committed: {len(latencies)} fills, median "
              f"{statistics.median(ordered):.1f} ms, p99 {ordered[int(0.99 * len(ordered))]:.1f} "
              f"ms, max {ordered[-1]:.1f} ms")


def main():
    args = arguments()
    recreate_database(args.server, DATABASE)
    try:
        setup_django(args.server)
        symbols = load_symbols(20)
        bench_market_orders(args.orders)
        if args.processes > 1:
            bench_parallel_market_orders(args.orders, args.processes)
        bench_crossing(symbols, args.prints)
    finally:
        drop_database(args.server, DATABASE)


if __name__ == "__main__":
    main()
