"""Market-data payloads (REST tickers/depth/klines and stream events).

Shapes follow shared/data/binance/{spot,futures_um}/rest and ws: spot pads numbers to
8 decimals, futures uses the symbol precision; event "E"/"T" carry the replay clock.
"""

from __future__ import annotations

from decimal import Decimal

from .decimals import ZERO, fixed
from .klines import Candle
from .market import BookUpdate, SymbolMarket, Tick
from .symbols import SymbolInfo


def _pct(change: Decimal, base: Decimal) -> str:
    return fixed(change / base * 100, 3) if base else "0.000"


# --- REST ---------------------------------------------------------------------------------
def kline_row(info: SymbolInfo, c: Candle) -> list:
    px, qty, amt = info.px, info.qty, info.amount
    return [
        c.open_time,
        px(c.open),
        px(c.high),
        px(c.low),
        px(c.close),
        qty(c.volume),
        c.close_time,
        amt(c.quote_volume),
        c.trades,
        qty(c.taker_buy_base),
        amt(c.taker_buy_quote),
        "0",
    ]


def book_ticker(info: SymbolInfo, m: SymbolMarket, futures: bool = False) -> dict:
    payload = {
        "symbol": info.symbol,
        "bidPrice": info.px(m.bid),
        "bidQty": info.qty(m.level_qty(0)),
        "askPrice": info.px(m.ask),
        "askQty": info.qty(m.level_qty(0)),
    }
    if futures:
        payload["time"] = m.now_ms
    return payload


def price_ticker(info: SymbolInfo, m: SymbolMarket) -> dict:
    return {"symbol": info.symbol, "price": info.px(m.price)}


def ticker_24hr(info: SymbolInfo, m: SymbolMarket, mini: bool = False) -> dict:
    s = m.stats()
    px, qty, amt = info.px, info.qty, info.amount
    full = {
        "symbol": info.symbol,
        "priceChange": px(m.price - s["open"]),
        "priceChangePercent": _pct(m.price - s["open"], s["open"]),
        "weightedAvgPrice": px(s["vwap"]),
        "prevClosePrice": px(s["prev_close"]),
        "lastPrice": px(m.price),
        "lastQty": qty(m.last_qty),
        "bidPrice": px(m.bid),
        "bidQty": qty(m.level_qty(0)),
        "askPrice": px(m.ask),
        "askQty": qty(m.level_qty(0)),
        "openPrice": px(s["open"]),
        "highPrice": px(s["high"]),
        "lowPrice": px(s["low"]),
        "volume": qty(s["volume"]),
        "quoteVolume": amt(s["quote_volume"]),
        "openTime": s["open_time"],
        "closeTime": s["close_time"],
        "firstId": s["first_id"],
        "lastId": s["last_id"],
        "count": s["count"],
    }
    if not mini:
        return full
    keep = (
        "symbol",
        "openPrice",
        "highPrice",
        "lowPrice",
        "lastPrice",
        "volume",
        "quoteVolume",
        "openTime",
        "closeTime",
        "firstId",
        "lastId",
        "count",
    )
    return {k: full[k] for k in keep}


def futures_ticker_24hr(info: SymbolInfo, m: SymbolMarket) -> dict:
    """USD-M GET /fapi/v1/ticker/24hr has no bid/ask/prevClose fields."""
    full = ticker_24hr(info, m)
    for key in ("prevClosePrice", "bidPrice", "bidQty", "askPrice", "askQty"):
        full.pop(key)
    return full


def depth(info: SymbolInfo, m: SymbolMarket, limit: int) -> dict:
    bids, asks = m.depth(limit)
    return {
        "lastUpdateId": m.book_update_id,
        "bids": [[info.px(p), info.qty(q)] for p, q in bids],
        "asks": [[info.px(p), info.qty(q)] for p, q in asks],
    }


# --- streams ------------------------------------------------------------------------------
def trade_event(info: SymbolInfo, t: Tick) -> dict:
    if info.market == "futures":
        return {
            "e": "trade",
            "E": t.time,
            "T": t.time,
            "s": info.symbol,
            "t": t.trade_id,
            "p": info.px(t.price),
            "q": info.qty(t.qty),
            "X": "MARKET",
            "m": t.buyer_maker,
        }
    return {
        "e": "trade",
        "E": t.time,
        "s": info.symbol,
        "t": t.trade_id,
        "p": info.px(t.price),
        "q": info.qty(t.qty),
        "T": t.time,
        "m": t.buyer_maker,
        "M": True,
    }


def agg_trade_event(info: SymbolInfo, t: Tick) -> dict:
    event = {
        "e": "aggTrade",
        "E": t.time,
        "s": info.symbol,
        "a": t.trade_id,
        "p": info.px(t.price),
        "q": info.qty(t.qty),
        "f": t.trade_id,
        "l": t.trade_id,
        "T": t.time,
        "m": t.buyer_maker,
    }
    if info.market == "spot":
        event["M"] = True
    return event


