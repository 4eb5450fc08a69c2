"""The live bot and the backtester run the same strategy class on the same candles and decide
the same things on the same bars.

Real BTCUSDT minutes are stored; the bot's tick runs on each candle in turn, as the beat
would run it, with the paper market's price at the next candle's open (where the backtest
fills a market order). Its decision log must equal the backtest's decisions, entry for entry
and exit for exit, including the protective exits. (The trailing stop is left out: a paper
fill is stamped with the wall clock, not the replayed time, so the live bot could not tell
which replayed candles came after its entry.)
"""

from datetime import timedelta
from decimal import Decimal as D
from pathlib import Path

import pandas as pd
import pytest

from backtests.drift import drift_report
from backtests.engine import BacktestConfig, SymbolFilters, load_csv, run_backtest
from bots.models import BotDecision
from bots.services import bot_create, bot_start, bot_tick
from bots.strategies import get_strategy
from marketdata.models import Kline
from marketdata.symbol_rules import rules_for
from tests.backtests.conftest import market_is_live

pytestmark = pytest.mark.django_db
CSV = Path(__file__).resolve().parents[3] / "shared/data/klines/BTCUSDT-1m-taeminlee_cp-spot.csv"
PARAMS = {"fast": 5, "slow": 13, "stop_loss_pct": "0.25", "take_profit_pct": "0.4"}
CANDLES = 400


def store(candles: pd.DataFrame) -> None:
    Kline.objects.bulk_create(
        Kline(market="spot", symbol="BTCUSDT", interval="1m", open_time=row.open_time,
              close_time=row.open_time + timedelta(seconds=59, microseconds=999000),
              open=D(str(row.open)), high=D(str(row.high)), low=D(str(row.low)),
              close=D(str(row.close)), volume=D(str(row.volume)))
        for row in candles.itertuples())


def replay(bot, candles: pd.DataFrame) -> None:
    """Each candle's tick just after it closed, the market at the next candle's open."""
    for bar in range(len(candles) - 1):
        market_is_live("BTCUSDT", str(candles["open"].iloc[bar + 1]))
        opened = candles["open_time"].iloc[bar].to_pydatetime()
        bot_tick(bot_id=bot.pk, candle_open_time=opened,
                 now=opened + timedelta(minutes=1, seconds=1))


def live_decisions(bot, candles: pd.DataFrame) -> list[tuple[int, str, str]]:
    bar_of = {t.to_pydatetime(): i for i, t in enumerate(candles["open_time"])}
    decided = []
    for decision in BotDecision.objects.filter(bot=bot).order_by("candle_open_time"):
        for action in decision.actions:
            if "side" in action:
                decided.append((bar_of[decision.candle_open_time], action["side"],
                                action["tag"]))
    return decided


def test_the_live_bot_decides_what_the_backtest_decides_on_the_same_candles(paper_portfolio):
    candles = load_csv(CSV).iloc[:CANDLES].reset_index(drop=True)
    store(candles)
    bot = bot_start(bot=bot_create(portfolio=paper_portfolio, name="replayed",
                                   symbol="BTCUSDT", strategy="sma_cross", params=PARAMS,
                                   sizing="fixed_quote", sizing_config={"amount": "100"}))

    replay(bot, candles)
    config = BacktestConfig(cash=D(10_000), sizing="fixed_quote",
                            sizing_config={"amount": "100"},
                            filters=SymbolFilters.from_rules(rules_for("spot", "BTCUSDT")))
    # The live bot never decides on the last candle (no candle after it to fill in here).
    backtest = run_backtest(get_strategy("sma_cross")(**PARAMS), candles.iloc[:-1], config)

    decided = live_decisions(bot, candles)
    assert len(backtest.decisions) >= 20
    assert {tag for _, _, tag in backtest.decisions} >= {"entry", "exit", "stop_loss"}
    assert decided == backtest.decisions


def test_the_drift_report_pairs_each_live_trade_with_its_backtest_twin(paper_portfolio):
    candles = load_csv(CSV).iloc[:CANDLES].reset_index(drop=True)
    store(candles)
    bot = bot_start(bot=bot_create(portfolio=paper_portfolio, name="drifting",
                                   symbol="BTCUSDT", strategy="sma_cross", params=PARAMS,
                                   sizing="fixed_quote", sizing_config={"amount": "100"}))
    replay(bot, candles)

    report = drift_report(bot=bot)

    assert report["live_only"] == report["backtest_only"] == 0
    assert report["matched"] >= 8
    stops = []
    for row in report["rows"]:
        live, twin = row["live"], row["backtest"]
        assert live["exit_reason"].replace("exit", "signal") == twin["exit_reason"]
        # Market entries fill at the next open on both sides: the same price.
        assert D(live["entry_price"]) == D(twin["entry_price"])
        if twin["exit_reason"] == "signal":
            assert D(live["exit_price"]) == D(twin["exit_price"])
        if twin["exit_reason"] == "stop_loss":
            stops.append(row["differences"])
    # The backtest fills a stop at its level inside the candle; a bot ticking on closed
    # candles sells at the next open: the report says how far apart, in basis points.
    assert any(words.startswith("exit price") and "bps" in words
               for differences in stops for words in differences)
