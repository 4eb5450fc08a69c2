"""Backtests in the platform: candles from the database, the symbol's filters from its
stored rules, the engine's configuration from what a trader typed, and runs: created and
checked in words, executed on a Celery worker with live progress, cancelled on request.

A run is claimed with a conditional UPDATE (queued -> running), so a task delivered twice runs
once. While it runs, the engine's progress callback saves the fraction, reads the cancel flag
and pushes a `backtest.progress` event {id, status, progress} to the owner's pages, at most
every PROGRESS_SECONDS; the final status is always pushed too.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import logging
import subprocess
import time
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation

import pandas as pd
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings as django_settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from backtests.engine import (
    BacktestCancelled,
    BacktestConfig,
    CandleError,
    SymbolFilters,
    data_hash,
    run_backtest,
)
from backtests.engine.checks import lookahead_check, warmup_check
from backtests.engine.config import MAX_LEVERAGE
from backtests.engine.data import candles_from
from backtests.engine.futures import futures_refusal
from backtests.engine.report import as_report
from backtests.models import BacktestRun
from backtests.runs import run_announce, run_cancel, run_finish, run_queue
from bots.ai import with_ai_analyses
from bots.strategies import ParameterError, Strategy, get_strategy
from bots.strategies.sizing import METHODS as SIZING_METHODS
from bots.strategies.sizing import SizingError, size_intent
from marketdata.models import INTERVALS, Kline
from marketdata.symbol_rules import rules_for

ZERO = Decimal(0)

COLUMNS = ["open_time", "open", "high", "low", "close", "volume"]


def strategy_build(*, name: str, params: dict) -> Strategy:
    """The strategy, or ValueError in words (an unknown name, each bad parameter)."""
    try:
        strategy_class = get_strategy(name)
    except KeyError as missing:
        raise ValueError(str(missing.args[0])) from None
    try:
        return strategy_class(**params)
    except ParameterError as invalid:
        raise ValueError("; ".join(f"{k}: {v}" for k, v in invalid.errors.items())) from None


def stored_candles(*, symbol: str, interval: str, start: datetime | None = None,
                   end: datetime | None = None, market: str = "spot") -> pd.DataFrame:
    """Stored candles of ``symbol`` from ``start`` up to (not including) ``end``."""
    rows = Kline.objects.filter(market=market, symbol=symbol, interval=interval)
    if start is not None:
        rows = rows.filter(open_time__gte=start)
    if end is not None:
        rows = rows.filter(open_time__lt=end)
    frame = pd.DataFrame(list(rows.order_by("open_time").values_list(*COLUMNS)),
                         columns=COLUMNS)
    if frame.empty:
        raise CandleError(f"no stored {interval} candles of {symbol} in that range: import "
                          f"them first (manage.py backfill_klines or import_klines)")
    return candles_from(frame)


def symbol_filters(*, symbol: str | None, market: str = "spot") -> SymbolFilters | None:
    """The symbol's filters from its stored exchange rules; None when they are not known."""
    rules = rules_for(market, symbol) if symbol else None
    return SymbolFilters.from_rules(rules) if rules is not None else None


def run_config(run, filters: SymbolFilters | None) -> BacktestConfig:
    """The engine's config from a stored run's settings (a backtest's or an optimisation's);
    runs stored before futures existed have no leverage settings: spot, 1x, long."""
    given = {**DEFAULT_SETTINGS, **run.settings}
    futures = {}
    if run.market == "futures":
        futures = {"market": "futures", "leverage": int(given["leverage"]),
                   "direction": given["direction"],
                   "maintenance_margin": Decimal(given["maintenance_margin"])}
    return backtest_config(
        interval=run.interval, cash=Decimal(given["cash"]), fee=Decimal(given["fee"]),
        slippage_bps=Decimal(given["slippage_bps"]), filters=filters,
        fee_asset=given["fee_asset"], sizing=given["sizing"],
        sizing_config=given["sizing_config"], **futures)


