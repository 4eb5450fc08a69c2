"""The backtests API, under /api/backtests/ and /api/optimisations/: a trader's own runs and
optimisations (staff: everyone's).

Another trader's run is a 404 on every endpoint. Runs are created queued and executed by a
Celery worker; follow them with GET <id>/ or the `backtest.progress` WebSocket event."""

import csv
import io

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from backtests.filters import BacktestRunFilter, OptimisationRunFilter
from backtests.models import BacktestRun, OptimisationRun
from backtests.optimisation import optimisation_cancel, optimisation_create
from backtests.serializers import (
    BacktestRunDetailSerializer,
    BacktestRunInput,
    BacktestRunSerializer,
    OptimisationRunDetailSerializer,
    OptimisationRunInput,
    OptimisationRunSerializer,
)
from backtests.services import BacktestRefused, backtest_run_cancel, backtest_run_create
from bots.serializers import StrategySerializer
from bots.strategies import available, describe
from tradingsite.api_errors import Problem

CSV_COLUMNS = ("entry_time", "exit_time", "entry_price", "exit_price", "quantity", "fees", "pnl",
               "return_pct", "exit_reason", "entry_words", "exit_words", "side", "funding")
WORDS = frozenset({"exit_reason", "entry_words", "exit_words", "side"})
RUN_ORDERING = ["created_at", "id", "finished_at", "status", "symbol"]


class BacktestRunViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin,
                         mixins.CreateModelMixin, viewsets.GenericViewSet):
    """GET: your runs, newest first, with their figures (?status=&strategy=&symbol= filter);
    GET <id>/: one run with its whole report; POST: a new run (strategy, params, symbol,
    interval, start, end, cash, fee, fee_asset, slippage_bps, sizing, sizing_config; refused
    in words with a 400), queued for a worker; POST <id>/cancel/: stop it; GET
    <id>/trades.csv: its trades; GET strategies/: the strategies and their parameters."""

    queryset = BacktestRun.objects.none()  # the schema's model; get_queryset scopes it
    filterset_class = BacktestRunFilter
    ordering_fields = RUN_ORDERING

    def get_queryset(self):
        runs = BacktestRun.objects.visible_to(self.request.user).select_related("owner")
        if self.action == "list":
            runs = runs.defer("results")  # the trades and curves stay in the database
        return runs

    def get_serializer_class(self):
        if self.action == "create":
            return BacktestRunInput
        return BacktestRunDetailSerializer if self.action == "retrieve" else BacktestRunSerializer

    @extend_schema(responses={201: BacktestRunDetailSerializer})
    def create(self, request, *args, **kwargs):
        given = self.get_serializer(data=request.data)
        given.is_valid(raise_exception=True)
        try:
            run = backtest_run_create(owner=request.user, **given.service_kwargs())
        except BacktestRefused as refused:
            raise ValidationError(refused.errors) from refused
        return Response(BacktestRunDetailSerializer(run).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=BacktestRunSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        try:
            run = backtest_run_cancel(run=self.get_object())
        except BacktestRefused as refused:
            raise ValidationError(refused.errors) from refused
        return Response(BacktestRunSerializer(run).data)

    @extend_schema(responses={(200, "text/csv"): OpenApiTypes.STR})
    def trades_csv(self, request, pk=None):
        """The run's trades, one a row (the position still open at the end last)."""
        run = self.get_object()
        if run.status != BacktestRun.Status.DONE:
            raise Problem(f"run #{run.pk} is {run.status}: it has trades once it is done",
                          status_code=status.HTTP_409_CONFLICT, code="conflict")
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(CSV_COLUMNS)
        for trade in run.trades():
            writer.writerow([_cell(name, trade.get(name)) for name in CSV_COLUMNS])
        response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = (f'attachment; filename="backtest-{run.pk}-'
                                           f'{run.strategy}-{run.symbol}-trades.csv"')
        return response

    @extend_schema(responses=StrategySerializer(many=True), filters=False)
    @action(detail=False, methods=["get"], pagination_class=None)
    def strategies(self, request):
        """Every registered strategy with its declared parameters (name, kind, default,
        minimum, maximum, choices, help)."""
        return Response([describe(name) for name in available()])


def _cell(name: str, value) -> str:
    if value is None:
        return ""
    text = str(value)
    # A strategy's words opened in a spreadsheet must not run as a formula.
    if name in WORDS and text[:1] in ("=", "+", "-", "@"):
        return "'" + text
    return text


class OptimisationRunViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin,
                             mixins.CreateModelMixin, viewsets.GenericViewSet):
    """Under /api/optimisations/. GET: your optimisations, newest first, without results
    (?status=&kind=&strategy=&symbol= filter); GET <id>/: one with its results (the top
    scores, the best parameters; for walk-forward the windows, stitched curve and
    stability); POST: a new one (the backtest's strategy, symbol, interval, start, end and
    money as for /api/backtests/, plus kind grid|random|walk_forward, space, fixed,
    objective, min_trades, samples, seed, in_sample, out_of_sample, step; refused in words
    with a 400), queued for the workers; POST <id>/cancel/: stop it. Follow it with GET
    <id>/ or the `optimisation.progress` WebSocket event. Another trader's is a 404."""

    queryset = OptimisationRun.objects.none()  # the schema's model; get_queryset scopes it
    filterset_class = OptimisationRunFilter
    ordering_fields = RUN_ORDERING

    def get_queryset(self):
        runs = OptimisationRun.objects.visible_to(self.request.user).select_related("owner")
        return runs.defer("results") if self.action == "list" else runs

    def get_serializer_class(self):
        if self.action == "create":
            return OptimisationRunInput
        if self.action == "retrieve":
            return OptimisationRunDetailSerializer
        return OptimisationRunSerializer

    @extend_schema(responses={201: OptimisationRunDetailSerializer})
    def create(self, request, *args, **kwargs):
        given = self.get_serializer(data=request.data)
        given.is_valid(raise_exception=True)
        try:
            run = optimisation_create(owner=request.user, **given.service_kwargs())
        except BacktestRefused as refused:
            raise ValidationError(refused.errors) from refused
        return Response(OptimisationRunDetailSerializer(run).data,
                        status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=OptimisationRunSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        try:
            run = optimisation_cancel(run=self.get_object())
        except BacktestRefused as refused:
            raise ValidationError(refused.errors) from refused
        return Response(OptimisationRunSerializer(run).data)
