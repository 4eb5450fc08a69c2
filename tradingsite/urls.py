from django.contrib import admin
from django.urls import include, path

from portfolios import token_views
from portfolios.views import dashboard
from tradingsite import views
from tradingsite.audit_api import audit_page
from tradingsite.metrics import metrics_view

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("metrics", metrics_view, name="metrics"),
    path("health/", views.health_page, name="health"),
    path("accounts/", include("allauth.urls")),
    path("api/", include("tradingsite.api_urls")),
    path("api-tokens/", token_views.tokens_page, name="api-tokens"),
    path("api-tokens/<int:pk>/revoke/", token_views.token_revoke_view, name="api-token-revoke"),
    path("market/", include("marketdata.urls")),
    path("ai/", include("bots.ai_urls")),
    path("orders/", include("orders.urls")),
    path("dashboard/", dashboard, name="dashboard"),
    path("portfolios/", include("portfolios.urls")),
    path("bots/", include("bots.urls")),
    path("risk/", include("risk.urls")),
    path("audit/", audit_page, name="audit"),
    path("backtests/", include("backtests.urls")),
    path("admin/", admin.site.urls),
]
