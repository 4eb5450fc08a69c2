"""Two-factor rules (tradingsite/mfa.py), with production's settings on: staff reach the admin
only with two-factor on and passed; exchange keys only in a session that gave its code within
the last minutes, never with a token."""

import time

import pytest
from allauth.account.authentication import AUTHENTICATION_METHODS_SESSION_KEY
from allauth.mfa.totp.internal.auth import TOTP, format_hotp_value, hotp_value
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from portfolios.tokens import token_create

pytestmark = [pytest.mark.django_db, pytest.mark.two_factor]

PASSWORD = "correct horse battery"
SECRET = "JBSWY3DPEHPK3PXP"
KEYS = "/api/exchange-accounts/"


def code_for(user) -> str:
    code = format_hotp_value(hotp_value(SECRET, int(time.time()) // 30))
    # allauth refuses a code used once already in its period; these tests give it several
    # times within seconds, so they forget its use instead of waiting 30 s.
    cache.delete(f"allauth.mfa.totp.used?user={user.pk}&code={code}")
    return code


def log_in_with_code(client, user):
    assert client.post("/accounts/login/", {"login": user.username, "password": PASSWORD}
                       ).url == reverse("mfa_authenticate")
    client.post(reverse("mfa_authenticate"), {"code": code_for(user)})
    return client


def test_staff_without_two_factor_are_sent_to_turn_it_on(staff):
    client = Client()
    client.force_login(staff)

    response = client.get("/admin/bots/bot/")

    assert response.url == reverse("mfa_index")
    page = client.get(response.url).content.decode()
    assert "only with two-factor authentication" in page


def test_staff_with_two_factor_reach_the_admin_after_giving_the_code(staff):
    TOTP.activate(staff, SECRET)
    client = log_in_with_code(Client(), staff)
    assert client.get("/admin/").status_code == 200


def test_a_staff_session_from_before_two_factor_must_give_the_code(staff):
    client = Client()
    client.force_login(staff)  # a session that never gave a code
    TOTP.activate(staff, SECRET)

    response = client.get("/admin/orders/order/")
    assert response.url.startswith(reverse("mfa_reauthenticate"))

    client.post(response.url, {"code": code_for(staff)})
    assert client.get("/admin/orders/order/").status_code == 200


def test_staff_without_two_factor_make_no_api_token_and_get_no_api_answer(staff):
    client = Client()
    client.force_login(staff)

    assert client.post("/api-tokens/", {"name": "script"}).url == reverse("mfa_index")
    refused = client.get("/api/audit/")
    assert refused.status_code == 403
    assert refused.json()["code"] == "mfa_required"
    assert client.get("/api/docs/").status_code == 200  # the documentation stays open
    assert client.get("/api/schema/").status_code == 200

    TOTP.activate(staff, SECRET)
    client = log_in_with_code(Client(), staff)
    assert client.get("/api/audit/").status_code == 200
    assert client.post("/api-tokens/", {"name": "script"}).status_code == 200


def test_traders_are_not_affected_outside_the_admin(trader):
    client = Client()
    client.force_login(trader)
    assert client.get("/").status_code == 200


def test_exchange_keys_need_two_factor_on(trader):
    client = APIClient()
    client.force_login(trader)

    response = client.get(KEYS)

    assert response.status_code == 403
    assert response.json()["code"] == "mfa_required"


def test_exchange_keys_are_never_reached_with_a_token(trader):
    TOTP.activate(trader, SECRET)
    key = token_create(user=trader, name="script").key
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")

    for response in (client.get(KEYS), client.post(KEYS, {"name": "x"}, format="json")):
        assert response.status_code == 403
        assert response.json()["code"] == "session_required"


def test_exchange_keys_need_the_code_within_the_last_minutes(trader):
    TOTP.activate(trader, SECRET)
    client = log_in_with_code(APIClient(), trader)
    assert client.get(KEYS).status_code == 200

    session = client.session
    records = session[AUTHENTICATION_METHODS_SESSION_KEY]
    for record in records:
        record["at"] -= 3600  # the code was given an hour ago
    session[AUTHENTICATION_METHODS_SESSION_KEY] = records
    session.save()
    refused = client.get(KEYS)
    assert refused.status_code == 403
    assert refused.json()["code"] == "reauthentication_required"
    assert reverse("mfa_reauthenticate") in refused.json()["message"]

    client.post(reverse("mfa_reauthenticate"), {"code": code_for(trader)})
    assert client.get(KEYS).status_code == 200
