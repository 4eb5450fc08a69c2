import re
import time

import pytest
from allauth.account.adapter import get_adapter
from allauth.core import ratelimit
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value
from django.core import mail
from django.test import RequestFactory
from django.urls import reverse

pytestmark = pytest.mark.django_db


LOCKOUT_NAMES, LOCKOUT_IPS = ("trader", "nobody-here"), ("127.0.0.1", "10.0.0.1", "10.0.0.2",
                                                          "10.0.0.3")


@pytest.fixture(autouse=True)
def fresh_login_counts():
    """Failed-login counts live in the cache (Redis under CI, shared with the broker, so no
    flush): the names and addresses these tests fail with start and end with none."""
    def clear():
        adapter = get_adapter()
        for ip in LOCKOUT_IPS:
            request = RequestFactory().post("/accounts/login/", REMOTE_ADDR=ip)
            for name in LOCKOUT_NAMES:
                ratelimit.clear(request, action="login_failed",
                                key=adapter._get_login_attempts_cache_key(request, username=name))
    clear()
    yield
    clear()


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



def test_repeated_failures_lock_a_login_name_out_the_same_way_whether_it_exists_or_not(
        client, trader, settings):
    def attempts(login: str, ip: str) -> list[tuple[int, str]]:
        answers = []
        for password in ["nope"] * settings.LOGIN_ATTEMPTS_LIMIT + ["still nope"]:
            response = client.post("/accounts/login/", {"login": login, "password": password},
                                   REMOTE_ADDR=ip)
            answers.append((response.status_code, login_errors(response, login)))
        return answers

    real, unknown = attempts("trader", "10.0.0.1"), attempts("nobody-here", "10.0.0.2")
    assert real == unknown  # nothing tells an existing account from a missing one
    assert "too many failed login attempts" in real[-1][1].lower()
    assert "not correct" in real[0][1]
    # The right password does not get the locked name in either.
    locked = client.post("/accounts/login/", {"login": "trader",
                                              "password": "correct horse battery"},
                         REMOTE_ADDR="10.0.0.3")
    assert locked.status_code == 200
    assert "too many failed login attempts" in login_errors(locked, "trader").lower()


def login_errors(response, login: str) -> str:
    """The form's error text, with the login name itself taken out for comparison."""
    errors = response.context["form"].non_field_errors() if response.context else ""
    return " ".join(errors).replace(login, "<login>")

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
