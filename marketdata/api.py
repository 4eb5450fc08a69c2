from datetime import timedelta

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, viewsets
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from marketdata import live
from marketdata.filters import SymbolFilter
from marketdata.models import Kline, Symbol
from marketdata.serializers import CandleQuery, CandleSerializer, SymbolSerializer


class SymbolViewSet(viewsets.ReadOnlyModelViewSet):
    """Binance symbols with their filters. Filters: ?market=spot&status=TRADING&quote=USDT&q=BTC"""

    serializer_class = SymbolSerializer
    queryset = Symbol.objects.all()  # shared market data: nobody's own
    lookup_field = "name"
    filterset_class = SymbolFilter
    ordering_fields = ["market", "name", "status"]

    def get_object(self):
        """One symbol by name in one market: ?market=futures, spot when not given (a name such
        as BTCUSDT exists in both, and a name alone would match two rows)."""
        if not self.request.query_params.get("market"):
            self.queryset = Symbol.objects.filter(market=Symbol.Market.SPOT)
        return super().get_object()


class TickerSerializer(serializers.Serializer):
    """A watched symbol's last ticker (what the stream last stored; absent before the first)."""

    symbol = serializers.CharField()
    market = serializers.CharField()
    stale = serializers.BooleanField()
    price = serializers.CharField(required=False)
    bid = serializers.CharField(required=False)
    ask = serializers.CharField(required=False)
    change_pct = serializers.CharField(required=False, help_text="24 h change, percent")
    volume = serializers.CharField(required=False, help_text="24 h volume, base asset")


class CandleListApi(APIView):
    """Stored candles, oldest first: ?symbol=BTCUSDT&interval=1m[&market&from&to&limit]
    (`start`/`end` are accepted for from/to). `next` gives the following page."""

    @extend_schema(
        parameters=[CandleQuery,
                    OpenApiParameter("from", OpenApiTypes.DATETIME, description="= start"),
                    OpenApiParameter("to", OpenApiTypes.DATETIME, description="= end")],
        responses=inline_serializer("CandlePage", {
            "next": serializers.URLField(allow_null=True),
            "results": CandleSerializer(many=True)}))
    def get(self, request):
        params = request.query_params.dict()
        for alias, name in (("from", "start"), ("to", "end")):
            if alias in params:
                params.setdefault(name, params.pop(alias))
        query = CandleQuery(data=params)
        query.is_valid(raise_exception=True)
        q = query.validated_data
        candles = Kline.objects.filter(market=q["market"], symbol=q["symbol"],
                                       interval=q["interval"]).order_by("open_time")
        if q.get("start"):
            candles = candles.filter(open_time__gte=q["start"])
        if q.get("end"):
            candles = candles.filter(open_time__lte=q["end"])
        page = list(candles[: q["limit"] + 1])
        more, page = len(page) > q["limit"], page[: q["limit"]]
        return Response({"next": self._next_url(request, page) if more else None,
                         "results": CandleSerializer(page, many=True).data})

    def _next_url(self, request, page) -> str:
        params = request.query_params.copy()
        params["start"] = (page[-1].open_time + timedelta(milliseconds=1)).isoformat()
        return reverse("candle-list", request=request) + "?" + params.urlencode()


class TickerListApi(APIView):
    """Last price, 24 h change and volume of the watched symbols, with a stale flag."""

    @extend_schema(
        parameters=[OpenApiParameter("market", enum=["spot", "futures"], default="spot")],
        responses=inline_serializer("TickerList", {"results": TickerSerializer(many=True)}))
    def get(self, request):
        market = request.query_params.get("market", "spot")
        return Response({"results": live.watched_tickers(market)})
