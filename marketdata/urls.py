from django.urls import path

from marketdata import views

app_name = "marketdata"
urlpatterns = [
    path("", views.overview, name="overview"),
    path("quality/", views.data_quality, name="quality"),
    path("<str:market>/<str:symbol>/", views.symbol_page, name="symbol"),
    path("<str:market>/<str:symbol>/chart-data", views.symbol_chart_data, name="chart-data"),
]
