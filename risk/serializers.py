from decimal import Decimal

from django.db import models
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from bots.models import Bot
from orders.serializers import Money, MoneyModelSerializer
from portfolios.models import Portfolio
from risk.models import (
    LIMIT_FIELDS,
    EmergencyStop,
    EmergencyStopStep,
    EntryBlock,
    RiskAlert,
    RiskLimit,
    RiskLimitChange,
)

DECIMAL_LIMITS = [name for name in LIMIT_FIELDS
                  if isinstance(RiskLimit._meta.get_field(name), models.DecimalField)]


def own_portfolio_field(**kwargs) -> serializers.PrimaryKeyRelatedField:
    """A portfolio id, chosen among the caller's own (see `limit_to_caller`)."""
    return serializers.PrimaryKeyRelatedField(
        queryset=Portfolio.objects.none(),
        error_messages={"does_not_exist": "you have no portfolio #{pk_value}",
                        "incorrect_type": "a portfolio id (a number)"}, **kwargs)


def limit_to_caller(serializer: serializers.Serializer) -> None:
    """Only the caller's own portfolios and bots can be chosen: another trader's are refused
    as if they did not exist."""
    request = serializer.context.get("request")
    if request is None:
        return
    if "portfolio" in serializer.fields:
        serializer.fields["portfolio"].queryset = Portfolio.objects.owned_by(request.user)
    if "bot" in serializer.fields:
        serializer.fields["bot"].queryset = Bot.objects.owned_by(request.user)


class CallersOwn:
    """Mixin for a serializer whose portfolio and bot fields choose among the caller's own."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        limit_to_caller(self)


class RiskLimitSerializer(CallersOwn, MoneyModelSerializer):
    """A limit: its scope (portfolio, bot, symbol; "global" ones belong to nobody and are
    read-only here) and the limits it sets, decimals as strings, empty meaning no limit."""

    portfolio = own_portfolio_field(allow_null=True, required=False)
    bot = serializers.PrimaryKeyRelatedField(
        queryset=Bot.objects.none(), allow_null=True, required=False,
        error_messages={"does_not_exist": "you have no bot #{pk_value}",
                        "incorrect_type": "a bot id (a number)"})
    scope = serializers.SerializerMethodField()
    scope_label = serializers.CharField(read_only=True)

    class Meta:
        model = RiskLimit
        fields = ["id", "scope", "scope_label", "portfolio", "bot", "symbol", *LIMIT_FIELDS,
                  "on_breach", "note", "created_at", "updated_at"]
        read_only_fields = ["created_at", "updated_at"]
        extra_kwargs = {name: {"min_value": Decimal(0)} for name in DECIMAL_LIMITS}

    def get_scope(self, limit: RiskLimit) -> str:
        return "global" if limit.owner_id is None else "own"


class RiskLimitChangeSerializer(serializers.ModelSerializer):
    changed_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = RiskLimitChange
        fields = ["id", "action", "scope", "changes", "changed_by", "changed_at"]
        read_only_fields = fields


class RiskAlertSerializer(serializers.ModelSerializer):
    acknowledged_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    active = serializers.SerializerMethodField()

    class Meta:
        model = RiskAlert
        fields = ["id", "portfolio", "severity", "rule", "message", "values", "action_taken",
                  "active", "created_at", "resolved_at", "acknowledged_at", "acknowledged_by"]
        read_only_fields = fields

    def get_active(self, alert: RiskAlert) -> bool:
        return alert.resolved_at is None


class EntryBlockSerializer(serializers.ModelSerializer):
    cleared_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    source_display = serializers.CharField(source="get_source_display", read_only=True)

    class Meta:
        model = EntryBlock
        fields = ["id", "portfolio", "symbol", "source", "source_display", "reason",
                  "created_at", "cleared_at", "cleared_by"]
        read_only_fields = fields


class EmergencyStopStepSerializer(serializers.ModelSerializer):
    order = serializers.SlugRelatedField(slug_field="client_order_id", read_only=True,
                                         allow_null=True)

    class Meta:
        model = EmergencyStopStep
        fields = ["kind", "target", "order", "outcome", "detail", "at"]
        read_only_fields = fields


class EmergencyStopSerializer(serializers.ModelSerializer):
    """A stop with every step it took; ``still_open`` lists the orders it could not end (the
    beat keeps trying them)."""

    requested_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    steps = EmergencyStopStepSerializer(many=True, read_only=True)
    still_open = serializers.SerializerMethodField()

    class Meta:
        model = EmergencyStop
        fields = ["id", "status", "scope", "portfolio", "requested_by", "requested_via",
                  "close_positions", "summary", "started_at", "finished_at", "steps",
                  "still_open"]
        read_only_fields = fields

    def get_still_open(self, stop: EmergencyStop) -> list[dict]:
        latest = {}
        for step in stop.steps.all():  # in order: the last step of each order wins
            if step.order is not None:
                latest[step.order.pk] = step
        return [{"order": step.order.client_order_id, "symbol": step.order.symbol,
                 "status": step.order.status, "detail": step.detail}
                for step in latest.values()
                if step.outcome == EmergencyStopStep.Outcome.STILL_OPEN
                and not step.order.is_terminal]


class RiskSummarySerializer(serializers.Serializer):
    """What applies to a portfolio now: the tightest portfolio-wide limits (decimals as
    strings), the entry blocks in force, and the circuit breakers that are open, in words."""

    portfolio = serializers.IntegerField(source="portfolio.pk")
    limits = serializers.SerializerMethodField()
    blocks = EntryBlockSerializer(many=True)
    breakers = serializers.ListField(child=serializers.CharField())

    @extend_schema_field({"type": "object", "additionalProperties": {}})
    def get_limits(self, summary: dict) -> dict:
        money = Money()
        return {name: money.to_representation(value) if isinstance(value, Decimal) else value
                for name, value in summary["limits"].items()}
