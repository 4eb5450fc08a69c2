"""Paper trading: the same Order/Fill/Position path, with fills from the shared fill model on
live market data instead of Binance's matching engine.

The paper exchange's state is the database: balances per portfolio (free and locked) and the
orders' own rows. A paper call and its booking run in one transaction (`local = True`), so a
crash leaves all of it or none of it. An open order keeps what it may still spend locked
(`Order.reserved`): quote for a BUY, base for a SELL; each fill takes from it, and whatever
is left goes back to free when the order ends.
"""

from datetime import UTC, datetime
from decimal import Decimal

from marketdata import live
from marketdata.exchange.errors import DefiniteRejection
from orders import fillmodel
from orders.gateways.base import ExchangeOrder, TradeFill
from orders.models import Balance, Order, OrderStatus

VENUE = "paper"
INSUFFICIENT_BALANCE = "Account has insufficient balance for requested action."
TRADE_ID_STRIDE = 10_000  # paper trade ids: order id * stride + the fill's number
# A market BUY reserves at the ask plus slippage plus this cushion; the unused rest is freed.
MARKET_BUY_CUSHION = Decimal("0.0005")
BPS = Decimal("10000")


def market_state(market: str, symbol: str) -> fillmodel.MarketState:
    ticker = live.ticker(market, symbol) or {}
    if ticker.get("price") is None:
        raise DefiniteRejection(f"no live price for {symbol}: the stream process does not "
                                f"follow it (watch it in the admin)", code=-1121)
    last = Decimal(ticker["price"])
    bid, ask = Decimal(ticker.get("bid") or last), Decimal(ticker.get("ask") or last)
    return fillmodel.MarketState(symbol=symbol, bid=min(bid, ask), ask=max(bid, ask), last=last,
                                 time=datetime.now(tz=UTC))


def paper_order(order: Order) -> fillmodel.PaperOrder:
    return fillmodel.PaperOrder(
        client_order_id=order.client_order_id, side=order.side, type=order.type,
        quantity=order.quantity, quote_quantity=order.quote_quantity, price=order.price,
        stop_price=order.stop_price, time_in_force=order.time_in_force or "GTC",
        executed_qty=order.executed_qty, triggered=order.stop_triggered)


def fee_schedule(order: Order, rules) -> fillmodel.FeeSchedule:
    return fillmodel.FeeSchedule(maker=order.portfolio.maker_fee,
                                 taker=order.portfolio.taker_fee,
                                 base_asset=rules.base_asset, quote_asset=rules.quote_asset)


def answer(order: Order, outcome: fillmodel.Outcome) -> ExchangeOrder:
    """The fill model's outcome as an exchange answer, with paper trade ids."""
    first = order.fills.count()
    fills = [TradeFill(trade_id=order.pk * TRADE_ID_STRIDE + first + n, price=f.price,
                       quantity=f.quantity, quote_quantity=f.quote_quantity,
                       commission=f.commission, commission_asset=f.commission_asset,
                       is_maker=f.is_maker, executed_at=f.time)
             for n, f in enumerate(outcome.fills)]
    if outcome.triggered and not order.stop_triggered:
        Order.objects.filter(pk=order.pk).update(stop_triggered=True)
    return ExchangeOrder(status=str(outcome.status), exchange_order_id=order.pk,
                         executed_qty=order.executed_qty + outcome.filled_qty,
                         cumulative_quote=order.cumulative_quote
                         + sum((f.quote_quantity for f in fills), Decimal("0")),
                         fills=fills)


# --- balances --------------------------------------------------------------------------------

def balance_for(portfolio, asset: str) -> Balance:
    balance, _ = Balance.objects.select_for_update().get_or_create(portfolio=portfolio,
                                                                    asset=asset)
    return balance


def _reservation(order: Order, rules, market: fillmodel.MarketState) -> tuple[str, Decimal]:
    if order.side == "SELL":
        return rules.base_asset, order.quantity
    if order.quantity is None:  # a BUY by quote amount spends at most that amount
        return rules.quote_asset, order.quote_quantity
    if order.price is not None:
        return rules.quote_asset, order.quantity * order.price
    slipped = market.ask * (1 + order.portfolio.slippage_bps / BPS + MARKET_BUY_CUSHION)
    return rules.quote_asset, order.quantity * slipped


