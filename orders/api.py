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
from orders.filters import BalanceFilter, FillFilter, OrderFilter, PositionFilter
from orders.models import Balance, Fill, Order, Position
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
from portfolios.filters import PortfolioFilter
from portfolios.models import Portfolio
from portfolios.services import portfolio_analytics, portfolio_valuation
from tradingsite.api_errors import Problem, exchange_problem


class OrderViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Own orders, newest first. Filters: ?status=open|FILLED|...&symbol=BTCUSDT&portfolio=1.
    POST places one (201, or 400 with the reason in words); POST <id>/cancel/ cancels it."""

    serializer_class = OrderSerializer
    queryset = Order.objects.none()  # the schema's model; get_queryset scopes it
    filterset_class = OrderFilter
    ordering_fields = ["created_at", "submitted_at", "id", "symbol", "status"]

    def get_queryset(self):
        return Order.objects.owned_by(self.request.user).select_related("portfolio")

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

    @extend_schema(request=OcoPlaceInput, responses={201: OrderSerializer(many=True)},
                   filters=False)
    @action(detail=False, methods=["post"], pagination_class=None)  # both legs, never a page
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
    filterset_class = FillFilter
    ordering_fields = ["executed_at", "trade_id", "id", "symbol"]

    def get_queryset(self):
        return Fill.objects.filter(order__portfolio__owner=self.request.user).select_related(
            "order").order_by("-executed_at", "-trade_id")


class PositionViewSet(viewsets.ReadOnlyModelViewSet):
    """Own positions, unrealised PnL at the last streamed price. Filters: ?symbol=&portfolio=."""

    serializer_class = PositionSerializer
    queryset = Position.objects.none()  # the schema's model; get_queryset scopes it
    filterset_class = PositionFilter
    ordering_fields = ["symbol", "id", "updated_at"]

    def get_queryset(self):
        return Position.objects.filter(portfolio__owner=self.request.user).select_related(
            "portfolio")


class BalanceViewSet(viewsets.ReadOnlyModelViewSet):
    """Own balances per portfolio and asset. Filters: ?portfolio=&symbol= (the asset)."""

    serializer_class = BalanceSerializer
    queryset = Balance.objects.none()  # the schema's model; get_queryset scopes it
    filterset_class = BalanceFilter
    ordering_fields = ["asset", "id", "updated_at"]

    def get_queryset(self):
        return Balance.objects.filter(portfolio__owner=self.request.user)


class PortfolioViewSet(viewsets.ReadOnlyModelViewSet):
    """Own portfolios (read-only here; edited on the pages and in the admin).
    GET <id>/analytics/: value, PnL, Sharpe, Sortino, drawdown, win rate, profit factor;
    GET <id>/equity/: the equity snapshots (?since=ISO time)."""

    serializer_class = PortfolioSerializer
    queryset = Portfolio.objects.none()  # the schema's model; get_queryset scopes it
    filterset_class = PortfolioFilter
    ordering_fields = ["name", "id", "created_at"]

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
