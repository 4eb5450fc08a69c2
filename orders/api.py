"""The orders API: a trader's own orders, fills, positions, balances and portfolios.

Every queryset starts from `request.user`, so another trader's object is a 404, never a 403.
"""

from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from marketdata.exchange.errors import ExchangeError
from orders.models import Balance, Fill, Order, OrderStatus, Position
from orders.serializers import (
    BalanceSerializer,
    FillSerializer,
    OcoPlaceInput,
    OrderPlaceInput,
    OrderSerializer,
    PortfolioSerializer,
    PositionSerializer,
    plain,
)
from orders.services import OrderRefused, oco_place, order_cancel, order_place
from portfolios.models import Portfolio
from portfolios.services import portfolio_analytics, portfolio_valuation
from tradingsite.api_errors import Problem, exchange_problem


def _filtered(queryset, params, *, portfolio_field="portfolio", symbol_field="symbol"):
    if params.get("symbol"):
        queryset = queryset.filter(**{symbol_field: params["symbol"].upper()})
    if params.get("portfolio"):
        if not params["portfolio"].isdigit():
            raise ValidationError({"portfolio": ["must be a portfolio id"]})
        queryset = queryset.filter(**{portfolio_field: params["portfolio"]})
    return queryset


class OrderViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Own orders, newest first. Filters: ?status=open|FILLED|...&symbol=BTCUSDT&portfolio=1.
    POST places one (201, or 400 with the reason in words); POST <id>/cancel/ cancels it."""

    serializer_class = OrderSerializer
    queryset = Order.objects.none()  # the schema's model; get_queryset scopes it

    def get_queryset(self):
        orders = Order.objects.owned_by(self.request.user).select_related("portfolio")
        wanted = self.request.query_params.get("status", "")
        if wanted.lower() == "open":
            orders = orders.open()
        elif wanted:
            if wanted.upper() not in OrderStatus.values:
                raise ValidationError({"status": [
                    f"must be open or one of {', '.join(OrderStatus.values)}"]})
            orders = orders.filter(status=wanted.upper())
        return _filtered(orders, self.request.query_params)

    @extend_schema(request=OrderPlaceInput, responses={201: OrderSerializer})
    def create(self, request):
        placing = OrderPlaceInput(data=request.data, context={"request": request})
        placing.is_valid(raise_exception=True)
        try:
            order = order_place(source=Order.Source.API, **placing.service_fields())
        except OrderRefused as refused:
            raise Problem(str(refused)) from refused
        except ExchangeError as error:
            raise exchange_problem(error) from error
        return Response(OrderSerializer(order).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=OcoPlaceInput, responses={201: OrderSerializer(many=True)})
    @action(detail=False, methods=["post"])
    def oco(self, request):
        """POST /api/orders/oco/: a spot OCO; 201 with both legs [limit leg, stop leg]."""
        placing = OcoPlaceInput(data=request.data, context={"request": request})
        placing.is_valid(raise_exception=True)
        try:
            legs = oco_place(source=Order.Source.API, **placing.validated_data)
        except OrderRefused as refused:
            raise Problem(str(refused)) from refused
        except ExchangeError as error:
            raise exchange_problem(error) from error
        return Response(OrderSerializer(legs, many=True).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=OrderSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        order = self.get_object()
        if order.is_terminal:
            raise Problem(f"the order is already {order.get_status_display()}",
                          status_code=status.HTTP_409_CONFLICT, code="conflict")
        try:
            order = order_cancel(order=order)
        except ExchangeError as error:
            raise exchange_problem(error) from error
        return Response(OrderSerializer(order).data)


class FillViewSet(viewsets.ReadOnlyModelViewSet):
    """Own fills, newest first. Filters: ?symbol=&portfolio=&order=."""

    serializer_class = FillSerializer
    queryset = Fill.objects.none()  # the schema's model; get_queryset scopes it

    def get_queryset(self):
        fills = Fill.objects.filter(order__portfolio__owner=self.request.user).select_related(
            "order").order_by("-executed_at", "-trade_id")
        order = self.request.query_params.get("order", "")
        if order.isdigit():
            fills = fills.filter(order_id=order)
        return _filtered(fills, self.request.query_params, portfolio_field="order__portfolio")


class PositionViewSet(viewsets.ReadOnlyModelViewSet):
    """Own positions, unrealised PnL at the last streamed price. Filters: ?symbol=&portfolio=."""

    serializer_class = PositionSerializer
    queryset = Position.objects.none()  # the schema's model; get_queryset scopes it

    def get_queryset(self):
        positions = Position.objects.filter(portfolio__owner=self.request.user).select_related(
            "portfolio")
        return _filtered(positions, self.request.query_params)


class BalanceViewSet(viewsets.ReadOnlyModelViewSet):
    """Own balances per portfolio and asset. Filter: ?portfolio=."""

    serializer_class = BalanceSerializer
    queryset = Balance.objects.none()  # the schema's model; get_queryset scopes it

    def get_queryset(self):
        balances = Balance.objects.filter(portfolio__owner=self.request.user)
        return _filtered(balances, self.request.query_params, symbol_field="asset")


class PortfolioViewSet(viewsets.ReadOnlyModelViewSet):
    """Own portfolios (read-only here; edited on the pages and in the admin).
    GET <id>/analytics/: value, PnL, Sharpe, Sortino, drawdown, win rate, profit factor;
    GET <id>/equity/: the equity snapshots (?since=ISO time)."""

    serializer_class = PortfolioSerializer
    queryset = Portfolio.objects.none()  # the schema's model; get_queryset scopes it

    def get_queryset(self):
        return Portfolio.objects.owned_by(self.request.user)

    @extend_schema(responses=inline_serializer("PortfolioAnalytics", {
        "equity_now": serializers.CharField(), "cash": serializers.CharField(),
        "positions_value": serializers.CharField(),
        "unpriced_assets": serializers.ListField(child=serializers.CharField()),
        "exposure": serializers.ListField(child=serializers.DictField())}))
    @action(detail=True, methods=["get"])
    def analytics(self, request, pk=None):
        portfolio = self.get_object()
        value = portfolio_valuation(portfolio=portfolio)
        return Response({**portfolio_analytics(portfolio=portfolio),
                         "equity_now": plain(value.equity), "cash": plain(value.cash),
                         "positions_value": plain(value.positions_value),
                         "unpriced_assets": list(value.unpriced)})

    @extend_schema(
        parameters=[OpenApiParameter("since", OpenApiTypes.DATETIME),
                    OpenApiParameter("page", int)],
        responses=inline_serializer("EquityPage", {
            "count": serializers.IntegerField(),
            "next": serializers.URLField(allow_null=True),
            "previous": serializers.URLField(allow_null=True),
            "results": inline_serializer("EquityPoint", {
                "taken_at": serializers.DateTimeField(), "equity": serializers.CharField(),
                "cash": serializers.CharField(),
                "positions_value": serializers.CharField()}, many=True)}))
    @action(detail=True, methods=["get"])
    def equity(self, request, pk=None):
        snapshots = self.get_object().snapshots.all()
        since = request.query_params.get("since")
        if since:
            moment = parse_datetime(since)
            if moment is None:
                raise ValidationError({"since": ["an ISO 8601 time, e.g. 2026-11-21T12:00Z"]})
            snapshots = snapshots.filter(taken_at__gte=moment)
        page = self.paginate_queryset(snapshots.order_by("taken_at"))
        return self.get_paginated_response([
            {"taken_at": s.taken_at.isoformat(), "equity": plain(s.equity),
             "cash": plain(s.cash), "positions_value": plain(s.positions_value)}
            for s in page])
