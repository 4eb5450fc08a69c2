"""The risk API: a trader's own limits (with their audit trail), alerts, entry blocks,
emergency stops and a portfolio's risk summary.

Every queryset starts from `request.user`: another trader's object is a 404, and staff have
no wider view here than anyone else (the admin is where staff act). Limits change only
through `risk.limits`, which records who changed what.
"""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Q
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from portfolios.models import Portfolio
from risk.filters import EmergencyStopFilter, EntryBlockFilter, RiskAlertFilter, RiskLimitFilter
from risk.limits import risk_limit_delete, risk_limit_save
from risk.models import EmergencyStop, EntryBlock, RiskAlert, RiskLimit
from risk.serializers import (
    CallersOwn,
    EmergencyStopSerializer,
    EntryBlockSerializer,
    RiskAlertSerializer,
    RiskLimitChangeSerializer,
    RiskLimitSerializer,
    RiskSummarySerializer,
    own_portfolio_field,
)
from risk.services import risk_summary

READ_ONLY_LIMIT = ("this limit has no owner (a global or platform-wide limit set by staff): "
                   "it applies to you but cannot be changed or deleted through the API")


def _refused(error: DjangoValidationError) -> ValidationError:
    """A service's ValidationError as the API's 400, its messages kept word for word."""
    return ValidationError(serializers.as_serializer_error(error))


class RiskLimitViewSet(viewsets.ModelViewSet):
    """Own risk limits, plus the global ones (read-only, ``"scope": "global"``).
    POST creates a limit owned by you, optionally scoped to one of your portfolios, bots
    and/or a symbol (at least one limit must be set); PUT/PATCH change it; DELETE removes it.
    Every change is audited: GET <id>/changes/ is the trail, newest first. ?portfolio= filters."""

    serializer_class = RiskLimitSerializer
    queryset = RiskLimit.objects.none()  # the schema's model; get_queryset scopes it
    filterset_class = RiskLimitFilter
    ordering_fields = ["id", "created_at", "updated_at", "symbol"]

    def get_queryset(self):
        user = self.request.user
        # Ownerless limits apply to everyone, or to the portfolio or bot they name.
        ownerless = (Q(owner__isnull=True)
                     & (Q(portfolio__isnull=True) | Q(portfolio__owner=user))
                     & (Q(bot__isnull=True) | Q(bot__portfolio__owner=user)))
        return (RiskLimit.objects.filter(Q(owner=user) | ownerless)
                .select_related("owner", "portfolio", "bot"))

    def get_object(self):
        limit = super().get_object()
        # Refused before the body is even validated: no write to an ownerless limit here.
        if self.action in ("update", "partial_update", "destroy") and limit.owner_id is None:
            raise PermissionDenied(READ_ONLY_LIMIT)
        return limit

    def _save(self, limit: RiskLimit) -> RiskLimit:
        try:
            return risk_limit_save(limit=limit, by=self.request.user)
        except DjangoValidationError as error:
            raise _refused(error) from error

    def perform_create(self, serializer):
        limit = RiskLimit(owner=self.request.user, **serializer.validated_data)
        serializer.instance = self._save(limit)

    def perform_update(self, serializer):
        limit = serializer.instance
        for name, value in serializer.validated_data.items():
            setattr(limit, name, value)
        serializer.instance = self._save(limit)

    def perform_destroy(self, instance):
        risk_limit_delete(limit=instance, by=self.request.user)

    @action(detail=True, methods=["get"])
    def changes(self, request, pk=None):
        """Who changed this limit, when, and each field's [old, new] value."""
        trail = self.get_object().changes.select_related("changed_by")
        page = self.paginate_queryset(trail)
        return self.get_paginated_response(RiskLimitChangeSerializer(page, many=True).data)


class RiskAlertViewSet(viewsets.ReadOnlyModelViewSet):
    """Own risk alerts, newest first. Filters: ?active=true|false (an alert is active while
    its breach lasts), ?portfolio=<id>, ?severity=info|warning|critical.
    POST <id>/acknowledge/ marks it seen (again: nothing changes, the first who and when stay)."""

    serializer_class = RiskAlertSerializer
    queryset = RiskAlert.objects.none()  # the schema's model; get_queryset scopes it
    filterset_class = RiskAlertFilter
    ordering_fields = ["created_at", "id", "severity", "resolved_at"]

    def get_queryset(self):
        return RiskAlert.objects.filter(owner=self.request.user).select_related(
            "acknowledged_by")

    @action(detail=True, methods=["post"])
    def acknowledge(self, request, pk=None):
        from risk.monitor import risk_alert_acknowledge  # it brings in the monitor's imports

        alert = risk_alert_acknowledge(alert=self.get_object(), by=request.user)
        return Response(self.get_serializer(alert).data)


