from django.conf import settings

from marketdata.exchange.clients import LIVE, LOCAL, TESTNET, Venue


def market_data_venue() -> Venue:
    """The venue named by BINANCE_MARKET_DATA_VENUE: live, testnet, or a local base URL."""
    configured = settings.BINANCE_MARKET_DATA_VENUE.strip()
    if configured in (LIVE, TESTNET):
        return Venue(mode=configured)
    if configured.startswith(("http://", "https://")):
        return Venue(mode=LOCAL, base_url=configured)
    raise ValueError(f"BINANCE_MARKET_DATA_VENUE={configured!r}: use live, testnet or a URL")
