"""`manage.py backtest`: on a kline CSV (no database needed) or on stored candles, in words
or as one JSON object."""

import json
from datetime import timedelta
from decimal import Decimal as D
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from marketdata.models import Kline
from tests.backtests.scripted import START

CSV = Path(__file__).resolve().parents[3] / "shared/data/klines/BTCUSDT-1h-taeminlee_cp-spot.csv"
REQUIRED = ("trades", "total_return_pct", "buy_hold_return_pct", "max_drawdown_pct", "sharpe",
            "sortino", "win_rate_pct", "profit_factor", "final_equity", "exposure_pct",
            "fees_paid")


def backtest(*args) -> str:
    out = StringIO()
    call_command("backtest", *args, stdout=out)
    return out.getvalue()


def test_a_csv_backtest_prints_one_json_object_with_the_figures_and_trades():
    report = json.loads(backtest("--strategy", "sma_cross", "--param", "fast=10",
                                 "--param", "slow=30", "--csv", str(CSV), "--json"))

    assert set(REQUIRED) <= set(report)
    assert report["trade_count"] == len(report["trades"]) > 20
    trade = report["trades"][0]
    assert trade["entry_words"].startswith("SMA(10)")
    assert trade["exit_reason"] == "signal"
    implied = D(10_000) * (1 + D(report["total_return_pct"]) / 100)  # the percent has 4 dp
    assert abs(D(report["final_equity"]) - implied) < D("0.01")
    assert "open_at_end" in report


def test_fees_slippage_and_cash_come_from_the_command_line():
    cheap = json.loads(backtest("--strategy", "sma_cross", "--csv", str(CSV), "--json",
                                "--fee", "0", "--cash", "500"))
    dear = json.loads(backtest("--strategy", "sma_cross", "--csv", str(CSV), "--json",
                               "--fee", "0.002", "--slippage-bps", "5", "--cash", "500"))

    assert D(cheap["fees_paid"]) == 0
    assert D(dear["fees_paid"]) > 0
    assert D(dear["final_equity"]) < D(cheap["final_equity"])


def test_the_range_limits_a_csv_and_words_show_without_json():
    text = backtest("--strategy", "rsi_reversion", "--csv", str(CSV), "--start", "2023-07-01",
                    "--end", "2023-09-01")

    assert "2023-07-01T01:00:00+00:00 .. 2023-09-01T00:00:00+00:00" in text
    assert "total return pct" in text


@pytest.mark.parametrize(("args", "words"), [
    (["--strategy", "nope", "--csv", str(CSV)], "unknown strategy 'nope'"),
    (["--strategy", "sma_cross", "--param", "fast=200", "--csv", str(CSV)],
     "fast: fast must be at most 100"),
    (["--strategy", "sma_cross", "--param", "fast"], "write it as name=value"),
    (["--strategy", "sma_cross", "--csv", "missing.csv"], "cannot read missing.csv"),
    (["--strategy", "sma_cross"], "give --symbol and --interval"),
    (["--strategy", "sma_cross", "--csv", str(CSV), "--interval", "1m"],
     "the file holds 1h candles, not 1m"),
])
def test_bad_input_is_refused_in_words(args, words):
    with pytest.raises(CommandError, match=words):
        backtest(*args)


@pytest.mark.django_db
def test_stored_candles_are_backtested_by_symbol_and_interval():
    for n in range(120):
        price = D(100 + (n % 30) - (15 if n % 60 > 30 else 0))
        opened = START + timedelta(hours=n)
        Kline.objects.create(market="spot", symbol="ETHUSDT", interval="1h", open_time=opened,
                             close_time=opened + timedelta(minutes=59, seconds=59), open=price,
                             high=price + 1, low=price - 1, close=price, volume=D(1))

    report = json.loads(backtest("--strategy", "sma_cross", "--param", "fast=3",
                                 "--param", "slow=8", "--symbol", "ethusdt", "--interval",
                                 "1h", "--json"))

    assert report["start"].startswith("2026-03-02T01:00")
    assert report["trades"]


@pytest.mark.django_db
def test_no_stored_candles_is_said_in_words():
    with pytest.raises(CommandError, match="no stored 1h candles of BTCUSDT"):
        backtest("--strategy", "sma_cross", "--symbol", "BTCUSDT", "--interval", "1h")
