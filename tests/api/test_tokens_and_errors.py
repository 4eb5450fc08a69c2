"""Personal API tokens (made on the page, shown once, hashed, revoked), the one error body of
every API error, the schema and its Swagger UI, and the per-user throttle."""

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient
from rest_framework.throttling import UserRateThrottle

from portfolios.models import ApiToken
from portfolios.tokens import TokenRefused, token_create, token_revoke

pytestmark = pytest.mark.django_db


def bearer(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def test_a_token_is_shown_once_on_the_page_and_only_its_hash_is_kept(trader):
    client = Client()
    client.force_login(trader)

    made = client.post(reverse("api-tokens"), {"name": "my script"})
    listed = client.get(reverse("api-tokens"))

    token = ApiToken.objects.get()
    key = made.context["new"].key
    assert key.startswith("tp_")
    assert len(key) > 40
    assert key in made.content.decode()
    assert made["Cache-Control"] == "no-store"
    assert key not in listed.content.decode()  # never again
    assert token.prefix in listed.content.decode()
    assert key not in (token.key_hash, token.prefix)
    assert bearer(key).get("/api/portfolios/").status_code == 200


def test_a_revoked_wrong_or_disabled_users_token_is_refused_alike(trader):
    revoked, kept = token_create(user=trader, name="a"), token_create(user=trader, name="b")
    token_revoke(token=revoked.token)

    answers = [bearer(revoked.key).get("/api/portfolios/"),
               bearer("tp_" + "x" * 43).get("/api/portfolios/")]
    trader.is_active = False
    trader.save()
    answers.append(bearer(kept.key).get("/api/portfolios/"))

    assert [a.status_code for a in answers] == [401, 401, 401]
    assert {a.json()["code"] for a in answers} == {"authentication_failed"}
    assert {a.json()["message"] for a in answers} == {"The token is not valid."}


def test_a_trader_revokes_only_their_own_tokens_on_the_page(trader, other_trader):
    theirs = token_create(user=other_trader, name="theirs")
    mine = token_create(user=trader, name="mine")
    client = Client()
    client.force_login(trader)

    refused = client.post(reverse("api-token-revoke", args=[theirs.token.pk]))
    client.post(reverse("api-token-revoke", args=[mine.token.pk]))

    assert refused.status_code == 404
    assert ApiToken.objects.get(pk=theirs.token.pk).is_active
    assert not ApiToken.objects.get(pk=mine.token.pk).is_active
    assert bearer(mine.key).get("/api/bots/").status_code == 401


def test_a_nameless_token_is_refused_in_words(trader):
    with pytest.raises(TokenRefused, match="name the token"):
        token_create(user=trader, name="  ")


def test_errors_share_one_body_with_a_code_and_a_message(trader):
    client = APIClient()
    anonymous = client.get("/api/orders/")
    client.force_authenticate(trader)
    missing = client.get("/api/orders/999/")
    invalid = client.post("/api/bots/", {"name": "x"}, format="json")
    wrong_method = client.delete("/api/strategies/")

    assert (anonymous.status_code, anonymous.json()["code"]) == (401, "not_authenticated")
    assert (missing.status_code, missing.json()["code"]) == (404, "not_found")
    assert invalid.status_code == 400
    body = invalid.json()
    assert body["code"] == "invalid"
    assert body["portfolio"]  # each field's messages under its name
    assert "portfolio" in body["message"]
    assert (wrong_method.status_code, wrong_method.json()["code"]) == (405,
                                                                       "method_not_allowed")


def test_the_throttle_answers_429_in_the_same_body(trader, monkeypatch):
    monkeypatch.setattr(UserRateThrottle, "THROTTLE_RATES", {"user": "3/min", "anon": "3/min"})
    cache.clear()
    client = bearer(token_create(user=trader, name="busy").key)

    answers = [client.get("/api/portfolios/") for _ in range(4)]

    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[-1].json()["code"] == "throttled"
    assert int(answers[-1]["Retry-After"]) > 0
    cache.clear()


def test_the_schema_and_swagger_ui_are_served_without_a_cdn():
    schema = Client().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    docs = Client().get("/api/docs/")

    assert schema.status_code == 200
    spec = schema.json()
    assert spec["components"]["securitySchemes"]["tokenAuth"]["scheme"] == "bearer"
    assert "429" in spec["paths"]["/api/orders/"]["get"]["responses"]
    assert docs.status_code == 200
    page = docs.content.decode()
    assert "swagger-ui" in page
    assert "cdn" not in page.lower()
