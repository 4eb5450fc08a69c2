"""Reading the API's error body in tests."""

COMMON = ("code", "message", "detail")


def field_errors(body: dict) -> dict:
    """An error body's per-field messages, without the code, message and detail every error
    carries (tradingsite.api_errors)."""
    return {key: value for key, value in body.items() if key not in COMMON}


def known_symbols(*names: str) -> None:
    """Spot symbols the platform knows (as a symbol sync would store them), for tests that
    name one without a local Binance."""
    from django.utils import timezone

    from marketdata.models import Symbol

    for name in names:
        Symbol.objects.get_or_create(market="spot", name=name, defaults={
            "status": "TRADING", "base_asset": name.removesuffix("USDT"),
            "quote_asset": "USDT", "exchange_info": {}, "synced_at": timezone.now()})
