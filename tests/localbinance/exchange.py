"""The fake exchange's state: markets, symbols, accounts, engines, user-event routing.

Everything here runs on the server's event loop; nothing is shared across threads.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from . import data, errors
from .accounts import Account, ApiKey
from .decimals import D
from .futures_engine import FuturesEngine
from .klines import load_csv, rebased
from .market import SymbolMarket, Tick
from .matching import Rates, SpotEngine
from .ratelimit import WEIGHT_LIMITS, RateLimits
from .streams import MarketPublisher, StreamHub
from .symbols import SymbolInfo
from .userdata import UserEvents

DEFAULT_API_KEY = "LocalBinanceTestApiKey" + "0" * 42
DEFAULT_API_SECRET = "LocalBinanceTestApiSecret" + "0" * 39


@dataclass
class AccountConfig:
    name: str = "default"
    api_key: str = DEFAULT_API_KEY
    api_secret: str = DEFAULT_API_SECRET
    balances: dict[str, str] = field(
        default_factory=lambda: {"USDT": "10000", "BTC": "0.5", "ETH": "5"}
    )
    futures_balances: dict[str, str] = field(default_factory=lambda: {"USDT": "10000"})
    can_trade: bool = True
    enable_futures: bool = True


@dataclass
class ServerConfig:
    klines: list[tuple[str, Path]] = field(default_factory=list)
    accounts: list[AccountConfig] = field(default_factory=lambda: [AccountConfig()])
    # Candles before this index are history (REST klines); replay starts here.
    start_index: int = 100
    spot_maker: str = "0.001"
    spot_taker: str = "0.001"
    futures_maker: str = "0.0002"
    futures_taker: str = "0.0005"
    enforce_rate_limits: bool = True
    # > 0: re-send the current kline/24hr ticker/mark price every N seconds like Binance
    # (1-2 s there). Off by default so tests see only the events they caused.
    stream_push_interval: float = 0.0
    # Move the candles to the present and replay one per interval of wall time (demos).
    realtime: bool = False

    @classmethod
    def default_klines(cls) -> list[tuple[str, Path]]:
        base = data.klines_dir()
        return [(name.split("-", 1)[0], base / name) for name in data.DEFAULT_KLINES]


class Exchange:
    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.clock_skew_ms = 0
        self.hub = StreamHub()
        self.markets: dict[str, SymbolMarket] = {}
        self.symbols: dict[str, dict[str, SymbolInfo]] = {"spot": {}, "futures": {}}
        for symbol, path in config.klines or ServerConfig.default_klines():
            self._add_market(symbol, path)
        self.keys: dict[str, ApiKey] = {}
        self.accounts: dict[str, Account] = {}
        self._uids = itertools.count(354937868)
        for account in config.accounts:
            self.add_account(account)
        self.publisher = MarketPublisher(self.hub, self.symbols)
        self.events = UserEvents(self.hub, self.symbols, self.now, lambda s: self.markets[s].price)
        rates = Rates(D(config.spot_maker), D(config.spot_taker))
        self.spot = SpotEngine(self.markets, self.symbols["spot"], self.events, self.now, rates)
        self.futures = self._futures_engine()
        self.rate_limits = self._rate_limits()
        self.tick_listeners: list[Callable[[Tick], None]] = [
            self.spot.on_tick,
            self.futures.on_tick,
        ]

    def _futures_engine(self) -> FuturesEngine:
        rates = Rates(D(self.config.futures_maker), D(self.config.futures_taker))
        return FuturesEngine(self.markets, self.symbols["futures"], self.events, self.now, rates)

    def _rate_limits(self) -> RateLimits:
        # Enforce the futures weight limit that the served exchangeInfo advertises.
        limits = dict(WEIGHT_LIMITS)
        for rule in data.futures_exchange_header()["rateLimits"]:
            if rule["rateLimitType"] == "REQUEST_WEIGHT":
                limits["futures"] = rule["limit"]
        return RateLimits(enforce=self.config.enforce_rate_limits, limits=limits)

    # --- construction -------------------------------------------------------------------
    def _add_market(self, symbol: str, path: Path) -> None:
        spot_raw = data.spot_symbol_info(symbol)
        futures_raw = data.futures_symbol_info(symbol)
        if spot_raw is None and futures_raw is None:
            raise ValueError(f"{symbol}: no exchangeInfo entry in the shared data")
        if spot_raw is not None:
            self.symbols["spot"][symbol] = SymbolInfo(spot_raw, "spot")
        if futures_raw is not None:
            self.symbols["futures"][symbol] = SymbolInfo(futures_raw, "futures")
        info = self.symbols["spot"].get(symbol) or self.symbols["futures"][symbol]
        candles = load_csv(path)
        if self.config.realtime:
            candles = rebased(candles, self.config.start_index, self.now())
        self.markets[symbol] = SymbolMarket(
            symbol, candles, info.tick_size, info.min_qty * 100, self.config.start_index
        )

    def add_account(self, cfg: AccountConfig) -> Account:
        account = self.accounts.get(cfg.name)
        if account is None:
            spot = {a: D(v) for a, v in cfg.balances.items()}
            futures = {a: D(v) for a, v in cfg.futures_balances.items()}
            account = Account(cfg.name, spot, futures, next(self._uids))
            self.accounts[cfg.name] = account
        self.keys[cfg.api_key] = ApiKey(
            cfg.api_key,
            cfg.api_secret,
            account,
            can_trade=cfg.can_trade,
            enable_futures=cfg.enable_futures,
        )
        return account

    # --- clocks -------------------------------------------------------------------------
    def now(self) -> int:
        """Wall clock (plus injected skew): order times and timestamp validation."""
        return int(time.time() * 1000) + self.clock_skew_ms

    def market(self, symbol: str) -> SymbolMarket:
        if symbol not in self.markets:
            raise errors.invalid_symbol()
        return self.markets[symbol]

    # --- price path -----------------------------------------------------------------------
    def advance(self, n: int = 1) -> int:
        """Replay the next `n` candles of every symbol; returns how many were replayed."""
        played = 0
        for _ in range(n):
            progressed = False
            for market in self.markets.values():
                candle = market.next_candle()
                if candle is None:
                    continue
                path = market.replay_path(candle)
                if not path:
                    market.append_quiet(candle)
                for price, qty, at in path:
                    self._print(market, price, qty, at, liquidity=qty)
                self._close_candle(market, candle.close_time)
                progressed = True
            if not progressed:
                break
            played += 1
        return played

    def set_price(self, symbol: str, price: Decimal) -> Tick:
        """Trade at `price` with unbounded liquidity (every crossed order fills)."""
        market = self.market(symbol)
        return self._print(market, price, market.lot_unit, market.now_ms, liquidity=None)

    def emit_trade(self, symbol: str, price: Decimal, qty: Decimal) -> Tick:
        """A public trade of `qty`: crossed resting orders share that much liquidity."""
        market = self.market(symbol)
        return self._print(market, price, qty, market.now_ms, liquidity=qty)

    def _print(
        self, market: SymbolMarket, price: Decimal, qty: Decimal, at: int, liquidity
    ) -> Tick:
        closed_before = len(market.closed)
        tick = market.print_trade(price, qty, at, liquidity)
        if len(market.closed) > closed_before:  # a manual print rolled the candle over
            self.publisher.on_candle_closed(market)
        book = market.rebuild_book()
        self.publisher.on_tick(market, tick, book)
        for listener in self.tick_listeners:
            listener(tick)
        return tick

    def heartbeat(self) -> None:
        for market in self.markets.values():
            self.publisher.on_heartbeat(market)

    def _close_candle(self, market: SymbolMarket, close_time: int) -> None:
        if market.close_live(close_time) is not None:
            self.publisher.on_candle_closed(market)
