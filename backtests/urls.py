from django.urls import path

from backtests import views

app_name = "backtests"
urlpatterns = [
    path("", views.backtest_list, name="list"),
    path("new/", views.backtest_create_view, name="create"),
    path("parameters/", views.backtest_parameters, name="parameters"),
    path("compare/", views.backtest_compare, name="compare"),
    path("drift/<int:bot_id>/", views.backtest_drift, name="drift"),
    path("<int:pk>/", views.backtest_detail, name="detail"),
    path("<int:pk>/row/", views.backtest_row, name="row"),
    path("<int:pk>/partials/run/", views.backtest_partial, name="partial"),
    path("<int:pk>/chart.json", views.backtest_chart_data, name="chart-data"),
    path("<int:pk>/cancel/", views.backtest_cancel, name="cancel"),
    path("<int:pk>/repeat/", views.backtest_repeat, name="repeat"),
]
