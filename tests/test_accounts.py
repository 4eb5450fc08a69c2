import re
import time

import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value
from django.core import mail
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_the_dashboard_sends_anonymous_visitors_to_login(client):
    response = client.get("/")

    assert response.status_code == 302
    assert response.url.startswith("/accounts/login/")


def test_a_trader_logs_in_with_username_or_email_and_sees_the_dashboard(client, trader):
    for login in ("trader", "trader@example.com"):
        response = client.post("/accounts/login/", {"login": login,
                                                     "password": "correct horse battery"})
        assert response.status_code == 302, login
        page = client.get("/")
        assert page.status_code == 200
        assert "Dashboard" in page.content.decode()
        client.post("/accounts/logout/")


def test_a_wrong_password_is_refused_in_words(client, trader):
    response = client.post("/accounts/login/", {"login": "trader", "password": "nope"})

    assert response.status_code == 200
    assert "not correct" in response.content.decode()


def test_logout_ends_the_session(client, trader):
    client.force_login(trader)

    client.post("/accounts/logout/")

    assert client.get("/").status_code == 302


def test_signup_creates_a_trader_who_is_not_staff(client, django_user_model):
    response = client.post("/accounts/signup/", {
        "username": "newbie", "email": "newbie@example.com",
        "password1": "a long passphrase 42", "password2": "a long passphrase 42",
    })

    assert response.status_code == 302
    user = django_user_model.objects.get(username="newbie")
    assert not user.is_staff
    assert not user.is_superuser


def test_signup_can_be_switched_off(client, settings, django_user_model):
    settings.ACCOUNT_SIGNUP_OPEN = False

    page = client.get("/accounts/signup/")
    client.post("/accounts/signup/", {
        "username": "newbie", "email": "newbie@example.com",
        "password1": "a long passphrase 42", "password2": "a long passphrase 42",
    })

    assert "closed" in page.content.decode().lower()
    assert not django_user_model.objects.filter(username="newbie").exists()
    assert "Sign up" not in client.get("/accounts/login/").content.decode()


def test_password_reset_mails_a_link_that_sets_a_new_password(client, trader):
    client.post("/accounts/password/reset/", {"email": "trader@example.com"})

    assert len(mail.outbox) == 1
    link = re.search(r"https?://[^/]+(/accounts/password/reset/key/\S+)", mail.outbox[0].body)
    form_url = client.get(link.group(1)).url  # allauth moves the key into the session
    response = client.post(form_url, {"password1": "brand new phrase 7",
                                      "password2": "brand new phrase 7"})
    assert response.status_code == 302
    trader.refresh_from_db()
    assert trader.check_password("brand new phrase 7")


def totp_code(secret: str) -> str:
    return format_hotp_value(hotp_value(secret, int(time.time()) // 30))


def test_a_trader_turns_on_totp_and_then_needs_the_code_to_log_in(client, trader):
    password = {"login": "trader", "password": "correct horse battery"}
    client.post("/accounts/login/", password)
    # Turning on 2FA asks for the password again first.
    assert client.get(reverse("mfa_activate_totp")).url.startswith("/accounts/reauthenticate/")
    client.post("/accounts/reauthenticate/", {"password": "correct horse battery"})
    assert client.get(reverse("mfa_activate_totp")).status_code == 200
    secret = client.session["mfa.totp.secret"]

    client.post(reverse("mfa_activate_totp"), {"code": totp_code(secret)})
    assert Authenticator.objects.filter(user=trader, type=Authenticator.Type.TOTP).exists()
    client.post("/accounts/logout/")

    response = client.post("/accounts/login/", password)
    assert response.url == reverse("mfa_authenticate")
    assert client.get("/").status_code == 302  # the password alone does not log in
    client.post(reverse("mfa_authenticate"), {"code": totp_code(secret)})
    assert client.get("/").status_code == 200


def test_a_trader_cannot_enter_the_admin_but_staff_can(client, trader, staff):
    client.force_login(trader)
    assert client.get("/admin/").status_code == 302

    client.force_login(staff)
    assert client.get("/admin/").status_code == 200


def test_pages_carry_the_csrf_token_for_htmx_and_vendored_scripts(client, trader):
    client.force_login(trader)

    html = client.get("/").content.decode()

    assert 'hx-headers=\'{"X-CSRFToken": "' in html
    assert "/static/vendor/htmx-" in html
    assert "/static/vendor/lightweight-charts-" in html
    assert "cdn" not in html.lower()
