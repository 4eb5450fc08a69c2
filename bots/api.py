from django.db import IntegrityError
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response

from bots.approvals import ApprovalRefused, approval_approve, approval_reject
from bots.filters import BotFilter, TradeApprovalFilter
from bots.models import Bot, TradeApproval
from bots.serializers import (
    ApprovalRulesInput,
    BotSerializer,
    DecisionSerializer,
    StopInput,
    StrategySerializer,
    TradeApprovalSerializer,
)
from bots.services import (
    BotRefused,
    bot_approval_rules,
    bot_create,
    bot_pause,
    bot_resume,
    bot_start,
    bot_stop,
    bot_update,
)
from bots.strategies import available, describe


class BotViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
                 mixins.UpdateModelMixin, viewsets.GenericViewSet):
    """Own bots. POST creates one (stopped; parameters checked against the strategy, refused
    in words); PATCH edits a stopped bot; POST <id>/start|pause|resume|stop/ control it;
    GET <id>/decisions/ is its decision log, newest first. ?status=&portfolio= filter."""

    serializer_class = BotSerializer
    queryset = Bot.objects.none()  # the schema's model; get_queryset scopes it
    filterset_class = BotFilter
    ordering_fields = ["name", "id", "created_at", "symbol", "status"]

    def get_queryset(self):
        return Bot.objects.owned_by(self.request.user).select_related("portfolio")

    def perform_create(self, serializer):
        data = serializer.validated_data
        try:
            serializer.instance = bot_create(**data)
        except BotRefused as refused:
            raise ValidationError(refused.errors) from refused
        except IntegrityError as clash:
            raise ValidationError({"name": ["this portfolio has a bot of that name"]}) from clash

    def perform_update(self, serializer):
        try:
            serializer.instance = bot_update(bot=serializer.instance, **serializer.validated_data)
        except BotRefused as refused:
            raise ValidationError(refused.errors) from refused

    def _control(self, act):
        try:
            bot = act(self.get_object())
        except BotRefused as refused:
            raise ValidationError(refused.errors) from refused
        return Response(self.get_serializer(bot).data)

    @action(detail=True, methods=["post"])
    def start(self, request, pk=None):
        return self._control(lambda bot: bot_start(bot=bot))

    @action(detail=True, methods=["post"])
    def pause(self, request, pk=None):
        return self._control(lambda bot: bot_pause(bot=bot))

    @action(detail=True, methods=["post"])
    def resume(self, request, pk=None):
        return self._control(lambda bot: bot_resume(bot=bot))

    @action(detail=True, methods=["post"])
    def stop(self, request, pk=None):
        options = StopInput(data=request.data)
        options.is_valid(raise_exception=True)
        return self._control(lambda bot: bot_stop(bot=bot, **options.validated_data))

    @action(detail=True, methods=["get"])
    def decisions(self, request, pk=None):
        page = self.paginate_queryset(self.get_object().decisions.prefetch_related("orders"))
        return self.get_paginated_response(DecisionSerializer(page, many=True).data)


    @action(detail=True, methods=["post"], url_path="approval-rules")
    def approval_rules(self, request, pk=None):
        """Which entries wait for approval: above a quote amount, below a confidence (null:
        none), expiring after approval_minutes. Allowed while the bot runs."""
        rules = ApprovalRulesInput(data=request.data)
        rules.is_valid(raise_exception=True)
        data = rules.validated_data
        return self._control(lambda bot: bot_approval_rules(
            bot=bot, above_quote=data["approval_above_quote"],
            below_confidence=data["approval_below_confidence"],
            minutes=data["approval_minutes"]))


class TradeApprovalViewSet(viewsets.ReadOnlyModelViewSet):
    """Entries the caller's bots wait to have approved (?status=pending&bot=). POST
    <id>/approve/ places the order through the usual checks; <id>/reject/ drops it. A
    refusal (already decided, expired, the bot not running, entries paused) is a 400."""

    serializer_class = TradeApprovalSerializer
    queryset = TradeApproval.objects.none()  # the schema's model; get_queryset scopes it
    filterset_class = TradeApprovalFilter
    ordering_fields = ["created_at", "expires_at", "id", "status"]

    def get_queryset(self):
        return TradeApproval.objects.owned_by(self.request.user).select_related(
            "order", "decided_by")

    def _decide(self, act):
        try:
            approval = act(approval=self.get_object(), user=self.request.user)
        except ApprovalRefused as refused:
            raise ValidationError({"detail": str(refused)}) from refused
        return Response(self.get_serializer(approval).data)

    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        return self._decide(approval_approve)

    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        return self._decide(approval_reject)


class StrategyViewSet(viewsets.ViewSet):
    """The registered strategies and their parameters (names, types, defaults, ranges)."""

    lookup_value_regex = r"[A-Za-z0-9_]+"

    @extend_schema(responses=StrategySerializer(many=True))
    def list(self, request):
        return Response([describe(name) for name in sorted(available())])

    @extend_schema(responses=StrategySerializer,
                   parameters=[OpenApiParameter("id", str, OpenApiParameter.PATH,
                                                description="the strategy's name")])
    def retrieve(self, request, pk=None):
        if pk not in available():
            raise NotFound(f"no strategy {pk!r}")
        return Response(describe(pk))