def backtest_config(*, interval: str, cash: Decimal, fee: Decimal, slippage_bps: Decimal,
                    filters: SymbolFilters | None, fee_asset: str = "received",
                    **extra) -> BacktestConfig:
    return BacktestConfig(cash=cash, maker_fee=fee, taker_fee=fee, fee_asset=fee_asset,
                          slippage_bps=slippage_bps, filters=filters or SymbolFilters(),
                          interval=interval, **extra)


# --- runs: create, execute on a worker, cancel -------------------------------------------------

logger = logging.getLogger(__name__)
R = BacktestRun.Status

# The task's limits (backtests.tasks); a run still "running" well past the hard one is dead.
SOFT_TIME_LIMIT = 30 * 60
TIME_LIMIT = 31 * 60
STALE_AFTER = timedelta(seconds=TIME_LIMIT + 60)
PROGRESS_SECONDS = 0.5  # at most one progress save, cancel check and event this often
MAX_SLIPPAGE_BPS = Decimal(10_000)

DEFAULT_SETTINGS = {"cash": "10000", "fee": "0.001", "fee_asset": "received",
                    "slippage_bps": "0", "sizing": "allocation_fraction",
                    "sizing_config": {"fraction": "1"},
                    # USD-M futures only (market "futures"); spot is long-only, 1x.
                    "leverage": 1, "direction": "long", "maintenance_margin": "0.004"}
FEE_ASSETS = ("received", "quote")
MARKETS = ("spot", "futures")
DIRECTIONS = ("long", "short", "both")
UNKNOWN_FILTERS_NOTE = ("The symbol's filters are not known here: quantities are rounded to "
                        "0.00000001 and no minimum notional applies.")


AI_COVERAGE_NOTE = ("Stored AI analyses (point in time, never recomputed) covered {share:.0%} "
                    "of the candles; the rest ran on the technical score alone.")


