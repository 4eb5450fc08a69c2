"""One settings module; the environment alone chooses the profile."""

import json
import secrets
import subprocess
import sys

import pytest
from django.conf import settings
from django.core.management import call_command

from tests.conftest import ON_CI
from tests.support.servers import REPO, embedded_env

PROBE = (
    "import django, json; django.setup(); from django.conf import settings as s; "
    "print(json.dumps({'profile': s.PLATFORM_PROFILE, 'engine': s.DATABASES['default']['ENGINE'],"
    " 'layer': s.CHANNEL_LAYERS['default']['BACKEND'], 'broker': s.CELERY_BROKER_URL}))"
)


def settings_under(env: dict[str, str]) -> dict:
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=REPO, text=True, check=True,
                         capture_output=True, env={**env, "DJANGO_SETTINGS_MODULE":
                                                   "tradingsite.settings"})
    return json.loads(out.stdout)


def test_no_env_vars_give_the_embedded_profile(tmp_path):
    probed = settings_under(embedded_env(tmp_path))

    assert probed == {
        "profile": "embedded",
        "engine": "django.db.backends.sqlite3",
        "layer": "tradingsite.channel_layers.ThreadSafeInMemoryChannelLayer",
        "broker": "memory://localhost/",
    }
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600


def test_database_and_redis_urls_give_the_served_profile(tmp_path):
    probed = settings_under(embedded_env(
        tmp_path, DATABASE_URL="postgres://u@db:5432/trading", REDIS_URL="redis://cache:6379/0"))

    assert probed == {
        "profile": "served",
        "engine": "django.db.backends.postgresql",
        "layer": "channels_redis.core.RedisChannelLayer",
        "broker": "redis://cache:6379/0",
    }


@pytest.mark.skipif(not ON_CI, reason="only CI must run on PostgreSQL and Redis")
def test_ci_runs_on_real_postgresql_and_redis():
    from django.db import connection

    assert connection.vendor == "postgresql"
    assert settings.PLATFORM_PROFILE == "served"


def production_env(tmp_path, **extra) -> dict[str, str]:
    return embedded_env(tmp_path, DEBUG="false", SECRET_KEY=secrets.token_urlsafe(64),
                        ALLOWED_HOSTS="trading.example.com", HTTPS="true", **extra)


def deploy_check(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=REPO, env=env, text=True, capture_output=True,
    )


def test_check_deploy_is_clean_with_production_settings(tmp_path):
    result = deploy_check(production_env(tmp_path))

    assert result.returncode == 0, result.stdout + result.stderr


def test_check_deploy_refuses_a_wildcard_allowed_host(tmp_path):
    env = production_env(tmp_path)
    env["ALLOWED_HOSTS"] = "*"

    result = deploy_check(env)

    assert result.returncode != 0
    assert "tradingsite.E001" in result.stderr


@pytest.mark.django_db
def test_ensure_admin_creates_one_admin_once(django_user_model, monkeypatch, capsys):
    monkeypatch.setenv("ADMIN_PASSWORD", "a strong admin phrase")

    call_command("ensure_admin")
    call_command("ensure_admin")

    admin = django_user_model.objects.get(is_superuser=True)
    assert admin.username == "admin"
    assert admin.check_password("a strong admin phrase")
    output = capsys.readouterr().out
    assert output.count("Created the first admin account") == 1
    assert "a strong admin phrase" not in output
