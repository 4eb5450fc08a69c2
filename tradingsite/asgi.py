import gc
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tradingsite.settings")
# Django must be set up before anything imports models (consumers, auth middleware).
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from tradingsite.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
        ),
    }
)

# Everything built so far (Django, the apps, their modules) lives as long as the process: move
# it out of the collector's sight, and collect the young generation less eagerly. Each daphne
# otherwise ran a full collection about once a second with 1,000 sockets open, 110-180 ms each
# and freeing nothing, which stalled every price update it was delivering
# (bench/ws_load_bench.py).
gc.freeze()
gc.set_threshold(50_000, 20, 20)