class BacktestRefused(Exception):
    """The backtest cannot run as asked; `errors` maps fields to messages in words."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def backtest_run_validate(*, owner, strategy: str, params: dict, symbol: str, interval: str,
                          start: datetime | None, end: datetime | None, settings: dict,
                          portfolio=None, market: str = "spot") -> dict:
    """The run's fields, complete and JSON-ready (the strategy's every parameter, the settings
    with their defaults, decimals as strings), or BacktestRefused naming each problem."""
    errors: dict[str, str] = {}
    symbol = (symbol or "").strip().upper()
    if market not in MARKETS:
        errors["market"] = "spot or futures (USD-M)"
    fields = {"owner": owner, "portfolio": portfolio, "strategy": strategy, "symbol": symbol,
              "market": market, "interval": interval, "start": start, "end": end,
              "params": _checked_params(strategy, params, errors),
              "settings": _checked_settings(settings, errors, market=market)}
    if portfolio is not None and portfolio.owner_id != owner.pk:
        errors["portfolio"] = f"portfolio #{portfolio.pk} is not yours"
    if not symbol.isalnum():
        errors["symbol"] = "give a symbol such as BTCUSDT"
    if interval not in INTERVALS:
        errors["interval"] = f"{interval!r} is not an interval: use one of {', '.join(INTERVALS)}"
    if start is not None and end is not None and start >= end:
        errors["end"] = "the end must be after the start"
    if (fields["settings"].get("sizing") == "risk_per_trade" and fields["params"]
            and not Decimal(str(fields["params"].get("stop_loss_pct") or 0))):
        errors["sizing"] = ("risk_per_trade sizes each entry by its distance to the stop: set "
                            "the strategy's stop_loss_pct, or choose another sizing")
    if not errors and market == "futures":
        refusal = futures_refusal(get_strategy(strategy)(**fields["params"]))
        if refusal:
            errors["strategy"] = refusal
    if not errors and not _has_candles(symbol, interval, start, end, market):
        which = interval if market == "spot" else f"{market} {interval}"
        errors["candles"] = (f"no stored {which} candles of {symbol} in that range: import "
                             f"them first (manage.py backfill_klines or import_klines)")
    if errors:
        raise BacktestRefused(errors)
    return fields


def _checked_params(strategy: str, params: dict | None, errors: dict) -> dict:
    try:
        get_strategy(strategy)
    except KeyError as missing:
        errors["strategy"] = str(missing.args[0])
        return {}
    if not isinstance(params, dict):
        errors["params"] = "give the parameters as an object of name: value"
        return {}
    try:
        instance = strategy_build(name=strategy, params=params)
    except ValueError as invalid:
        errors["params"] = str(invalid)
        return {}
    return {name: _plain(value) for name, value in instance.params.items()}


def _checked_settings(given: dict | None, errors: dict, *, market: str = "spot") -> dict:
    if not isinstance(given, dict | None):
        errors["settings"] = "give the settings as an object of name: value"
        given = {}
    given = {k: v for k, v in (given or {}).items() if v is not None and v != ""}
    unknown = sorted(set(given) - set(DEFAULT_SETTINGS))
    if unknown:
        errors["settings"] = f"unknown setting(s): {', '.join(unknown)}"
    merged = {**DEFAULT_SETTINGS, **given}
    cash = _number(merged, "cash", errors, low=ZERO, low_ok=False)
    _number(merged, "fee", errors, low=ZERO, high=Decimal(1))
    _number(merged, "slippage_bps", errors, low=ZERO, high=MAX_SLIPPAGE_BPS)
    if merged["fee_asset"] not in FEE_ASSETS:
        errors["fee_asset"] = ("'received' (the fee in the asset an order delivers, as Binance "
                               "spot) or 'quote' (added to the cost)")
    _check_futures_settings(merged, market, errors)
    if merged["sizing"] not in SIZING_METHODS:
        errors["sizing"] = f"choose one of {', '.join(SIZING_METHODS)}"
    elif not isinstance(merged["sizing_config"], dict):
        errors["sizing_config"] = 'an object such as {"fraction": "0.5"} or {"amount": "100"}'
    else:
        merged["sizing_config"] = {k: _text_number(v) for k, v in merged["sizing_config"].items()}
        _check_sizing(merged["sizing"], merged["sizing_config"], cash, errors)
    return {k: _plain(v) for k, v in merged.items()}


def _check_futures_settings(merged: dict, market: str, errors: dict) -> None:
    """Leverage, direction and maintenance margin: futures only (fees there are in quote)."""
    try:
        merged["leverage"] = int(str(merged["leverage"]).strip())
    except ValueError:
        errors["leverage"] = f"{merged['leverage']!r} is not a whole number"
        return
    if merged["direction"] not in DIRECTIONS:
        errors["direction"] = "long, short or both"
    _number(merged, "maintenance_margin", errors, low=ZERO, high=Decimal("0.5"))
    if market != "futures":
        if merged["leverage"] != 1 or merged["direction"] != "long":
            errors["leverage" if merged["leverage"] != 1 else "direction"] = (
                "spot is long-only without leverage: choose the futures market")
        return
    merged["fee_asset"] = "quote"  # USD-M fees are paid in the quote asset
    if not 1 <= merged["leverage"] <= MAX_LEVERAGE:
        errors["leverage"] = f"a whole number from 1 to {MAX_LEVERAGE}"


def _number(settings: dict, name: str, errors: dict, *, low: Decimal, high: Decimal | None = None,
            low_ok: bool = True) -> Decimal | None:
    """settings[name] as a Decimal within [low (or above it), high); None after an error."""
    try:
        value = Decimal(str(settings[name]).strip())
    except (InvalidOperation, ValueError):
        errors[name] = f"{settings[name]!r} is not a number"
        return None
    too_low = value < low or (value == low and not low_ok)
    if not value.is_finite() or too_low or (high is not None and value >= high):
        bound = f"at least {low}" if low_ok else f"above {low}"
        errors[name] = f"must be {bound}" + (f" and below {high}" if high is not None else "")
        return None
    settings[name] = value
    return value


def _check_sizing(sizing: str, config: dict, cash: Decimal | None, errors: dict) -> None:
    money = cash or Decimal(10_000)
    try:
        size_intent(sizing, config, equity=money, allocation=money, entry_price=Decimal(100),
                    stop_price=Decimal(90))
    except SizingError as invalid:
        errors["sizing_config"] = str(invalid)


def _plain(value):
    return str(value) if isinstance(value, Decimal) else value


def _text_number(value):
    """Numbers as strings (JSON numbers are floats to some readers; 0.1 must stay 0.1)."""
    numeric = isinstance(value, int | float | Decimal) and not isinstance(value, bool)
    return str(value) if numeric else value


def _has_candles(symbol: str, interval: str, start: datetime | None,
                 end: datetime | None, market: str = "spot") -> bool:
    rows = Kline.objects.filter(market=market, symbol=symbol, interval=interval)
    if start is not None:
        rows = rows.filter(open_time__gte=start)
    if end is not None:
        rows = rows.filter(open_time__lt=end)
    return rows.exists()


@transaction.atomic
def backtest_run_create(*, owner, strategy: str, params: dict, symbol: str, interval: str,
                        start: datetime | None, end: datetime | None, settings: dict,
                        portfolio=None, market: str = "spot") -> BacktestRun:
    """A queued run (checked first: BacktestRefused in words), sent to a worker once saved."""
    fields = backtest_run_validate(owner=owner, strategy=strategy, params=params, symbol=symbol,
                                   interval=interval, start=start, end=end, settings=settings,
                                   portfolio=portfolio, market=market)
    return run_queue(BacktestRun, fields, task="backtests.tasks.backtest_run_task")


def backtest_run_repeat(*, run: BacktestRun) -> BacktestRun:
    """A new run with the same owner, strategy, parameters, range and settings."""
    return backtest_run_create(**run.repeat_kwargs())


def backtest_run_execute(*, run_id: int) -> BacktestRun | None:
    """Run a queued backtest to its end. A conditional UPDATE claims it, so a duplicate or
    late delivery of the task (or a cancelled run) does nothing and returns None."""
    claimed = BacktestRun.objects.filter(pk=run_id, status=R.QUEUED).update(
        status=R.RUNNING, started_at=timezone.now(), progress=0.0)
    if not claimed:
        return None
    run = BacktestRun.objects.get(pk=run_id)
    try:
        report, figures = _simulate(run)
    except BacktestCancelled:
        return run_finish(run, R.CANCELLED)
    except SoftTimeLimitExceeded:
        return run_finish(run, R.FAILED, error=(
            f"stopped after {SOFT_TIME_LIMIT // 60} minutes, the longest a backtest may run: "
            f"choose a shorter range or a longer interval"))
    except ValueError as error:  # CandleError, settings the engine refuses: already in words
        return run_finish(run, R.FAILED, error=str(error))
    except Exception as error:
        logger.exception("backtest run %s failed", run_id)
        return run_finish(run, R.FAILED, error=repr(error))
    try:
        return run_finish(run, R.DONE, progress=1.0, results=report, metrics=figures)
    except Exception as error:  # e.g. a report the database will not take
        logger.exception("backtest run %s: the report could not be stored", run_id)
        return run_finish(run, R.FAILED, error=f"the report could not be stored: {error!r}")


def _simulate(run: BacktestRun) -> tuple[dict, dict]:
    """The report and its figures (the metrics as the report words them)."""
    progress = _Progress(run)
    progress(0.0)  # announces "running"; a cancel that came with the claim stops it here
    strategy = strategy_build(name=run.strategy, params=run.params)
    candles = stored_candles(symbol=run.symbol, interval=run.interval, start=run.start,
                             end=run.end, market=run.market)
    filters = symbol_filters(symbol=run.symbol, market=run.market)
    config = run_config(run, filters)
    BacktestRun.objects.filter(pk=run.pk).update(
        data_hash=data_hash(candles), code_version=code_version(type(strategy)),
        candle_count=len(candles))
    with_analyses, known = with_ai_analyses(strategy, candles, market=run.market,
                                            symbol=run.symbol, interval=run.interval)
    result = run_backtest(strategy, with_analyses, config, progress=progress)
    report = as_report(result, strategy)
    if filters is None:
        report["notes"].append(UNKNOWN_FILTERS_NOTE)
    if strategy.reads_ai_analyses:
        report["notes"].append(AI_COVERAGE_NOTE.format(share=known))
    report["checks"] = _checks(strategy, candles)
    return report, {name: report.get(name) for name in result.metrics}


CHECKS = (("lookahead", lookahead_check), ("warmup", warmup_check))


def _checks(strategy: Strategy, candles: pd.DataFrame) -> dict:
    """The lookahead and warm-up checks' reports. A check that cannot run (too few candles
    for the warm-up check, a user strategy's bug) is recorded in words: it never fails the
    run, whose result stands without it."""
    checks = {}
    for name, check in CHECKS:
        try:
            checks[name] = check(strategy, candles).as_dict()
        except SoftTimeLimitExceeded:
            raise
        except Exception as error:
            logger.warning("backtest %s check could not run: %r", name, error)
            checks[name] = {"passed": None, "error": str(error) or repr(error),
                            "summary": f"The check could not run: {str(error) or repr(error)}"}
    return checks


class _Progress:
    """The engine's progress callback: at most every PROGRESS_SECONDS it saves the fraction,
    reads the cancel flag (one UPDATE does both) and tells the owner's pages."""

    def __init__(self, run: BacktestRun):
        self.run = run
        self.reported_at: float | None = None

    def __call__(self, fraction: float) -> None:
        now = time.monotonic()
        if self.reported_at is not None and now - self.reported_at < PROGRESS_SECONDS:
            return
        self.reported_at = now
        fraction = min(max(float(fraction), 0.0), 1.0)
        saved = BacktestRun.objects.filter(pk=self.run.pk, cancel_requested=False).update(
            progress=fraction)
        if not saved:  # cancel requested (or the run was deleted)
            raise BacktestCancelled
        self.run.progress = fraction
        run_announce(self.run)