class EntryBlockViewSet(viewsets.ReadOnlyModelViewSet):
    """Entry blocks on your portfolios: while one stands, new entries wait (exits never do).
    The list shows the active ones; ?all=true the history too; ?portfolio= filters.
    POST <id>/clear/ lets entries through again (clearing twice keeps the first who and when)."""

    serializer_class = EntryBlockSerializer
    queryset = EntryBlock.objects.none()  # the schema's model; get_queryset scopes it
    filterset_class = EntryBlockFilter
    ordering_fields = ["created_at", "id", "cleared_at"]

    def get_queryset(self):
        return EntryBlock.objects.filter(portfolio__owner=self.request.user).select_related(
            "cleared_by")

    def filter_queryset(self, queryset):
        # The list's filters, active-only by default included: a cleared block named by id
        # is still yours to read, and clearing it again answers as the first time did.
        return super().filter_queryset(queryset) if self.action == "list" else queryset

    @action(detail=True, methods=["post"])
    def clear(self, request, pk=None):
        from risk.monitor import entry_block_clear  # it brings in the monitor's imports

        block = entry_block_clear(block=self.get_object(), by=request.user)
        return Response(self.get_serializer(block).data)


def _stops_of(user):
    """The stops a trader may read: those of their portfolios, and their "every portfolio of
    mine" stops from this API (which name no single portfolio). Not a stop staff ran from the
    admin or a command over several traders' portfolios: its steps are other people's."""
    mine = Q(requested_by=user, requested_via="api", portfolio__isnull=True)
    return (EmergencyStop.objects
            .filter(Q(portfolio__owner=user) | mine)
            .select_related("requested_by")
            .prefetch_related("steps__order"))


class EmergencyStopViewSet(viewsets.ReadOnlyModelViewSet):
    """Your emergency stops, newest first, each with every step it took (what became of each
    bot, order and position) and the orders it left open. Filters: ?status=&portfolio=."""

    serializer_class = EmergencyStopSerializer
    queryset = EmergencyStop.objects.none()  # the schema's model; get_queryset scopes it
    filterset_class = EmergencyStopFilter
    ordering_fields = ["started_at", "id", "status"]

    def get_queryset(self):
        return _stops_of(self.request.user)


class EmergencyStopApi(APIView):
    """POST {"portfolio": <id> | null, "close_positions": false}: stop trading now. Entries are
    blocked, running bots paused and every open order cancelled (with close_positions, each
    position is closed at market); null means every one of your active portfolios.
    200 with the steps when nothing is left open; 202 when some orders are still open (listed
    under still_open; they are retried every minute). Lift the block with entries-resume/."""

    class EmergencyStopInput(CallersOwn, serializers.Serializer):
        portfolio = own_portfolio_field(allow_null=True)
        close_positions = serializers.BooleanField(default=False)

    @extend_schema(request=EmergencyStopInput, responses={200: EmergencyStopSerializer,
                                             202: EmergencyStopSerializer})
    def post(self, request):
        from risk.emergency import emergency_stop  # it brings in the order gateways

        given = self.EmergencyStopInput(data=request.data, context={"request": request})
        given.is_valid(raise_exception=True)
        chosen = given.validated_data["portfolio"]
        # Never None: emergency_stop(portfolios=None) stops everyone's portfolios.
        portfolios = ([chosen] if chosen is not None else
                      list(Portfolio.objects.owned_by(request.user).filter(active=True)))
        if not portfolios:
            raise ValidationError({"portfolio": ["you have no active portfolio to stop"]})
        stop = emergency_stop(portfolios=portfolios, requested_by=request.user, via="api",
                              close_positions=given.validated_data["close_positions"])
        stop = _stops_of(request.user).get(pk=stop.pk)
        code = (status.HTTP_200_OK if stop.status == EmergencyStop.Status.DONE
                else status.HTTP_202_ACCEPTED)
        return Response(EmergencyStopSerializer(stop).data, status=code)


class EntriesResumeApi(APIView):
    """POST {"portfolio": <id>}: lift the emergency stop's entry block on the portfolio. Its
    bots stay paused (resume each one). Answers how many blocks were cleared and the blocks
    that still hold entries back (a breach's: clear them under blocks/)."""

    class EntriesResumeInput(CallersOwn, serializers.Serializer):
        portfolio = own_portfolio_field()

    @extend_schema(request=EntriesResumeInput, responses=inline_serializer("EntriesResumed", {
        "portfolio": serializers.IntegerField(), "cleared": serializers.IntegerField(),
        "still_blocked": EntryBlockSerializer(many=True)}))
    def post(self, request):
        from risk.emergency import entries_resume  # it brings in the order gateways

        given = self.EntriesResumeInput(data=request.data, context={"request": request})
        given.is_valid(raise_exception=True)
        portfolio = given.validated_data["portfolio"]
        cleared = entries_resume(portfolio=portfolio, by=request.user)
        still = EntryBlock.objects.active().filter(portfolio=portfolio)
        return Response({"portfolio": portfolio.pk, "cleared": cleared,
                         "still_blocked": EntryBlockSerializer(still, many=True).data})


class RiskSummaryApi(APIView):
    """GET ?portfolio=<id>: the limits in force on the whole portfolio (the tightest of every
    scope that covers it), its active entry blocks and any open circuit breaker, in words."""

    @extend_schema(parameters=[OpenApiParameter("portfolio", int, required=True)],
                   responses=RiskSummarySerializer)
    def get(self, request):
        wanted = request.query_params.get("portfolio", "")
        if not wanted.isdigit():
            raise ValidationError({"portfolio": ["give ?portfolio=<id> of one of yours"]})
        portfolio = get_object_or_404(Portfolio.objects.owned_by(request.user), pk=wanted)
        summary = risk_summary(portfolio=portfolio)
        return Response(RiskSummarySerializer({**summary, "portfolio": portfolio}).data)
