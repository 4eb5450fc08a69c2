from rest_framework import serializers

from bots.models import Bot, BotDecision, TradeApproval
from portfolios.models import Portfolio


class BotSerializer(serializers.ModelSerializer):
    portfolio = serializers.PrimaryKeyRelatedField(queryset=Portfolio.objects.none())

    class Meta:
        model = Bot
        fields = ["id", "portfolio", "name", "market", "symbol", "interval", "strategy", "params",
                  "sizing", "sizing_config", "status", "status_reason", "started_at",
                  "last_tick_at", "created_at", "approval_above_quote",
                  "approval_below_confidence", "approval_minutes"]
        # The approval rules change through POST <id>/approval-rules/ (also while running).
        read_only_fields = ["market", "status", "status_reason", "started_at", "last_tick_at",
                            "created_at", "approval_above_quote", "approval_below_confidence",
                            "approval_minutes"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        request = self.context.get("request")
        if request is not None:  # only the caller's own portfolios can be chosen
            self.fields["portfolio"].queryset = Portfolio.objects.owned_by(request.user)


class DecisionSerializer(serializers.ModelSerializer):
    orders = serializers.SlugRelatedField(many=True, read_only=True,
                                          slug_field="client_order_id")

    class Meta:
        model = BotDecision
        fields = ["id", "candle_open_time", "decided_at", "outcome", "reason", "inputs",
                  "actions", "orders", "duration_ms"]
        read_only_fields = fields


class StopInput(serializers.Serializer):
    cancel_orders = serializers.BooleanField(default=True)
    close_position = serializers.BooleanField(default=False)


class ApprovalRulesInput(serializers.Serializer):
    approval_above_quote = serializers.DecimalField(max_digits=30, decimal_places=10,
                                                    allow_null=True, default=None)
    approval_below_confidence = serializers.FloatField(allow_null=True, default=None)
    approval_minutes = serializers.IntegerField(default=15)


class TradeApprovalSerializer(serializers.ModelSerializer):
    order = serializers.SlugRelatedField(read_only=True, slug_field="client_order_id")
    decided_by = serializers.SlugRelatedField(read_only=True, slug_field="username")

    class Meta:
        model = TradeApproval
        fields = ["id", "bot", "decision", "side", "order_type", "tag", "quote_amount",
                  "price", "confidence", "reason", "waits_because", "analysis", "status",
                  "expires_at", "decided_at", "decided_by", "outcome_note", "order",
                  "created_at"]
        read_only_fields = fields


class StrategyParameterSerializer(serializers.Serializer):
    """One declared parameter (values are JSON: numbers, booleans or strings)."""

    name = serializers.CharField()
    kind = serializers.CharField()
    default = serializers.JSONField(allow_null=True)
    required = serializers.BooleanField()
    minimum = serializers.JSONField(allow_null=True)
    maximum = serializers.JSONField(allow_null=True)
    step = serializers.JSONField(allow_null=True)


class StrategySerializer(serializers.Serializer):
    """``bots.strategies.describe``: a registered strategy and its parameters."""

    name = serializers.CharField()
    title = serializers.CharField()
    description = serializers.CharField()
    builtin = serializers.BooleanField()
    parameters = StrategyParameterSerializer(many=True)
