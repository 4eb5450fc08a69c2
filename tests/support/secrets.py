"""Secrets the tests use, so a run's logs can be searched for them afterwards."""

from tests.localbinance.exchange import DEFAULT_API_SECRET

ACCOUNT_KEY = "k3y-local-binance-api-key-0123456789abcdefKLMN"
ACCOUNT_SECRET = "s3cr3t-local-binance-secret-0123456789abcdefXYZW"

TEST_SECRETS = (ACCOUNT_SECRET, DEFAULT_API_SECRET)
