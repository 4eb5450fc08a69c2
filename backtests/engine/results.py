"""What a backtest returns: its trades, its equity curve and the figures drawn from them.

The simulation runs in float64; a ``Trade`` keeps floats (cheap to make by the ten
thousand) and ``as_report`` turns money into ``Decimal`` at the edge.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

EXIT_REASONS = ("signal", "stop_loss", "take_profit", "trailing_stop", "liquidation",
                "open_at_end")


@dataclass
class Trade:
    """One round trip, long (spot or futures) or short (futures). ``entry_bar``/``exit_bar``
    are row numbers in the candles: the bar whose open (market orders) or range (stops,
    limits) the fill happened in. ``signal_bar`` is the bar whose close decided the entry.
    ``fees`` are in the quote asset (a base-asset fee valued at its fill price); ``pnl`` is
    net of them and of ``funding`` (futures: paid when positive, received when negative).
    ``cost`` is what the trade put up: the quote spent (spot) or the margin (futures), so
    ``return_pct`` is a futures trade's return on margin, as Binance shows it.
    ``exit_reason`` is one of ``EXIT_REASONS`` (or a strategy's own exit tag)."""

    entry_bar: int
    entry_price: float
    quantity: float
    entry_fee: float
    signal_bar: int
    entry_time: datetime | None = None  # set from the bars when the run ends
    exit_bar: int | None = None
    exit_time: datetime | None = None
    exit_price: float | None = None
    exit_fee: float = 0.0
    exit_reason: str = ""
    pnl: float = 0.0
    return_pct: float = 0.0
    cost: float = 0.0  # quote spent on the entry, fee included
    exit_note: str = ""  # a protective exit's words (signal exits are worded on demand)
    side: str = "long"  # "short": a futures short
    funding: float = 0.0

    @property
    def fees(self) -> float:
        return self.entry_fee + self.exit_fee

    @property
    def is_open(self) -> bool:
        return self.exit_reason == "open_at_end"


@dataclass
class Curve:
    """Equity at every candle's close (cash plus the position at the close), the time of
    each close, and whether a position was held over the candle."""

    times: pd.DatetimeIndex
    equity: np.ndarray
    close: np.ndarray
    in_market: np.ndarray


class BacktestCancelled(Exception):
    """Raised by a progress callback to stop a run; the engine lets it through."""


@dataclass
class BacktestResult:
    """``trades`` in entry order (a position still open at the end is the last one, with
    ``exit_reason`` "open_at_end", marked to market at the last close); ``refusals`` are
    entries the risk rules, the protections or the filters refused, as (bar, reason);
    ``notes`` state the assumptions a reader must know (e.g. which exit wins when a candle
    reaches both the stop and the take profit)."""

    strategy: str
    params: dict
    trades: list[Trade]
    curve: Curve
    starting_cash: float
    fees_paid: float
    refusals: list[tuple[int, str]]
    notes: list[str]
    metrics: dict
    monthly_returns: list[dict]
    decisions: list[tuple[int, str, str]]  # (bar, side, tag) of every order the strategy asked
    prepared: pd.DataFrame  # the candles with the strategy's indicators and signals
