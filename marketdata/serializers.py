from rest_framework import serializers

from marketdata.models import INTERVALS, Kline, Symbol


class SymbolSerializer(serializers.ModelSerializer):
    filters = serializers.SerializerMethodField()

    class Meta:
        model = Symbol
        fields = ["market", "name", "status", "base_asset", "quote_asset", "tick_size",
                  "step_size", "min_qty", "min_notional", "filters", "synced_at"]

    def get_filters(self, symbol) -> list[dict]:
        return symbol.exchange_info.get("filters", [])


class CandleSerializer(serializers.ModelSerializer):
    class Meta:
        model = Kline
        fields = ["open_time", "close_time", "open", "high", "low", "close", "volume",
                  "quote_volume", "trades", "taker_buy_base", "taker_buy_quote"]


class CandleQuery(serializers.Serializer):
    symbol = serializers.RegexField(r"^[A-Za-z0-9]{2,30}$")
    interval = serializers.ChoiceField(choices=INTERVALS)
    market = serializers.ChoiceField(choices=Symbol.Market.choices, default="spot")
    start = serializers.DateTimeField(required=False, help_text="from this open time on")
    end = serializers.DateTimeField(required=False, help_text="up to this open time")
    limit = serializers.IntegerField(min_value=1, max_value=1000, default=500)

    def validate(self, attrs):
        if attrs.get("start") and attrs.get("end") and attrs["start"] > attrs["end"]:
            raise serializers.ValidationError("start must not be after end")
        attrs["symbol"] = attrs["symbol"].upper()
        return attrs
