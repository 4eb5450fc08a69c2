from django.contrib import admin
from django.urls import include, path

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
    path("admin/", admin.site.urls),
]
