from rest_framework import serializers

from portfolios.models import ExchangeAccount


class ExchangeAccountSerializer(serializers.ModelSerializer):
    """Key and secret are write-only: an answer carries their last four characters at most."""

    api_key = serializers.CharField(write_only=True, trim_whitespace=True)
    api_secret = serializers.CharField(write_only=True, trim_whitespace=True)

    class Meta:
        model = ExchangeAccount
        fields = ["id", "name", "mode", "market", "base_url", "api_key", "api_secret",
                  "api_key_last4", "api_secret_last4", "can_trade", "can_trade_futures",
                  "ip_restricted", "warning", "restrictions_checked_at", "created_at"]
        read_only_fields = ["api_key_last4", "api_secret_last4", "can_trade",
                            "can_trade_futures", "ip_restricted", "warning",
                            "restrictions_checked_at", "created_at"]
        # Which Binance the keys are for is never guessed: a live key taken for testnet (or
        # the reverse) fails in confusing ways.
        extra_kwargs = {"mode": {"required": True}, "market": {"required": True}}
