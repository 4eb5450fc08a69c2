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

from django.utils import timezone

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
ZERO = Decimal("0")


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
    portfolio = order.portfolio
    bnb_price = _bnb_price_if_affordable(order, rules) if portfolio.pay_fees_in_bnb else None
    return fillmodel.FeeSchedule(maker=portfolio.maker_fee, taker=portfolio.taker_fee,
                                 base_asset=rules.base_asset, quote_asset=rules.quote_asset,
                                 pay_in_bnb=bnb_price is not None,
                                 bnb_price_in_quote=bnb_price)


def _bnb_price_if_affordable(order: Order, rules) -> Decimal | None:
    """BNB's live price in the quote asset, when the portfolio's free BNB covers the largest
    fee this order could still cost; otherwise None and the fee is taken from the received
    asset, as Binance does when the BNB balance runs short."""
    if "BNB" in (rules.base_asset, rules.quote_asset):
        return None  # trading BNB itself: keep the arithmetic of the pair simple
    price = live.last_price("spot", f"BNB{rules.quote_asset}")
    if not price:
        return None
    reference = order.price or live.last_price(order.market, order.symbol) or ZERO
    notional = order.quote_quantity or (order.quantity or ZERO) * reference
    worst_fee = notional * order.portfolio.taker_fee * (1 - fillmodel.BNB_DISCOUNT) / price
    held = Balance.objects.filter(portfolio=order.portfolio, asset="BNB").first()
    return price if held is not None and held.free >= worst_fee > 0 else None


def answer(order: Order, outcome: fillmodel.Outcome) -> ExchangeOrder:
    """The fill model's outcome as an exchange answer, with paper trade ids."""
    first = order.fills.count() if order.executed_qty else 0  # paper fills number from 0
    fills = [TradeFill(trade_id=order.pk * TRADE_ID_STRIDE + first + n, price=f.price,
                       quantity=f.quantity, quote_quantity=f.quote_quantity,
                       commission=f.commission, commission_asset=f.commission_asset,
                       is_maker=f.is_maker, executed_at=f.time)
             for n, f in enumerate(outcome.fills)]
    if outcome.triggered:
        order.stop_triggered = True  # saved with the order by the booking (held instance)
    return ExchangeOrder(status=str(outcome.status), exchange_order_id=order.pk,
                         executed_qty=order.executed_qty + outcome.filled_qty,
                         cumulative_quote=order.cumulative_quote
                         + sum((f.quote_quantity for f in fills), Decimal("0")),
                         fills=fills)


# --- balances --------------------------------------------------------------------------------
# A change reads the balances it touches in one locking query and writes them back in one
# bulk UPDATE, computing in Python Decimal (SQLite would do F() arithmetic in floating point).

def balance_for(portfolio, asset: str) -> Balance:
    return _locked_balances(portfolio, [asset])[asset]


def _locked_balances(portfolio, assets) -> dict[str, Balance]:
    wanted = set(assets)
    rows = {b.asset: b for b in Balance.objects.select_for_update().filter(
        portfolio=portfolio, asset__in=wanted)}
    for asset in wanted - set(rows):  # an asset the portfolio never held
        rows[asset], _ = Balance.objects.select_for_update().get_or_create(
            portfolio=portfolio, asset=asset)
    return rows


def _move(portfolio, changes: dict[str, tuple[Decimal, Decimal]]) -> None:
    """Add (free, locked) amounts to several balances (negative takes), in two statements;
    the check constraint (free, locked >= 0) stops any bug from spending what is not there."""
    rows = _locked_balances(portfolio, changes)
    now = timezone.now()
    for asset, (free, locked) in changes.items():
        rows[asset].free += free
        rows[asset].locked += locked
        rows[asset].updated_at = now
    Balance.objects.bulk_update(rows.values(), ["free", "locked", "updated_at"])


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
    """Lock what the order may spend; the caller saves `order.reserved` with the order."""
    asset, amount = _reservation(order, rules, market)
    _lock_funds(order, asset, amount)


