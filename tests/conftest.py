import os

import pytest
from django.conf import settings
from django.test import override_settings
from rest_framework.test import APIClient

from marketdata.exchange.clients import LOCAL, Venue
from marketdata.exchange.gateway import reset_venue_state
from tests.support.browser import page  # noqa: F401  (fixture)
from tests.support.servers import (  # noqa: F401  (fixtures)
    asgi_live_server,
    served_worker,
)

pytest_plugins = ["tests.localbinance.fixtures"]

ON_CI = os.environ.get("CI", "").lower() == "true"


def pytest_configure(config):
    if not settings.configured:  # run with -p no:django: only the Django-free tests
        return
    # Under CI the suite must exercise the served profile for real; a silent fallback to SQLite
    # or the in-memory layer would let everything pass while testing the wrong thing.
    if not ON_CI:
        return
    problems = []
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        problems.append("DATABASE_URL does not point at PostgreSQL")
    if settings.PLATFORM_PROFILE != "served":
        problems.append("REDIS_URL is not set")
    if problems:
        raise pytest.UsageError("CI=true but " + " and ".join(problems) + " (see .ci/run)")


def pytest_collection_modifyitems(config, items):
    if not settings.configured or settings.PLATFORM_PROFILE == "served":
        return
    skip = pytest.mark.skip(reason="served profile only: set DATABASE_URL and REDIS_URL (CI does)")
    for item in items:
        if "served" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def two_factor_rules_off(request):
    """Tests sign staff and traders in without a second factor; the tests of those rules
    (marked two_factor) keep them on, as production has them."""
    if not settings.configured or request.node.get_closest_marker("two_factor"):
        yield
        return
    with override_settings(MFA_REQUIRED_FOR_STAFF=False, MFA_REQUIRED_FOR_EXCHANGE_KEYS=False):
        yield


@pytest.fixture(autouse=True)
def no_stream_status_left_over():
    """A test that ran a stream supervisor leaves its status in the cache for 15 s, and the
    next test's order checks would read that test's prices as live."""
    yield
    if settings.configured:
        from django.core.cache import cache

        from marketdata.live import status_key
        cache.delete_many([status_key("spot"), status_key("futures")])


@pytest.fixture
def trader(django_user_model):
    return django_user_model.objects.create_user(
        username="trader", email="trader@example.com", password="correct horse battery"
    )


@pytest.fixture
def other_trader(django_user_model):
    return django_user_model.objects.create_user(
        username="outsider", email="outsider@example.com", password="correct horse battery"
    )


@pytest.fixture
def owner(trader):
    """A client (pages and API) logged in as `trader`."""
    client = APIClient()
    client.force_login(trader)
    return client


@pytest.fixture
def outsider(other_trader):
    """A client logged in as `other_trader`: must never see or touch the trader's objects."""
    client = APIClient()
    client.force_login(other_trader)
    return client


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_superuser(
        username="boss", email="boss@example.com", password="correct horse battery"
    )


@pytest.fixture
def local_venue(local_binance):
    """The local Binance as a platform venue, with no limiter or circuit state left over."""
    venue = Venue(mode=LOCAL, base_url=local_binance.rest_url)
    reset_venue_state(venue)
    yield venue
    reset_venue_state(venue)


@pytest.fixture
def tasks_run_inline():
    """Celery tasks run where they are queued, so what follows a commit can be followed."""
    from tradingsite.celery import app as celery_app

    names = ("task_always_eager", "task_eager_propagates")
    before = {name: celery_app.conf[name] for name in names}
    celery_app.conf.update(dict.fromkeys(names, True))
    yield
    celery_app.conf.update(before)
