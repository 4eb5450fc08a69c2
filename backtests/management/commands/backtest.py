import json
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from backtests import services
from backtests.engine import CandleError, infer_interval, load_csv, load_funding, run_backtest
from backtests.engine.report import as_report

SHOWN = ("total_return_pct", "buy_hold_return_pct", "cagr_pct", "max_drawdown_pct",
         "max_drawdown_duration_days", "sharpe", "sortino", "calmar", "volatility_pct",
         "trade_count", "win_rate_pct", "profit_factor", "expectancy", "avg_win", "avg_loss",
         "best_trade_pct", "worst_trade_pct", "avg_trade_duration_hours",
         "max_trade_duration_hours", "exposure_pct", "max_consecutive_wins",
         "max_consecutive_losses", "sqn", "fees_paid", "final_equity")


def decimal(text: str) -> Decimal:
    try:
        return Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{text!r} is not a number") from None


def moment(text: str) -> datetime:
    when = datetime.fromisoformat(text)
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


class Command(BaseCommand):
    help = ("Backtest a strategy on stored candles (--symbol, --interval) or on a Binance kline "
            "CSV file (--csv, no database needed for the candles).")

    def add_arguments(self, parser):
        parser.add_argument("--strategy", required=True, help="a registered strategy's name")
        parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                            help="a strategy parameter; repeat for several")
        parser.add_argument("--symbol", help="e.g. BTCUSDT (its filters apply when known)")
        parser.add_argument("--interval", help="e.g. 1m, 1h (a CSV's is read from its times)")
        parser.add_argument("--start", type=moment, help="first candle, e.g. 2024-03-01")
        parser.add_argument("--end", type=moment, help="candles before this moment")
        parser.add_argument("--csv", help="a Binance kline CSV file instead of stored candles")
        parser.add_argument("--fee", type=decimal, default=Decimal("0.001"),
                            help="fee per side, maker and taker (0.001 = 0.1%%)")
        parser.add_argument("--fee-asset", choices=("received", "quote"), default="received",
                            help="received: as Binance spot (a buy's fee in the base asset); "
                                 "quote: added to the cost, as most backtesters do")
        parser.add_argument("--slippage-bps", type=decimal, default=Decimal(0))
        parser.add_argument("--cash", type=decimal, default=Decimal(10_000))
        parser.add_argument("--market", choices=("spot", "futures"), default="spot",
                            help="futures: a USD-M perpetual, long and/or short, leveraged")
        parser.add_argument("--leverage", type=int, default=1, help="futures only, 1 to 125")
        parser.add_argument("--direction", choices=("long", "short", "both"),
                            help="futures only (default both); spot is long-only")
        parser.add_argument("--maintenance-margin", type=decimal, default=Decimal("0.004"),
                            help="futures: the maintenance margin rate (0.004 = 0.4%%)")
        parser.add_argument("--funding", help="futures: a funding rate file (JSON of "
                                              "/fapi/v1/fundingRate, or CSV)")
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(self, *args, **options):
        try:
            strategy = services.strategy_build(name=options["strategy"],
                                               params=self._params(options["param"]))
            candles, interval = self._candles(options)
            market = options["market"]
            filters = services.symbol_filters(symbol=options["symbol"], market=market)
            config = services.backtest_config(
                interval=interval, cash=options["cash"], fee=options["fee"],
                slippage_bps=options["slippage_bps"], filters=filters,
                fee_asset="quote" if market == "futures" else options["fee_asset"],
                **self._futures(options))
            result = run_backtest(strategy, candles, config, funding=self._funding(options))
        except ValueError as error:  # CandleError and bad settings are ValueErrors, in words
            raise CommandError(str(error)) from None
        except DatabaseError as error:
            raise CommandError(f"the database cannot be read ({error}): run `python manage.py "
                               f"migrate`, or backtest a CSV file with --csv") from None
        report = as_report(result, strategy)
        if filters is None:
            report["notes"].append("The symbol's filters are not known here: quantities are "
                                   "rounded to 0.00000001 and no minimum notional applies.")
        if options["json"]:
            self.stdout.write(json.dumps(report))
        else:
            self._print(report)

    def _futures(self, options) -> dict:
        if options["market"] != "futures":
            if options["funding"] or options["leverage"] != 1 or options["direction"]:
                raise CommandError("--leverage, --direction and --funding are for "
                                   "--market futures (spot is long-only, unleveraged)")
            return {}
        return {"market": "futures", "leverage": options["leverage"],
                "direction": options["direction"] or "both",
                "maintenance_margin": options["maintenance_margin"]}

    def _funding(self, options):
        if not options["funding"]:
            return None
        try:
            return load_funding(options["funding"])
        except OSError as error:
            raise CandleError(f"cannot read {options['funding']}: {error.strerror}") from None

    def _params(self, pairs: list[str]) -> dict:
        params = {}
        for pair in pairs:
            name, sep, value = pair.partition("=")
            if not sep or not name:
                raise CommandError(f"--param {pair!r}: write it as name=value")
            params[name.strip()] = value.strip()
        return params

    def _candles(self, options):
        if options["csv"]:
            try:
                candles = load_csv(options["csv"])
            except OSError as error:
                raise CandleError(f"cannot read {options['csv']}: {error.strerror}") from None
            candles = self._in_range(candles, options["start"], options["end"])
            interval = infer_interval(candles)
            if options["interval"] and options["interval"] != interval:
                raise CandleError(f"the file holds {interval} candles, not {options['interval']}")
            return candles, interval
        if not options["symbol"] or not options["interval"]:
            raise CandleError("give --symbol and --interval (stored candles) or --csv FILE")
        candles = services.stored_candles(symbol=options["symbol"].upper(),
                                          interval=options["interval"],
                                          start=options["start"], end=options["end"],
                                          market=options["market"])
        return candles, options["interval"]

    def _in_range(self, candles, start, end):
        if start is not None:
            candles = candles[candles["open_time"] >= start]
        if end is not None:
            candles = candles[candles["open_time"] < end]
        if candles.empty:
            raise CandleError("the file has no candles in that range")
        return candles.reset_index(drop=True)

    def _print(self, report: dict) -> None:
        self.stdout.write(f"{report['strategy']} {report['params']}")
        self.stdout.write(f"{report['start']} .. {report['end']}")
        for name in SHOWN:
            self.stdout.write(f"  {name.replace('_', ' '):<28} {report.get(name)}")
        for trade in report["trades"][-10:]:
            self.stdout.write(f"  {trade['entry_time']} -> {trade['exit_time']}  "
                              f"{trade['side']:<5} {trade['return_pct']:>9}%  "
                              f"{trade['exit_reason']}")
        for note in report["notes"]:
            self.stdout.write(f"note: {note}")
