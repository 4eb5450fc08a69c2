from django.db import migrations

DEFAULTS = [("spot", "BTCUSDT", "1m,1h"), ("spot", "ETHUSDT", "1m,1h")]


def watch_defaults(apps, schema_editor):
    watched = apps.get_model("marketdata", "WatchedSymbol")
    for market, symbol, intervals in DEFAULTS:
        watched.objects.get_or_create(market=market, symbol=symbol,
                                      defaults={"intervals": intervals})


class Migration(migrations.Migration):
    dependencies = [("marketdata", "0003_watched_symbols")]

    operations = [migrations.RunPython(watch_defaults, migrations.RunPython.noop)]
