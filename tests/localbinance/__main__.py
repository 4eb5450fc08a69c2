"""Run the local Binance by hand.

    python -m tests.localbinance --port 9100 --klines BTCUSDT-1m-octobot-spot.csv \
        --api-key KEY --api-secret SECRET --balance USDT=10000,BTC=0.5

Then point python-binance at http://127.0.0.1:9100 (see fixtures.binance_url_map) and
drive the replay with curl, e.g. `curl -XPOST localhost:9100/_fake/advance -d '{"n":5}'`.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from . import admin
from .data import DEFAULT_KLINES, klines_dir
from .exchange import DEFAULT_API_KEY, DEFAULT_API_SECRET, AccountConfig, ServerConfig
from .faults import KINDS
from .klines import parse_klines_arg
from .patching import binance_url_map
from .server import LocalBinance


def parse_balances(text: str) -> dict[str, str]:
    """ "USDT=10000,BTC=0.5" -> {"USDT": "10000", "BTC": "0.5"}"""
    result = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        asset, sep, amount = item.partition("=")
        if not sep:
            raise argparse.ArgumentTypeError(f"expected ASSET=AMOUNT, got {item!r}")
        result[asset.strip().upper()] = amount.strip()
    return result


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tests.localbinance",
        description="Fake Binance (spot + USD-M futures REST and WebSocket) for local testing.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Admin API (JSON over HTTP on the same port):\n"
        + (admin.__doc__ or "")
        + "\nFault kinds (POST /_fake/faults): "
        + ", ".join(sorted(KINDS))
        + "\nSee tests/localbinance/README.md for their options.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=9100, help="port (default 9100; 0 picks a free one)"
    )
    parser.add_argument(
        "--klines",
        action="append",
        metavar="[SYMBOL=]FILE.csv",
        help="kline CSV to replay; repeat for more symbols. The symbol is the file-name "
        "prefix before the first '-' unless given as SYMBOL=path. Bare names are looked "
        f"up in shared/data/klines. Default: {', '.join(DEFAULT_KLINES)}",
    )
    parser.add_argument(
        "--api-key", default=DEFAULT_API_KEY, help=f"API key (default {DEFAULT_API_KEY})"
    )
    parser.add_argument(
        "--api-secret",
        default=DEFAULT_API_SECRET,
        help=f"API secret (default {DEFAULT_API_SECRET})",
    )
    parser.add_argument(
        "--balance",
        type=parse_balances,
        default=parse_balances("USDT=10000,BTC=0.5,ETH=5"),
        help="spot balances, e.g. USDT=10000,BTC=0.5 (default USDT=10000,BTC=0.5,ETH=5)",
    )
    parser.add_argument(
        "--futures-balance",
        type=parse_balances,
        default=parse_balances("USDT=10000"),
        help="USD-M wallet balances (default USDT=10000)",
    )
    parser.add_argument(
        "--read-only", action="store_true", help="the API key has no trading permission"
    )
    parser.add_argument(
        "--start-index", type=int, default=100, help="candles served as history before replay (100)"
    )
    parser.add_argument(
        "--no-rate-limits", action="store_true", help="report weights but never answer 429"
    )
    parser.add_argument(
        "--stream-push-interval",
        type=float,
        default=2.0,
        help="re-send current klines/tickers every N s like Binance (default 2, 0 = off)",
    )
    parser.add_argument(
        "--realtime",
        action="store_true",
        help="move the candles to the present and close one per interval of wall time, so "
        "the platform sees a live market (offline demos)",
    )
    return parser


def config_from_args(args: argparse.Namespace) -> ServerConfig:
    klines = [parse_klines_arg(spec, klines_dir()) for spec in args.klines or []]
    account = AccountConfig(
        api_key=args.api_key,
        api_secret=args.api_secret,
        balances=args.balance,
        futures_balances=args.futures_balance,
        can_trade=not args.read_only,
    )
    return ServerConfig(
        klines=klines,
        accounts=[account],
        start_index=args.start_index,
        enforce_rate_limits=not args.no_rate_limits,
        stream_push_interval=args.stream_push_interval,
        realtime=args.realtime,
    )


async def replay_in_real_time(server: LocalBinance, stop: asyncio.Event) -> None:
    """Close each candle when the wall clock reaches its close (candles were rebased to now)."""
    while not stop.is_set():
        due = min(m.candles[m.cursor].close_time for m in server.exchange.markets.values()
                  if m.remaining)
        wait = max(0.0, (due + 1 - server.exchange.now()) / 1000)
        try:
            await asyncio.wait_for(stop.wait(), timeout=wait)
        except TimeoutError:
            if not server.advance(1):
                print("local Binance: every candle file has been replayed", flush=True)
                return


async def serve(config: ServerConfig, host: str, port: int) -> None:
    server = LocalBinance(config)
    await server.start(host, port)
    print(f"local Binance listening on {server.rest_url}", flush=True)
    for name, url in binance_url_map(server.rest_url, server.ws_url).items():
        print(f"  {name:8} {url}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    replay = (asyncio.create_task(replay_in_real_time(server, stop)) if config.realtime
              else None)
    await stop.wait()
    if replay is not None:
        await replay
    await server.stop()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    asyncio.run(serve(config_from_args(args), args.host, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
