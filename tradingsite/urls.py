from django.contrib import admin
from django.urls import include, path

from portfolios.views import dashboard
from tradingsite import views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("health/", views.health_page, name="health"),
    path("accounts/", include("allauth.urls")),
    path("api/", include("tradingsite.api_urls")),
    path("market/", include("marketdata.urls")),
    path("orders/", include("orders.urls")),
    path("dashboard/", dashboard, name="dashboard"),
    path("portfolios/", include("portfolios.urls")),
    path("bots/", include("bots.urls")),
    path("risk/", include("risk.urls")),
    path("backtests/", include("backtests.urls")),
    path("admin/", admin.site.urls),
]
