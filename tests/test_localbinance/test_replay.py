"""The replayed price path, candles and number rendering (no network)."""

from __future__ import annotations

from decimal import Decimal

from tests.localbinance import ServerConfig
from tests.localbinance.data import klines_dir
from tests.localbinance.decimals import D, fixed, places, plain, round_down
from tests.localbinance.exchange import Exchange
from tests.localbinance.klines import load_csv


def make_exchange(**kwargs) -> Exchange:
    return Exchange(ServerConfig(**kwargs))


def test_intra_candle_path_follows_the_candle_direction():
    exchange = make_exchange()
    market = exchange.markets["BTCUSDT"]
    candles = load_csv(klines_dir() / "BTCUSDT-1m-octobot-spot.csv")
    green = next(c for c in candles if c.close > c.open)
    red = next(c for c in candles if c.close < c.open)
    assert [p for p, _, _ in market.replay_path(green)] == [
        green.open,
        green.low,
        green.high,
        green.close,
    ]
    assert [p for p, _, _ in market.replay_path(red)] == [red.open, red.high, red.low, red.close]
    path = market.replay_path(green)
    assert sum(q for _, q, _ in path) == green.volume
    assert [t for _, _, t in path] == [green.open_time + i * 15_000 for i in range(4)]


def test_advance_replays_every_symbol_and_stops_at_the_end():
    exchange = make_exchange(start_index=495)
    btc, eth = exchange.markets["BTCUSDT"], exchange.markets["ETHUSDT"]
    assert (btc.remaining, eth.remaining) == (7, 5)
    assert exchange.advance(100) == 7
    assert btc.remaining == eth.remaining == 0
    last = load_csv(klines_dir() / "BTCUSDT-1m-octobot-spot.csv")[-1]
    assert (btc.closed[-1].open_time, btc.closed[-1].close) == (last.open_time, last.close)
    assert exchange.advance() == 0


def test_replayed_candles_reproduce_the_csv():
    exchange = make_exchange()
    source = load_csv(klines_dir() / "ETHUSDT-1m-octobot-spot.csv")
    exchange.advance(5)
    market = exchange.markets["ETHUSDT"]
    for replayed, original in zip(market.closed[-5:], source[100:105], strict=True):
        assert (replayed.open, replayed.high, replayed.low, replayed.close, replayed.volume) == (
            original.open,
            original.high,
            original.low,
            original.close,
            original.volume,
        )
        assert (replayed.open_time, replayed.close_time) == (
            original.open_time,
            original.close_time,
        )
    assert market.price == source[104].close


def test_manual_prints_join_the_next_candle():
    exchange = make_exchange()
    market = exchange.markets["BTCUSDT"]
    exchange.set_price("BTCUSDT", Decimal("9000.01"))
    assert market.live.open == Decimal("9000.01")
    exchange.advance(1)
    candle = market.closed[-1]
    assert candle.open == Decimal("9000.01")
    assert candle.low <= Decimal("9000.01")


def test_explicit_symbol_and_multiple_files():
    config = ServerConfig(
        klines=[
            ("BTCUSDT", klines_dir() / "BTCUSDT-1m-nautilus-spot.csv"),
            ("XRPUSDT", klines_dir() / "XRPUSDT-5m-freqtrade-um.csv"),
        ],
        start_index=2,
    )
    exchange = Exchange(config)
    assert set(exchange.markets) == {"BTCUSDT", "XRPUSDT"}
    assert exchange.markets["XRPUSDT"].interval_ms == 300_000
    assert "XRPUSDT" in exchange.symbols["futures"]
    assert "XRPUSDT" in exchange.symbols["spot"]


def test_decimal_rendering():
    assert fixed(D("0.001")) == "0.00100000"
    assert fixed(D("1E-8")) == "0.00000001"
    assert plain(D("2779.000")) == "2779"
    assert plain(D("100")) == "100"
    assert places(D("0.00100")) == 3
    assert round_down(D("0.123456"), D("0.001")) == D("0.123")
