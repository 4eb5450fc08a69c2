from datetime import timedelta

from django.contrib.auth.decorators import login_required
from django.db.models import Max
from django.http import Http404, JsonResponse
from django.shortcuts import render
from django.utils import timezone

from marketdata import live
from marketdata.charts import chart_data
from marketdata.models import INTERVALS, Kline, WatchedSymbol

MARKETS = ("spot", "futures")
QUALITY_WINDOW_DAYS = 7
QUALITY_MAX_GAPS = 20


@login_required
def overview(request):
    rows = [row for market in MARKETS for row in live.watched_tickers(market)]
    return render(request, "marketdata/overview.html", {"rows": rows})


def _watched_or_404(market: str, symbol: str) -> WatchedSymbol:
    if market not in MARKETS:
        raise Http404("unknown market")
    watched = WatchedSymbol.objects.filter(market=market, symbol=symbol.upper()).first()
    if watched is None and not Kline.objects.filter(market=market, symbol=symbol.upper()).exists():
        raise Http404("no data for this symbol")
    return watched


@login_required
def symbol_page(request, market, symbol):
    watched = _watched_or_404(market, symbol)
    intervals = watched.interval_list() if watched else ["1m"]
    interval = request.GET.get("interval") or intervals[0]
    if interval not in INTERVALS:
        raise Http404("unknown interval")
    context = {"market": market, "symbol": symbol.upper(), "interval": interval,
               "intervals": INTERVALS[:12], "ticker": live.ticker(market, symbol) or {},
               "stale": live.is_stale(market, symbol)}
    return render(request, "marketdata/symbol.html", context)


@login_required
def symbol_chart_data(request, market, symbol):
    _watched_or_404(market, symbol)
    interval = request.GET.get("interval", "1m")
    if interval not in INTERVALS:
        return JsonResponse({"error": f"interval must be one of {', '.join(INTERVALS)}"},
                            status=400)
    return JsonResponse(chart_data(market=market, symbol=symbol.upper(), interval=interval))


@login_required
def data_quality(request):
    """Stream status, stale symbols, last stored candle and recent gaps per watched stream."""
    from marketdata.klines import kline_gaps

    since = timezone.now() - timedelta(days=QUALITY_WINDOW_DAYS)
    streams = []
    for watched in WatchedSymbol.objects.active():
        for interval in watched.interval_list():
            last = (Kline.objects.filter(market=watched.market, symbol=watched.symbol,
                                         interval=interval)
                    .aggregate(last=Max("open_time"))["last"])
            gaps = kline_gaps(symbol=watched.symbol, interval=interval, market=watched.market,
                              start=since)
            streams.append({"watched": watched, "interval": interval, "last": last,
                            "gaps": gaps[:QUALITY_MAX_GAPS], "gap_count": len(gaps),
                            "stale": live.is_stale(watched.market, watched.symbol)})
    context = {"statuses": {m: live.stream_status(m) for m in MARKETS}, "streams": streams,
               "window_days": QUALITY_WINDOW_DAYS}
    return render(request, "marketdata/quality.html", context)
