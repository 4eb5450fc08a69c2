"""Chart data for the pages: stored candles plus the same indicator functions strategies use."""

import pandas as pd

from marketdata import indicators
from marketdata.models import Kline

CHART_LIMIT_MAX = 1500


def _frame(market: str, symbol: str, interval: str, limit: int) -> pd.DataFrame:
    rows = (Kline.objects.filter(market=market, symbol=symbol, interval=interval)
            .order_by("-open_time")
            .values_list("open_time", "open", "high", "low", "close", "volume")[:limit])
    frame = pd.DataFrame(list(rows), columns=["time", "open", "high", "low", "close", "volume"])
    frame = frame.iloc[::-1].reset_index(drop=True)
    for column in ("open", "high", "low", "close", "volume"):
        frame[column] = frame[column].astype(float)  # display only: the books stay Decimal
    return frame


def _line(times: pd.Series, values: pd.Series) -> list[dict]:
    return [{"time": t, "value": round(v, 10)} for t, v in zip(times, values, strict=True)
            if pd.notna(v)]


def chart_data(*, market: str, symbol: str, interval: str, limit: int = 500) -> dict:
    frame = _frame(market, symbol, interval, min(limit, CHART_LIMIT_MAX))
    if frame.empty:
        return {"candles": [], "overlays": {}, "panes": {}}
    times = frame["time"].map(lambda t: int(t.timestamp()))
    close = frame["close"]
    band = indicators.bollinger(close)
    macd = indicators.macd(close)
    candles = [{"time": t, "open": o, "high": h, "low": lo, "close": c, "volume": v}
               for t, o, h, lo, c, v in zip(times, frame["open"], frame["high"], frame["low"],
                                            close, frame["volume"], strict=True)]
    return {
        "candles": candles,
        "overlays": {
            "sma20": _line(times, indicators.sma(close, 20)),
            "sma50": _line(times, indicators.sma(close, 50)),
            "ema12": _line(times, indicators.ema(close, 12)),
            "ema26": _line(times, indicators.ema(close, 26)),
            "bb_upper": _line(times, band["upper"]),
            "bb_lower": _line(times, band["lower"]),
        },
        "panes": {
            "rsi": _line(times, indicators.rsi(close)),
            "macd": _line(times, macd["macd"]),
            "macd_signal": _line(times, macd["signal"]),
            "macd_hist": _line(times, macd["hist"]),
        },
    }
