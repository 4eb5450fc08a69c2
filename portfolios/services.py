from dataclasses import dataclass
from decimal import Decimal

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from marketdata.exchange.errors import DefiniteRejection
from marketdata.exchange.gateway import BinanceGateway
from portfolios import analytics
from portfolios.models import EquitySnapshot, ExchangeAccount, Portfolio


class ExchangeAccountRefused(Exception):
    """The key must not be stored (withdrawals enabled, or Binance refused it)."""


@dataclass
class KeyCheck:
    can_trade: bool | None = None
    can_trade_futures: bool | None = None
    ip_restricted: bool | None = None
    warning: str = ""


def _check_key(account: ExchangeAccount) -> KeyCheck:
    """Ask Binance what the key may do (GET /sapi/v1/account/apiRestrictions).

    The testnets have no /sapi endpoints, so a testnet key cannot be checked this way.
    """
    if account.mode == ExchangeAccount.Mode.TESTNET:
        return KeyCheck(warning="Binance testnet cannot report key restrictions; not checked.")
    api_key, api_secret = account.credentials()
    gateway = BinanceGateway(account.venue(), api_key=api_key, api_secret=api_secret)
    try:
        restrictions = gateway.call("get_account_api_permissions")
    except DefiniteRejection as exc:
        raise ExchangeAccountRefused(f"Binance refused this key: {exc.message}") from exc
    if restrictions.get("enableWithdrawals"):
        raise ExchangeAccountRefused(
            "This API key can withdraw funds. Create a key with withdrawals disabled: "
            "the platform never needs them, and a leaked key must not be able to empty "
            "the account.")
    check = KeyCheck(can_trade=bool(restrictions.get("enableSpotAndMarginTrading")),
                     can_trade_futures=bool(restrictions.get("enableFutures")),
                     ip_restricted=bool(restrictions.get("ipRestrict")))
    if not check.ip_restricted:
        check.warning = ("This key is not restricted to trusted IP addresses; Binance "
                         "recommends restricting it to the servers that use it.")
    return check


def exchange_account_prepare(*, account: ExchangeAccount, api_key: str | None = None,
                             api_secret: str | None = None) -> ExchangeAccount:
    """Set new credentials (if given) and record what Binance says the key may do, unsaved.

    Raises ExchangeAccountRefused for a key that must not be stored.
    """
    if api_key is not None or api_secret is not None:
        if not (api_key and api_secret):
            raise ExchangeAccountRefused("Give both the API key and its secret.")
        account.set_credentials(api_key=api_key, api_secret=api_secret)
    check = _check_key(account)
    account.can_trade, account.can_trade_futures = check.can_trade, check.can_trade_futures
    account.ip_restricted, account.warning = check.ip_restricted, check.warning
    account.restrictions_checked_at = timezone.now()
    return account


def exchange_account_save(*, account: ExchangeAccount, api_key: str | None = None,
                          api_secret: str | None = None) -> ExchangeAccount:
    """Check the key with Binance, then store the account."""
    exchange_account_prepare(account=account, api_key=api_key, api_secret=api_secret)
    account.full_clean()
    account.save()
    return account


def exchange_account_create(*, owner: AbstractBaseUser, name: str, mode: str, market: str,
                            api_key: str, api_secret: str,
                            base_url: str = "") -> ExchangeAccount:
    account = ExchangeAccount(owner=owner, name=name, mode=mode, market=market, base_url=base_url)
    return exchange_account_save(account=account, api_key=api_key, api_secret=api_secret)


@transaction.atomic
def exchange_secrets_reencrypt() -> int:
    """Re-encrypt every stored secret under the newest FIELD_ENCRYPTION_KEY."""
    accounts = ExchangeAccount.objects.select_for_update().order_by("pk")
    for account in accounts:
        account.reencrypt()
        account.save(update_fields=["api_key_encrypted", "api_secret_encrypted"])
    return len(accounts)


# --- valuation, snapshots, analytics -----------------------------------------------------------

@dataclass(frozen=True)
class Valuation:
    equity: Decimal  # every balance at its last price, plus futures' unrealised PnL
    cash: Decimal  # the quote asset's balance
    positions_value: Decimal
    unpriced: tuple[str, ...]  # assets held without any price to value them at
    holdings: dict[str, tuple[Decimal, Decimal]]  # asset -> (quantity, price), priced ones


