"""Exchange rules that need no network: Binance symbol filters (``filters``)."""