def backtest_run_cancel(*, run: BacktestRun) -> BacktestRun:
    """A queued run is cancelled at once; a running one is asked to stop (cancel_requested)
    and stops at its next progress check, within about PROGRESS_SECONDS. A run still running
    well past the task's hard time limit has lost its worker, and is cancelled at once.
    Cancelling a cancelled run again changes nothing; a finished one is refused."""
    run = run_cancel(run, lost=Q(started_at__lt=timezone.now() - STALE_AFTER))
    if run.status in (R.DONE, R.FAILED):
        raise BacktestRefused({"status": f"run #{run.pk} is {run.status}: there is nothing "
                                         f"to cancel"})
    return run


@functools.cache
def git_commit() -> str:
    """The checked-out commit (asked once per process), or "unknown" without git."""
    try:
        answer = subprocess.run(["git", "rev-parse", "HEAD"], cwd=django_settings.BASE_DIR,
                                capture_output=True, text=True, timeout=5, check=True)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return answer.stdout.strip()[:12] or "unknown"


def code_version(strategy_class: type) -> str:
    """The commit and a hash of the strategy class's source: an edited strategy file (a user
    strategy is outside git) shows as a different version."""
    try:
        source = inspect.getsource(strategy_class)
    except (OSError, TypeError):  # no source file (built at run time)
        source = f"{strategy_class.__module__}.{strategy_class.__qualname__}"
    digest = hashlib.sha256(source.encode()).hexdigest()[:12]
    return f"{git_commit()} {strategy_class.name}:{digest}"