def _lock_funds(order: Order, asset: str, amount: Decimal) -> None:
    balance = balance_for(order.portfolio, asset)
    if balance.free < amount:
        raise DefiniteRejection(INSUFFICIENT_BALANCE, code=-2010)
    balance.free -= amount
    balance.locked += amount
    balance.save(update_fields=["free", "locked", "updated_at"])
    order.reserved = amount


def reserve_oco(holder: Order, rules, priciest: Decimal) -> None:
    """An OCO's one reservation: the quantity to sell, or what the dearer leg could cost."""
    asset = rules.base_asset if holder.side == "SELL" else rules.quote_asset
    amount = holder.quantity if holder.side == "SELL" else holder.quantity * priciest
    _lock_funds(holder, asset, amount)


def take_over_reservation(filling: Order, other: Order) -> None:
    """An OCO leg fills: it takes the list's reservation from its sibling, which then ends
    holding nothing (both rows locked and saved by the caller)."""
    filling.reserved += other.reserved
    other.reserved = ZERO


def settle_fill(order: Order, trade: TradeFill, rules) -> None:
    """Move the assets of one booked paper fill (inside the booking transaction); the caller
    saves `order.reserved` with the order."""
    buying = order.side == "BUY"
    paid, received = ((rules.quote_asset, rules.base_asset) if buying
                      else (rules.base_asset, rules.quote_asset))
    spent = trade.quote_quantity if buying else trade.quantity
    gained = trade.quantity if buying else trade.quote_quantity
    from_reserve = min(spent, order.reserved)
    order.reserved -= from_reserve
    changes = {paid: (-(spent - from_reserve), -from_reserve), received: (gained, ZERO)}
    fee_free, fee_locked = changes.get(trade.commission_asset, (ZERO, ZERO))
    changes[trade.commission_asset] = (fee_free - trade.commission, fee_locked)
    _move(order.portfolio, changes)


def release(order: Order, rules) -> None:
    """An order ended: whatever it still holds locked becomes free again."""
    if order.reserved <= 0:
        return
    asset = rules.quote_asset if order.side == "BUY" else rules.base_asset
    _move(order.portfolio, {asset: (order.reserved, -order.reserved)})
    order.reserved = ZERO


class PaperGateway:
    venue = VENUE
    local = True  # no network: each call and its booking commit together

    def __init__(self, rules_for):
        self.rules_for = rules_for

    def _submitted(self, order: Order, market: fillmodel.MarketState) -> fillmodel.Outcome:
        rules = self.rules_for(order)
        step = rules.lot_size.step_size if rules.lot_size else None
        outcome = fillmodel.on_submit(paper_order(order), market, fee_schedule(order, rules),
                                      slippage_bps=order.portfolio.slippage_bps,
                                      quantity_step=step)
        if outcome.status == fillmodel.Status.REJECTED:
            raise DefiniteRejection(outcome.reason, code=-2010)
        return outcome

    def place(self, order: Order) -> ExchangeOrder:
        market = market_state(order.market, order.symbol)
        outcome = self._submitted(order, market)
        reserve(order, self.rules_for(order), market)
        return answer(order, outcome)

    def place_oco(self, above: Order, below: Order) -> dict[str, ExchangeOrder]:
        """Both legs rest; one reservation covers the list (only one leg can ever fill). It
        sits on the limit leg and moves to whichever leg fills (`oco_leg_filled`)."""
        market = market_state(above.market, above.symbol)
        outcomes = {leg: self._submitted(leg, market) for leg in (above, below)}
        holder = above if above.type == Order.Type.LIMIT_MAKER else below
        priciest = max(leg.price for leg in (above, below))
        reserve_oco(holder, self.rules_for(holder), priciest)
        return {leg.client_order_id: answer(leg, outcome) for leg, outcome in outcomes.items()}

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
