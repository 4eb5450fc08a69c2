"""schemathesis against the platform's own OpenAPI schema: every operation, a bounded number of
generated requests each, sent over HTTP to the real server (daphne) as a trader with an API
token. No answer may be a server error, and every answer must match the schema (error bodies
included: they are documented for every operation)."""

import pytest
import schemathesis
from django.core.cache import cache
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from orders.services import paper_deposit
from portfolios.models import Portfolio
from portfolios.tokens import token_create

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
EXAMPLES = 12  # per operation: bounded, so the suite stays minutes, not hours


@schemathesis.check
def no_server_error(ctx, response, case):
    """Any 5xx fails, but for Binance being out of reach: live and testnet keys are checked
    with Binance itself, which this machine cannot reach, and the platform says so (503,
    exchange_unavailable) as it should."""
    if response.status_code == 503 and _code(response) == "exchange_unavailable":
        return None
    return not_a_server_error(ctx, response, case)


def _code(response) -> str:
    try:
        return response.json().get("code", "")
    except ValueError:
        return ""


CHECKS = [no_server_error, response_schema_conformance]


@pytest.fixture
def trader_world(trader, local_venue):
    """A trader with something to read: a funded paper portfolio."""
    from marketdata.services import symbols_sync

    symbols_sync(market="spot", venue=local_venue)
    portfolio = Portfolio.objects.create(owner=trader, name="fuzzed", total_budget=1000)
    paper_deposit(portfolio=portfolio, asset="USDT", amount=10_000)
    return {"Authorization": f"Bearer {token_create(user=trader, name='fuzz').key}"}


def test_every_operation_answers_within_its_schema(asgi_live_server, trader_world):
    schema = schemathesis.openapi.from_url(asgi_live_server.url + "/api/schema/",
                                           headers=trader_world)
    failures = []
    for result in schema.get_all_operations():
        operation = result.ok()
        cache.clear()  # the throttle's counts: each operation starts afresh
        try:
            _fuzz(operation, asgi_live_server.url, trader_world)
        except (Exception, BaseExceptionGroup) as failure:  # collect them all, then fail
            failures.append(f"### {operation.label}: {failure}"[:3000])
    assert not failures, "\n\n".join(failures)


def _fuzz(operation, url: str, headers: dict) -> None:
    @given(case=operation.as_strategy())
    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    def check(case):
        case.call_and_validate(base_url=url, headers=headers, checks=CHECKS)

    check()