def reserve(order: Order, rules, market: fillmodel.MarketState) -> None:
    asset, amount = _reservation(order, rules, market)
    balance = balance_for(order.portfolio, asset)
    if balance.free < amount:
        raise DefiniteRejection(INSUFFICIENT_BALANCE, code=-2010)
    balance.free -= amount
    balance.locked += amount
    balance.save()
    order.reserved = amount
    Order.objects.filter(pk=order.pk).update(reserved=amount)


def settle_fill(order: Order, trade: TradeFill, rules) -> None:
    """Move the assets of one booked paper fill (inside the booking transaction)."""
    base = balance_for(order.portfolio, rules.base_asset)
    quote = balance_for(order.portfolio, rules.quote_asset)
    paid, received = (quote, base) if order.side == "BUY" else (base, quote)
    spent = trade.quote_quantity if order.side == "BUY" else trade.quantity
    gained = trade.quantity if order.side == "BUY" else trade.quote_quantity
    from_reserve = min(spent, order.reserved)
    paid.locked -= from_reserve
    paid.free -= spent - from_reserve
    order.reserved -= from_reserve
    received.free += gained
    fee_balance = received if trade.commission_asset == received.asset else balance_for(
        order.portfolio, trade.commission_asset)
    fee_balance.free -= trade.commission
    for balance in {paid.pk: paid, received.pk: received, fee_balance.pk: fee_balance}.values():
        balance.save()
    Order.objects.filter(pk=order.pk).update(reserved=order.reserved)


def release(order: Order, rules) -> None:
    """An order ended: whatever it still holds locked becomes free again."""
    if order.reserved <= 0:
        return
    asset = rules.quote_asset if order.side == "BUY" else rules.base_asset
    balance = balance_for(order.portfolio, asset)
    amount = min(order.reserved, balance.locked)
    balance.locked -= amount
    balance.free += amount
    balance.save()
    order.reserved = Decimal("0")
    Order.objects.filter(pk=order.pk).update(reserved=0)


class PaperGateway:
    venue = VENUE
    local = True  # no network: each call and its booking commit together

    def __init__(self, rules_for):
        self.rules_for = rules_for

    def place(self, order: Order) -> ExchangeOrder:
        rules = self.rules_for(order)
        market = market_state(order.market, order.symbol)
        step = rules.lot_size.step_size if rules.lot_size else None
        outcome = fillmodel.on_submit(paper_order(order), market, fee_schedule(order, rules),
                                      slippage_bps=order.portfolio.slippage_bps,
                                      quantity_step=step)
        if outcome.status == fillmodel.Status.REJECTED:
            raise DefiniteRejection(outcome.reason, code=-2010)
        reserve(order, rules, market)
        return answer(order, outcome)

    def query(self, order: Order) -> ExchangeOrder:
        if order.status in (OrderStatus.SUBMITTING, OrderStatus.UNKNOWN):
            # A placement commits with its booking: one that left no trace never happened.
            return ExchangeOrder(status="REJECTED", exchange_order_id=None,
                                 executed_qty=Decimal("0"), cumulative_quote=Decimal("0"))
        status = "CANCELED" if order.status == OrderStatus.PENDING_CANCEL else order.status
        return ExchangeOrder(status=status, exchange_order_id=order.pk,
                             executed_qty=order.executed_qty,
                             cumulative_quote=order.cumulative_quote)

    def cancel(self, order: Order) -> ExchangeOrder:
        return ExchangeOrder(status="CANCELED", exchange_order_id=order.pk,
                             executed_qty=order.executed_qty,
                             cumulative_quote=order.cumulative_quote)

    def trades(self, order: Order) -> list[TradeFill]:
        return []  # paper fills are booked as they happen; there is nothing else to fetch

    def open_orders(self, symbol: str | None = None) -> list:
        return []  # nothing trades on a paper portfolio but the platform
