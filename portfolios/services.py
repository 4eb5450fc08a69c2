from dataclasses import dataclass

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from marketdata.exchange.errors import DefiniteRejection
from marketdata.exchange.gateway import BinanceGateway
from portfolios.models import ExchangeAccount


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
