from rest_framework import serializers

from bots.models import Bot, BotDecision
from portfolios.models import Portfolio


class BotSerializer(serializers.ModelSerializer):
    portfolio = serializers.PrimaryKeyRelatedField(queryset=Portfolio.objects.none())

    class Meta:
        model = Bot
        fields = ["id", "portfolio", "name", "market", "symbol", "interval", "strategy", "params",
                  "sizing", "sizing_config", "status", "status_reason", "started_at",
                  "last_tick_at", "created_at"]
        read_only_fields = ["market", "status", "status_reason", "started_at", "last_tick_at",
                            "created_at"]

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