def _price_in(asset: str, quote: str) -> Decimal | None:
    """The streamed price of asset in quote, else the last stored 1m close."""
    from marketdata import live
    from marketdata.models import Kline

    symbol = f"{asset}{quote}"
    return live.last_price("spot", symbol) or (
        Kline.objects.filter(market="spot", symbol=symbol).order_by("-open_time")
        .values_list("close", flat=True).first())


def portfolio_valuation(*, portfolio: Portfolio) -> Valuation:
    from orders.models import Balance, Position

    quote = portfolio.quote_asset
    cash, held, unpriced, holdings = Decimal("0"), Decimal("0"), [], {}
    for balance in Balance.objects.filter(portfolio=portfolio):
        if balance.asset == quote:
            cash += balance.total
            continue
        if not balance.total:
            continue
        price = _price_in(balance.asset, quote)
        if price is None:
            unpriced.append(balance.asset)
        else:
            holdings[balance.asset] = (balance.total, price)
            held += balance.total * price
    for position in Position.objects.filter(portfolio=portfolio, market="futures"):
        price = _price_in(position.symbol.removesuffix(quote), quote)
        if position.quantity and price is not None:
            held += position.unrealised_pnl(price)
    return Valuation(equity=cash + held, cash=cash, positions_value=held,
                     unpriced=tuple(unpriced), holdings=holdings)


def equity_snapshots_take(*, at=None) -> int:
    """One snapshot per active portfolio (beat, every minute): the equity curve's points."""
    at = (at or timezone.now()).replace(second=0, microsecond=0)
    taken = 0
    for portfolio in Portfolio.objects.filter(active=True):
        value = portfolio_valuation(portfolio=portfolio)
        _, created = EquitySnapshot.objects.get_or_create(
            portfolio=portfolio, taken_at=at,
            defaults={"equity": value.equity, "cash": value.cash,
                      "positions_value": value.positions_value})
        taken += created
    return taken


def portfolio_trades(*, portfolio: Portfolio) -> list[analytics.TradeResult]:
    """Each fill that reduced a position, as a trade result: its realised PnL net of fees."""
    from marketdata.symbol_rules import rules_for
    from orders.accounting import PositionState, apply_fill
    from orders.models import Fill

    states: dict[str, PositionState] = {}
    results = []
    fills = Fill.objects.filter(order__portfolio=portfolio, market="spot").order_by(
        "executed_at", "trade_id")
    for fill in fills:
        rules = rules_for("spot", fill.symbol)
        if rules is None:  # a symbol Binance no longer lists: its assets cannot be told apart
            continue
        before = states.get(fill.symbol, PositionState())
        after = apply_fill(before, fill.amounts(), base_asset=rules.base_asset,
                           quote_asset=rules.quote_asset)
        states[fill.symbol] = after
        if fill.side == "SELL":
            results.append(analytics.TradeResult(
                closed_at=fill.executed_at, pnl=after.realised_pnl - before.realised_pnl,
                fees=after.fees_paid - before.fees_paid))
    return results


def portfolio_analytics(*, portfolio: Portfolio, since=None) -> dict:
    """Value, PnL, Sharpe, Sortino, drawdown, win rate, profit factor (JSON-friendly), from
    the equity snapshots and the fills."""
    snapshots = portfolio.snapshots.all()
    if since is not None:
        snapshots = snapshots.filter(taken_at__gte=since)
    points = [analytics.EquityPoint(at=s.taken_at, equity=s.equity) for s in snapshots]
    # PnL from the first snapshot of the period: deposits are not trading results.
    figures = analytics.summary(points, portfolio_trades(portfolio=portfolio))
    figures["exposure"] = [e.as_dict() for e in portfolio_exposure(portfolio=portfolio)]
    return figures


def portfolio_exposure(*, portfolio: Portfolio) -> list[analytics.Exposure]:
    """What each asset held is worth and its share of the equity, largest first."""
    value = portfolio_valuation(portfolio=portfolio)
    return analytics.exposure_by_asset(value.holdings, equity=value.equity)