def book_ticker_event(info: SymbolInfo, m: SymbolMarket, time: int) -> dict:
    event = {
        "u": m.book_update_id,
        "s": info.symbol,
        "b": info.px(m.bid),
        "B": info.qty(m.level_qty(0)),
        "a": info.px(m.ask),
        "A": info.qty(m.level_qty(0)),
    }
    if info.market == "futures":
        return {"e": "bookTicker", **event, "T": time, "E": time}
    return event


def kline_body(
    info: SymbolInfo, c: Candle, interval: str, closed: bool, first_id: int, last_id: int
) -> dict:
    return {
        "t": c.open_time,
        "T": c.close_time,
        "s": info.symbol,
        "i": interval,
        "f": first_id,
        "L": last_id,
        "o": info.px(c.open),
        "c": info.px(c.close),
        "h": info.px(c.high),
        "l": info.px(c.low),
        "v": info.qty(c.volume),
        "n": c.trades,
        "x": closed,
        "q": info.amount(c.quote_volume),
        "V": info.qty(c.taker_buy_base),
        "Q": info.amount(c.taker_buy_quote),
        "B": "0",
    }


def kline_event(info: SymbolInfo, body: dict, time: int) -> dict:
    return {"e": "kline", "E": time, "s": info.symbol, "k": body}


def continuous_kline_event(info: SymbolInfo, body: dict, time: int) -> dict:
    body = {k: v for k, v in body.items() if k != "s"}
    return {"e": "continuous_kline", "E": time, "ps": info.symbol, "ct": "PERPETUAL", "k": body}


def ticker_event(info: SymbolInfo, m: SymbolMarket, time: int) -> dict:
    r = ticker_24hr(info, m)
    event = {
        "e": "24hrTicker",
        "E": time,
        "s": info.symbol,
        "p": r["priceChange"],
        "P": r["priceChangePercent"],
        "w": r["weightedAvgPrice"],
        "x": r["prevClosePrice"],
        "c": r["lastPrice"],
        "Q": r["lastQty"],
        "b": r["bidPrice"],
        "B": r["bidQty"],
        "a": r["askPrice"],
        "A": r["askQty"],
        "o": r["openPrice"],
        "h": r["highPrice"],
        "l": r["lowPrice"],
        "v": r["volume"],
        "q": r["quoteVolume"],
        "O": r["openTime"],
        "C": r["closeTime"],
        "F": r["firstId"],
        "L": r["lastId"],
        "n": r["count"],
    }
    if info.market == "futures":  # USD-M ticker stream has no prevClose / book fields
        for key in ("x", "b", "B", "a", "A"):
            event.pop(key)
        event["st"] = 1  # as in the shared USD-M fixture
    return event


def mini_ticker_event(info: SymbolInfo, m: SymbolMarket, time: int) -> dict:
    s = m.stats()
    return {
        "e": "24hrMiniTicker",
        "E": time,
        "s": info.symbol,
        "c": info.px(m.price),
        "o": info.px(s["open"]),
        "h": info.px(s["high"]),
        "l": info.px(s["low"]),
        "v": info.qty(s["volume"]),
        "q": info.amount(s["quote_volume"]),
    }


def _levels(info: SymbolInfo, levels: list[tuple[Decimal, Decimal]]) -> list[list[str]]:
    return [[info.px(p), info.qty(q)] for p, q in levels]


def depth_update_event(info: SymbolInfo, u: BookUpdate, time: int) -> dict:
    event = {
        "e": "depthUpdate",
        "E": time,
        "s": info.symbol,
        "U": u.first_id,
        "u": u.last_id,
        "b": _levels(info, u.bids),
        "a": _levels(info, u.asks),
    }
    if info.market == "futures":
        return {
            "e": "depthUpdate",
            "E": time,
            "T": time,
            "s": info.symbol,
            "U": u.first_id,
            "u": u.last_id,
            "pu": u.prev_last_id,
            "b": event["b"],
            "a": event["a"],
        }
    return event


def partial_depth_event(info: SymbolInfo, m: SymbolMarket, levels: int, time: int) -> dict:
    bids, asks = m.depth(levels)
    if info.market == "futures":
        return {
            "e": "depthUpdate",
            "E": time,
            "T": time,
            "s": info.symbol,
            "U": m.book_update_id,
            "u": m.book_update_id,
            "pu": m.book_update_id - 1,
            "b": _levels(info, bids),
            "a": _levels(info, asks),
        }
    return {
        "lastUpdateId": m.book_update_id,
        "bids": _levels(info, bids),
        "asks": _levels(info, asks),
    }


def mark_price_event(info: SymbolInfo, m: SymbolMarket, time: int) -> dict:
    # No funding model: index = mark = last price, funding rate 0, next funding on the 8h grid.
    next_funding = time - time % 28_800_000 + 28_800_000
    price = fixed(m.price, 8)
    return {
        "e": "markPriceUpdate",
        "E": time,
        "s": info.symbol,
        "p": price,
        "i": price,
        "P": price,
        "r": fixed(ZERO, 8),
        "T": next_funding,
        "st": 1,  # present in live USD-M captures; meaning undocumented
    }
