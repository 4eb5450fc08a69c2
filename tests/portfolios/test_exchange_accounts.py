"""Exchange keys: checked with Binance on save, encrypted at rest, shown as last 4 only."""

import io

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection

from portfolios.models import ExchangeAccount
from portfolios.services import ExchangeAccountRefused, exchange_account_create
from tests.support.secrets import ACCOUNT_KEY, ACCOUNT_SECRET
from tradingsite.crypto import SecretUnreadable

pytestmark = pytest.mark.django_db

KEY, SECRET = ACCOUNT_KEY, ACCOUNT_SECRET


@pytest.fixture
def registered_key(local_binance):
    local_binance.add_api_key(KEY, SECRET)
    return KEY, SECRET


def create_account(owner, local_binance, **extra):
    return exchange_account_create(owner=owner, name="main", mode="local", market="spot",
                                   api_key=KEY, api_secret=SECRET,
                                   base_url=local_binance.rest_url, **extra)


def test_a_key_is_checked_stored_encrypted_and_readable_back(trader, local_binance,
                                                             registered_key):
    account = create_account(trader, local_binance)

    account.refresh_from_db()
    assert account.credentials() == (KEY, SECRET)
    assert account.masked_secret == "…" + SECRET[-4:]
    assert account.can_trade is True
    assert account.ip_restricted is False
    assert "not restricted to trusted IP addresses" in account.warning
    assert account.restrictions_checked_at is not None


def test_a_key_that_can_withdraw_is_refused_and_nothing_is_stored(trader, local_binance):
    local_binance.add_api_key(KEY, SECRET, enable_withdrawals=True)

    with pytest.raises(ExchangeAccountRefused, match="withdraw"):
        create_account(trader, local_binance)
    assert not ExchangeAccount.objects.exists()


def test_a_key_binance_does_not_know_is_refused(trader, local_binance):
    with pytest.raises(ExchangeAccountRefused, match="refused this key"):
        create_account(trader, local_binance)


def test_no_plaintext_secret_in_the_database(trader, local_binance, registered_key):
    create_account(trader, local_binance)

    dump = io.StringIO()
    call_command("dumpdata", "portfolios", stdout=dump)
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM portfolios_exchangeaccount")
        raw_rows = repr(cursor.fetchall())
    for text in (dump.getvalue(), raw_rows):
        assert SECRET not in text
        assert KEY not in text


def test_the_admin_shows_only_the_last_four_characters(admin_client, trader, local_binance,
                                                       registered_key):
    account = create_account(trader, local_binance)

    pages = [admin_client.get("/admin/portfolios/exchangeaccount/").content.decode(),
             admin_client.get(f"/admin/portfolios/exchangeaccount/{account.pk}/change/")
             .content.decode()]

    for page in pages:
        assert SECRET not in page
        assert KEY not in page
        assert SECRET[:12] not in page
    assert "…" + KEY[-4:] in pages[0]


def test_the_admin_adds_a_key_and_refuses_a_withdrawing_one_in_words(admin_client, trader,
                                                                    local_binance):
    local_binance.add_api_key(KEY, SECRET, enable_withdrawals=True)
    form = {"owner": trader.pk, "name": "main", "mode": "local", "market": "spot",
            "base_url": local_binance.rest_url, "api_key": KEY, "api_secret": SECRET}

    refused = admin_client.post("/admin/portfolios/exchangeaccount/add/", form)
    assert "can withdraw funds" in refused.content.decode()
    assert SECRET not in refused.content.decode()
    assert not ExchangeAccount.objects.exists()

    local_binance.add_api_key(KEY + "2", SECRET + "2")
    accepted = admin_client.post("/admin/portfolios/exchangeaccount/add/",
                                 {**form, "api_key": KEY + "2", "api_secret": SECRET + "2"})
    assert accepted.status_code == 302
    assert ExchangeAccount.objects.get().credentials() == (KEY + "2", SECRET + "2")


def test_rotation_reencrypts_every_secret_so_the_old_key_can_go(trader, local_binance,
                                                                registered_key, settings):
    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [old_key]
    account = create_account(trader, local_binance)

    settings.FIELD_ENCRYPTION_KEYS = [new_key, old_key]
    call_command("rotate_field_key", stdout=io.StringIO())
    settings.FIELD_ENCRYPTION_KEYS = [new_key]

    account.refresh_from_db()
    assert account.credentials() == (KEY, SECRET)
    settings.FIELD_ENCRYPTION_KEYS = [old_key]
    with pytest.raises(SecretUnreadable):
        account.credentials()


def test_no_secret_reaches_the_logs(trader, local_binance, registered_key, caplog):
    caplog.set_level("DEBUG")

    create_account(trader, local_binance)

    assert SECRET not in caplog.text


def test_the_api_adds_lists_and_masks_a_traders_own_keys(client, trader, other_trader,
                                                         local_binance, registered_key):
    client.force_login(trader)
    created = client.post("/api/exchange-accounts/", {
        "name": "main", "mode": "local", "market": "spot", "base_url": local_binance.rest_url,
        "api_key": KEY, "api_secret": SECRET}, content_type="application/json")
    listed = client.get("/api/exchange-accounts/")

    assert created.status_code == 201, created.content
    for response in (created, listed):
        assert SECRET not in response.content.decode()
        assert KEY not in response.content.decode()
    assert listed.json()["results"][0]["api_secret_last4"] == SECRET[-4:]

    client.force_login(other_trader)
    assert client.get("/api/exchange-accounts/").json()["results"] == []
    account_id = created.json()["id"]
    assert client.get(f"/api/exchange-accounts/{account_id}/").status_code == 404
    assert client.delete(f"/api/exchange-accounts/{account_id}/").status_code == 404


def test_the_api_refuses_a_withdrawing_key_in_words(client, trader, local_binance):
    local_binance.add_api_key(KEY, SECRET, enable_withdrawals=True)
    client.force_login(trader)

    response = client.post("/api/exchange-accounts/", {
        "name": "main", "mode": "local", "market": "spot", "base_url": local_binance.rest_url,
        "api_key": KEY, "api_secret": SECRET}, content_type="application/json")

    assert response.status_code == 400
    assert "withdraw" in response.json()["api_key"][0]
