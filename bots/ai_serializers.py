"""Serializers of the AI analyses API (``bots.ai_api``): output only, except the two inputs."""

from django.conf import settings
from rest_framework import serializers

from bots.models import AdvisorCall, AISymbolAnalysis, SentimentItem, TechnicalAnalysisRecord
from marketdata.models import INTERVALS, Symbol
from orders.serializers import Money


class TechnicalSerializer(serializers.ModelSerializer):
    close = Money(read_only=True)

    class Meta:
        model = TechnicalAnalysisRecord
        fields = ["trend", "strength", "score", "close", "data"]
        read_only_fields = fields


class AdvisorSummarySerializer(serializers.ModelSerializer):
    class Meta:
        model = AdvisorCall
        fields = ["id", "outcome", "model", "prompt_version", "latency_ms", "advice"]
        read_only_fields = fields


class AnalysisSerializer(serializers.ModelSerializer):
    technical = TechnicalSerializer(read_only=True)
    advisor = AdvisorSummarySerializer(read_only=True)

    class Meta:
        model = AISymbolAnalysis
        fields = ["id", "symbol", "market", "interval", "as_of", "action", "combined_score",
                  "technical_score", "sentiment_score", "sentiment_confidence", "confidence",
                  "per_source", "sources", "reasoning", "technical", "advisor"]
        read_only_fields = fields


class AdvisorCallSerializer(serializers.ModelSerializer):
    class Meta:
        model = AdvisorCall
        fields = ["id", "symbol", "outcome", "prompt_version", "model", "model_digest",
                  "messages", "inputs", "raw_output", "advice", "latency_ms", "error",
                  "created_at"]
        read_only_fields = fields


class SentimentItemSerializer(serializers.ModelSerializer):
    feed = serializers.SlugRelatedField(slug_field="name", read_only=True, allow_null=True)
    link = serializers.CharField(read_only=True, help_text="the headline's page; empty for "
                                                           "market items and notes")
    author = serializers.SerializerMethodField()

    class Meta:
        model = SentimentItem
        fields = ["id", "source", "symbol", "score", "text", "link", "published_at", "feed",
                  "author"]
        read_only_fields = fields

    def get_author(self, item: SentimentItem) -> str | None:
        # Headlines and analyses are shared market data; who wrote a note is not.
        request = self.context.get("request")
        if request is None or item.author_id is None or item.author_id != request.user.pk:
            return None
        return request.user.username


class NoteInput(serializers.Serializer):
    """Blank text and an out-of-range score pass here so ``note_add`` refuses them in words."""

    symbol = serializers.CharField(max_length=30)
    text = serializers.CharField(allow_blank=True, trim_whitespace=False)
    score = serializers.FloatField(allow_null=True, default=None)


class AnalyseInput(serializers.Serializer):
    symbol = serializers.CharField(max_length=30)
    market = serializers.ChoiceField(choices=Symbol.Market.choices, default=Symbol.Market.SPOT)
    interval = serializers.ChoiceField(choices=INTERVALS,
                                       default=lambda: settings.AI_ANALYSIS_INTERVAL)

    def validate_symbol(self, value: str) -> str:
        return value.strip().upper()

    def validate(self, attrs):
        if not Symbol.objects.filter(market=attrs["market"], name=attrs["symbol"]).exists():
            raise serializers.ValidationError(
                {"symbol": [f"no {attrs['market']} symbol {attrs['symbol']} is known"]})
        return attrs
